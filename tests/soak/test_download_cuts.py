"""Downloads cut at random: the connection dropped mid-body, and `pull` itself killed mid-download.

After every cut the cache holds no complete-looking file that is wrong (every entry `cache list` would show
verifies against its SHA-256), the next attempt resumes from the partial file (a Range request from where
it stopped) rather than starting over, and the final file is the published bytes.
"""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from openai_api_simulator.provision import ProvisionOptions
from openai_api_simulator.provision.models import cached_models, ensure_model
from tests.support.mirror import Mirror, random_bytes
from tests.support.soak import scale

SIZE = 6 * 1024 * 1024
GGUF = b"GGUF" + random_bytes(SIZE - 4, seed=11)
SHA = hashlib.sha256(GGUF).hexdigest()
SPEC = "hf://org/soak/model.gguf"


def assert_cache_sound() -> None:
    """No cached model is anything but the published bytes (a corrupt entry would be served as a model)."""
    for path, size, sha in cached_models():
        data = path.read_bytes()
        assert (size, hashlib.sha256(data).hexdigest()) == (len(data), sha), f"corrupt cache entry {path}"
        assert data == GGUF, f"{path} verifies against its own record but is not the published file"


def partial_size(folder: Path) -> int:
    return max((p.stat().st_size for p in folder.rglob("*.part")), default=0)


def resumed_from(mirror: Mirror) -> list[int]:
    """The offsets of every Range request the mirror saw for the file's bytes."""
    return [int(r.range.removeprefix("bytes=").split("-")[0]) for r in mirror.blob_requests() if r.range]


def test_connections_cut_at_random_offsets_resume_each_time(
    mirror_env: Mirror, tally: Callable[[str], None], cache_dir: Path
) -> None:
    rng = random.Random(20261201)
    mirror_env.add_hf("org/soak", "model.gguf", GGUF)
    rounds = scale(5, 20)
    resumes, fetched = 0, []
    for n in range(rounds):
        for leftover in cache_dir.rglob("*"):  # a fresh download each round, into the same cache
            if leftover.is_file():
                leftover.unlink()
        cut = rng.randrange(1, SIZE - 1)
        mirror_env.reset_stats()
        mirror_env.faults.cut_after, mirror_env.faults.cut_times = cut, 1
        model = ensure_model(SPEC, ProvisionOptions())
        assert model.sha256 == SHA and model.path.read_bytes() == GGUF, f"round {n}: cut at {cut}"
        offsets = resumed_from(mirror_env)
        assert offsets and 0 < offsets[-1] <= cut, f"round {n}: cut at {cut}, ranges asked {offsets}"
        resumes += 1
        fetched.append(mirror_env.bytes_served / SIZE)
        assert_cache_sound()
    tally(
        f"{rounds} cuts at random offsets of a {SIZE >> 20} MiB file: {resumes} resumed with a Range request, "
        f"0 corrupt cache entries; bytes served per file {min(fetched):.2f}-{max(fetched):.2f}x its size"
    )


def test_pull_killed_at_random_moments_resumes_and_never_corrupts(
    mirror_env: Mirror, tally: Callable[[str], None], tmp_path: Path
) -> None:
    rng = random.Random(7)
    mirror_env.add_hf("org/soak", "model.gguf", GGUF)
    mirror_env.faults.chunk_delay = 0.1  # 1 MiB every 100 ms: the whole body takes 0.6 s, a kill lands inside
    rounds = scale(3, 20)
    progress: list[int] = []
    kills = 0
    resumed_at: list[int] = []
    completed = 0
    for _ in range(rounds * 3):  # kills that land after the download finished do not count
        if kills >= rounds:
            break
        mirror_env.reset_stats()
        pull = subprocess.Popen(
            [sys.executable, "-m", "openai_api_simulator", "pull", SPEC, "--no-llama", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = partial_size(tmp_path)
        deadline = time.monotonic() + 30
        while partial_size(tmp_path) <= before and pull.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # this pull is downloading once the partial file grows
        time.sleep(rng.uniform(0.0, 0.3))
        pull.send_signal(signal.SIGKILL)
        pull.wait(30)
        assert_cache_sound()
        if progress:  # every pull after the first asks only for the bytes the partial file lacks
            offsets = resumed_from(mirror_env)
            assert offsets and offsets[0] == progress[-1], f"ranges {offsets} after partial sizes {progress}"
            resumed_at.append(offsets[0])
        size = partial_size(tmp_path)
        if not size:  # this pull finished before the kill landed: check it, then download afresh
            assert ensure_model(SPEC, ProvisionOptions(offline=True)).path.read_bytes() == GGUF
            for path, _, _ in cached_models():
                path.unlink()
            completed += 1
            progress.clear()
            continue
        progress.append(size)
        kills += 1
        mirror_env.faults.chunk_delay = rng.choice([0.05, 0.1])
    assert progress, "no kill landed mid-download"
    mirror_env.faults.chunk_delay = 0
    model = ensure_model(SPEC, ProvisionOptions())
    assert model.path.read_bytes() == GGUF
    assert_cache_sound()
    tally(
        f"{kills} SIGKILLs of `pull` mid-download ({completed} downloads completed between them); last partials "
        f"{', '.join(f'{p / 2**20:.1f}' for p in progress)} MiB; every later pull resumed where the last stopped "
        f"({len(resumed_at)} Range requests from those offsets); the file verified whole; 0 corrupt cache entries"
    )
