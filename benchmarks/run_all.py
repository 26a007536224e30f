"""Run every benchmark in turn (make bench)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for name in (
    "fake_throughput.py",
    "app_cpu.py",
    "schema_validation.py",
    "cache_memory.py",
    "hostile.py",
    "download.py",
    "proxy_overhead.py",
    "run_startup.py",
    "nanochat.py",
):
    path = HERE / name
    if path.exists():
        print(f"== {name}", flush=True)
        sys.argv = [str(path)]
        runpy.run_path(str(path), run_name="__main__")
