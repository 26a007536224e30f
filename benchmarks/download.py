"""Download throughput: the provisioning downloader vs a plain httpx streaming copy, same file, same run.

    python benchmarks/download.py [--size-mb 100] [--rounds 5]

A loopback mirror (tests/support/mirror.py) serves one file the way Hugging Face does (302 with X-Linked-Etag,
then the bytes by sendfile). Each round downloads it once with `download.download` (SHA256 in the same
pass, resume bookkeeping, fsync, atomic rename, plain progress lines) and once with a bare
``client.stream`` loop writing to a file (no hashing, no progress), alternating so that both see the
same machine state. The ratio of the medians is the cost of the downloader's guarantees; goal >= 0.9.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.mirror when run as a script

from openai_api_simulator.provision import download as dl
from openai_api_simulator.provision.progress import PlainProgress
from tests.support.mirror import Mirror, random_bytes


def plain_copy(url: str, dest: Path) -> None:
    with httpx.Client(timeout=60) as client, client.stream("GET", url, follow_redirects=True) as r:
        r.raise_for_status()
        with dest.open("wb") as f:
            for chunk in r.iter_raw():
                f.write(chunk)


def ours(url: str, dest: Path) -> None:
    dl.download(url, dest, progress=PlainProgress(io.StringIO()))


def timed(fn: object, url: str, dest: Path) -> float:
    assert callable(fn)
    start = time.perf_counter()
    fn(url, dest)
    elapsed = time.perf_counter() - start
    for leftover in dest.parent.iterdir():  # fresh destination every time: no cache hits
        leftover.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    size = args.size_mb * 1_000_000
    with tempfile.TemporaryDirectory() as tmp, Mirror() as mirror:
        source = Path(tmp, "source.bin")
        source.write_bytes(random_bytes(size, seed=1))
        mirror.add_hf("bench/repo", "file.bin", source)
        url = f"{mirror.hf_endpoint}/bench/repo/resolve/main/file.bin"
        out_plain, out_ours = Path(tmp, "plain"), Path(tmp, "ours")
        out_plain.mkdir()
        out_ours.mkdir()
        timed(plain_copy, url, out_plain / "f")  # warm-up: page cache, connection setup
        plain, mine = [], []
        for i in range(args.rounds):
            # Alternate who goes first, so neither always inherits the other's disk writeback.
            if i % 2:
                mine.append(timed(ours, url, out_ours / "f"))
                plain.append(timed(plain_copy, url, out_plain / "f"))
            else:
                plain.append(timed(plain_copy, url, out_plain / "f"))
                mine.append(timed(ours, url, out_ours / "f"))
    mb = size / 1e6
    plain_mbs, ours_mbs = mb / statistics.median(plain), mb / statistics.median(mine)
    per_round = sorted(p / m for p, m in zip(plain, mine, strict=True))
    print(f"command: python benchmarks/download.py --size-mb {args.size_mb} --rounds {args.rounds}")
    print(f"file: {mb:.0f} MB over loopback, {args.rounds} interleaved rounds, medians")
    print(f"plain httpx stream copy:   {plain_mbs:8.1f} MB/s")
    print(f"provision downloader:      {ours_mbs:8.1f} MB/s  (SHA256 + fsync + rename + progress)")
    print(f"ratio downloader / plain:  {ours_mbs / plain_mbs:8.2f}  (goal >= 0.9)")
    print(f"per-round ratios:          min {per_round[0]:.2f}  max {per_round[-1]:.2f} (disk sync jitter)")


if __name__ == "__main__":
    main()
