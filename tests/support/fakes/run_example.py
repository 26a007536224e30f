"""`openai-api-simulator run` with the test engine kind, in its own process, with JSON logs.

``python run_example.py PORT LOG_DIR [FLAGS...]`` serves `slow` (the fake upstream program, given FLAGS such as
``--slow-start 600``) beside the fake model on 127.0.0.1:PORT until SIGTERM: an instance whose engine is not
ready, for `status` to report.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout, for `tests.support`

from openai_api_simulator import orchestrator
from openai_api_simulator.cli.output import ConsoleEvents
from openai_api_simulator.config import Settings
from openai_api_simulator.engines import kinds
from openai_api_simulator.pipeline import ModelChoice, RunPlan
from openai_api_simulator.server import bind_socket
from tests.support.engines import ExampleEngine


def main(port: int, log_dir: Path, flags: list[str]) -> int:
    kinds.ENGINE_KINDS = {**kinds.ENGINE_KINDS, "example": "tests.support.engines:ExampleEngine"}  # type: ignore[misc]
    plan = RunPlan(
        Settings(port=port, log_level="info", log_format="json"),
        models=(ModelChoice("example://slow"),),
        engines={"example": ExampleEngine(*flags)},
        log_dir=log_dir,
    )
    sock = bind_socket("127.0.0.1", port)
    return orchestrator.run(plan, sock, ConsoleEvents(api_key=False))


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
