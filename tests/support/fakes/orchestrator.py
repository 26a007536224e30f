"""An orchestrator in its own process, as ``openai-api-simulator run`` would be, for tests that SIGKILL it.

``python orchestrator.py PID_DIR LOG_FILE GUARD -- COMMAND...`` supervises COMMAND (``{port}`` is replaced)
with ``orphan_guard=GUARD``, prints ``{"pid": ..., "port": ...}`` once it is READY, then waits forever.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import cast

from openai_api_simulator.engines import LaunchSpec, OrphanGuard, Supervisor


async def main(pid_dir: Path, log_file: Path, guard: OrphanGuard, command: list[str]) -> None:
    spec = LaunchSpec(name="fake-model", argv=command, log_file=log_file, ready_timeout=30)
    sup = Supervisor(spec, pid_dir=pid_dir, orphan_guard=guard, grace_period=1.0)
    await sup.start()
    print(json.dumps({"pid": sup.pid, "port": sup.port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    pid_dir, log_file, guard, dashes, *command = sys.argv[1:]
    assert dashes == "--", "usage: orchestrator.py PID_DIR LOG_FILE GUARD -- COMMAND..."
    asyncio.run(main(Path(pid_dir), Path(log_file), cast(OrphanGuard, guard), command))
