"""Helpers shared by the benchmarks: free ports, waiting for /health, running wrk."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx


def wait_http(url: str, timeout: float = 30.0, method: str = "GET", body: object = None) -> float:
    """Poll `url` until it answers 2xx; return the seconds it took."""
    start = time.perf_counter()
    while True:
        try:
            r = httpx.request(method, url, json=body, timeout=2)
            if r.status_code < 300:
                return time.perf_counter() - start
        except httpx.TransportError:
            pass
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{url} did not answer within {timeout}s")
        time.sleep(0.005)


def wrk_post(url: str, body: object, *, seconds: int = 8, connections: int = 32, vary: bool = False) -> float:
    """Requests/s that wrk (1 thread) reaches POSTing `body` as JSON to `url`.

    With `vary`, each request replaces the text `__N__` in the body by a counter, so every request is new to
    the server (its answer cache cannot help).
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk")
    script = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    script += f"wrk.body = [[{json.dumps(body)}]]\n"
    if vary:
        script += (
            "local counter = 0\n"
            "request = function()\n"
            "  counter = counter + 1\n"
            '  return wrk.format(nil, nil, nil, (string.gsub(wrk.body, "__N__", tostring(counter))))\n'
            "end\n"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "post.lua")
        path.write_text(script)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(path), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))
