"""Process identity: a pid names our process only together with its create time."""

from __future__ import annotations

import subprocess
import sys

import psutil

from openai_api_simulator.engines import proctree


def test_find_process_checks_the_create_time() -> None:
    me = psutil.Process()
    found = proctree.find_process(me.pid, me.create_time())
    assert found is not None and found.pid == me.pid
    assert proctree.find_process(me.pid, me.create_time() - 1000.0) is None  # a reused pid is someone else
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert proctree.find_process(dead.pid) is None
