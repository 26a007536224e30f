"""A stand-in for llama-server: ``python upstream.py --port PORT [flags]``.

It behaves like the real server where the supervisor cares: it binds its port first and answers
``/health`` with 503 "Loading model" until it has "loaded", then 200; a busy port makes it exit 1 with
llama-server's "couldn't bind HTTP server socket"; SIGTERM makes it exit 0. Flags add the misbehaviour a
test needs:

  --slow-start S          /health answers 503 for S seconds, then 200
  --crash-after S         exit 3 ("simulated crash") S seconds after starting
  --crash-once FILE       crash only while FILE does not exist (it is created on crashing)
  --ignore-sigterm        ignore SIGTERM: only SIGKILL stops it
  --grandchild FILE       start a helper process that ignores SIGTERM and write its pid to FILE
  --exit-at-once CODE     print a model-loading error and exit CODE without listening
  --launch-counter FILE   count launches in FILE, and with --exit-from-launch N exit at once (code 2) from
                          the Nth launch on (a restart that fails)

Every launch prints ``fake upstream pid N starting (launch K)`` first, so a test can find the pid in the log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A helper that only SIGKILL stops, as a stubborn process an engine might spawn.
_GRANDCHILD = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("--crash-after", type=float, default=None)
    parser.add_argument("--crash-once", type=Path, default=None)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--grandchild", type=Path, default=None)
    parser.add_argument("--exit-at-once", type=int, default=None)
    parser.add_argument("--launch-counter", type=Path, default=None)
    parser.add_argument("--exit-from-launch", type=int, default=None)
    parser.add_argument("--api-key", default=None)  # accepted like llama-server's; not checked
    return parser.parse_args(argv)


def _count_launch(counter: Path | None) -> int:
    if counter is None:
        return 1
    launch = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(launch))
    return launch


def main(argv: list[str]) -> None:
    args = _parse(argv)
    launch = _count_launch(args.launch_counter)
    print(f"fake upstream pid {os.getpid()} starting (launch {launch})", flush=True)
    exit_code = args.exit_at_once
    if args.exit_from_launch is not None and launch >= args.exit_from_launch:
        exit_code = 2
    if exit_code is not None:
        print("llama_model_load: error loading model: failed to open /nonexistent/model.gguf", file=sys.stderr)
        print("main: exiting due to model loading error", file=sys.stderr, flush=True)
        sys.exit(exit_code)

    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:

        def on_sigterm(signum: int, frame: object) -> None:
            print("received SIGTERM, shutting down", flush=True)
            os._exit(0)

        signal.signal(signal.SIGTERM, on_sigterm)

    if args.grandchild is not None:
        helper = subprocess.Popen([sys.executable, "-c", _GRANDCHILD])
        args.grandchild.write_text(str(helper.pid))

    started = time.monotonic()
    served_503 = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *log_args: Any) -> None:
            pass  # llama-server-style access logs would only bury the lines the tests look for

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/health":
                self._send(404, {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}})
            elif time.monotonic() - started < args.slow_start:
                if not served_503.is_set():
                    served_503.set()
                    print("health: 503 Loading model", flush=True)
                self._send(503, {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}})
            else:
                self._send(200, {"status": "ok"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}})
                return
            self._send(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"pong from {os.getpid()}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
                },
            )

    try:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as exc:
        print(f"couldn't bind HTTP server socket, hostname: {args.host}, port: {args.port}: {exc}", flush=True)
        sys.exit(1)

    if args.crash_after is not None:

        def crash() -> None:
            if args.crash_once is not None:
                if args.crash_once.exists():
                    return
                args.crash_once.touch()
            print("fatal: simulated crash", flush=True)
            os._exit(3)

        threading.Timer(args.crash_after, crash).start()

    print(f"listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main(sys.argv[1:])
