"""Hostile archives: nothing outside the target folder is created, written, chmod-ed or linked, ever.

Every test extracts into ``world/site/out`` next to sentinel files and folders, snapshots the whole test folder
(all of it but the target) before, and asserts after that nothing there changed - contents, modes, inodes,
link counts, times - and nothing new appeared, whether the archive was refused or not.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import stat
import struct
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import pytest

from openai_api_simulator.provision.archive import MAX_MEMBERS, MAX_TOTAL_BYTES, ArchiveLimits, extract
from openai_api_simulator.provision.archive_tree import Entry as TreeEntry
from openai_api_simulator.provision.archive_tree import Tree
from openai_api_simulator.provision.archive_write import Writer
from openai_api_simulator.provision.errors import ArchiveError, UnsafeArchive
from tests.provision.outside import Record, changes, snapshot
from tests.support.provision import tree

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks and modes are POSIX here")


@dataclass
class World:
    root: Path  # the test's whole folder: sentinels, archives and the target
    dest: Path  # the target folder, created empty before the snapshot
    secret: Path  # a file outside the target
    victim_dir: Path  # a folder outside the target
    archives: Path
    before: dict[str, Record]

    def untouched(self) -> None:
        assert changes(self.before, snapshot(self.root, exclude=(self.dest, self.archives))) == []
        # Nothing the archive made may point out of the target, even where extraction went through.
        for path in self.dest.rglob("*"):
            if path.is_symlink():
                assert os.path.realpath(path).startswith(str(self.dest.resolve()) + os.sep), path

    def refused(self, archive: Path, match: str, limits: ArchiveLimits = ArchiveLimits()) -> UnsafeArchive:
        with pytest.raises(UnsafeArchive, match=match) as info:
            extract(archive, self.dest, limits=limits)
        assert str(archive) in str(info.value)
        # An archive that is refused leaves the target as it found it: nothing half-extracted.
        assert tree(self.dest) == []
        self.untouched()
        return info.value


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "world"
    victim_dir = root / "victimdir"
    victim_dir.mkdir(parents=True)
    (victim_dir / "keep.txt").write_bytes(b"keep")
    victim_dir.chmod(0o755)
    secret = root / "secret.txt"
    secret.write_bytes(b"secret")
    secret.chmod(0o644)
    (root / "site").mkdir()
    (root / "site" / "neighbour.txt").write_bytes(b"neighbour")
    dest = root / "site" / "out"
    dest.mkdir()
    archives = tmp_path / "archives"
    archives.mkdir()
    (root / "site").chmod(0o755)
    return World(tmp_path, dest, secret, victim_dir, archives, snapshot(tmp_path, exclude=(dest, archives)))


# -- building archives -------------------------------------------------------------------------------


def sym(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info


def hard(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.LNKTYPE, target, 0o644
    return info


def folder(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info


def special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


Entry = tarfile.TarInfo | tuple[str, bytes]


def make_tar(path: Path, entries: Sequence[Entry]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith("gz") else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size, info.mode = len(entry[1]), 0o644
                tar.addfile(info, io.BytesIO(entry[1]))
    return path


ZipEntry = tuple[str, bytes, int]  # name, data, st_mode (type and permission bits)


def make_zip(path: Path, entries: Sequence[ZipEntry]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def zlink(name: str, target: str) -> ZipEntry:
    return (name, target.encode(), stat.S_IFLNK | 0o777)


def zfile(name: str, data: bytes = b"x") -> ZipEntry:
    return (name, data, stat.S_IFREG | 0o644)


# -- links --------------------------------------------------------------------------------------------

# Each of these passes a check made entry by entry against the disk as it is at that moment, because the
# link that makes the chain climb out arrives later (or the path only escapes once every link exists).
LINK_CHAINS: dict[str, list[Entry]] = {
    "x->y/.., then y->.": [sym("x", "y/.."), sym("y", ".")],
    "y->., then x->y/..": [sym("y", "."), sym("x", "y/..")],
    "chain, then a directory entry chmod-ing through it": [sym("x", "y/.."), sym("y", "."), folder("x", 0o700)],
    "chain, then a file through it": [sym("x", "y/.."), sym("y", "."), ("x/victimdir/keep.txt", b"overwritten")],
    "several hops, the last one first": [sym("a/up2", "up/a/up/.."), sym("a/up", "..")],
    "several hops, in order": [sym("a/up", ".."), sym("a/up2", "up/a/up/..")],
    "a chain three links long": [sym("l3", "l2/../.."), sym("l2", "l1/sub"), sym("l1", "."), folder("sub")],
    "a link to a link that points up": [sym("sub/a", "b"), sym("sub/b", "../.."), folder("sub")],
    "a link through a link into a sibling": [sym("top/x", "y/../../../victimdir"), sym("top/y", "z"), folder("top/z")],
}


@pytest.mark.parametrize("entries", list(LINK_CHAINS.values()), ids=list(LINK_CHAINS))
def test_link_chains_that_climb_out_once_complete_are_refused(world: World, entries: list[Entry]) -> None:
    archive = make_tar(world.archives / "chain.tar.gz", entries)
    world.refused(archive, "(points outside|inside the symlink|appears twice)")


def test_the_same_chain_in_a_zip_is_refused(world: World) -> None:
    archive = make_zip(world.archives / "chain.zip", [zlink("x", "y/.."), zlink("y", ".")])
    world.refused(archive, "points outside")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_absolute_links_are_refused(world: World, kind: str) -> None:
    if kind == "tar":
        archive = make_tar(world.archives / "abs.tar.gz", [sym("x", str(world.secret)), ("x", b"overwritten")])
    else:
        archive = make_zip(world.archives / "abs.zip", [zlink("x", str(world.victim_dir)), zfile("x/keep.txt")])
    world.refused(archive, "is absolute")


@pytest.mark.parametrize(
    "entries",
    [
        [hard("h", "../secret.txt")],
        [hard("h", "../../secret.txt")],
        [("f", b"x"), hard("h", "f/../../secret.txt")],
        [hard("h", "/etc/passwd")],
        [sym("l", "."), hard("h", "l/l/../../secret.txt")],
    ],
    ids=["up", "up-up", "via-a-file", "absolute", "via-a-link"],
)
def test_hard_links_to_outside_are_refused(world: World, entries: list[Entry]) -> None:
    archive = make_tar(world.archives / "hard.tar.gz", entries)
    world.refused(archive, "(hard link|absolute path|'..')")


def test_a_hard_link_must_name_a_regular_file_of_the_archive(world: World) -> None:
    cases: list[list[Entry]] = [
        [hard("h", "missing")],
        [folder("d"), hard("h", "d")],
        [sym("s", "f"), ("f", b"x"), hard("h", "s")],
    ]
    for entries in cases:
        archive = make_tar(world.archives / "hard.tar.gz", entries)
        world.refused(archive, "does not name a regular file")


def test_a_hard_link_is_a_copy_of_the_archive_file(world: World) -> None:
    archive = make_tar(world.archives / "hard.tar.gz", [("lib/a.so", b"library"), hard("lib/b.so", "lib/a.so")])
    extract(archive, world.dest)
    a, b = world.dest / "lib" / "a.so", world.dest / "lib" / "b.so"
    assert b.read_bytes() == b"library"
    assert a.stat().st_nlink == b.stat().st_nlink == 1  # a copy: nothing in the cache shares an inode
    world.untouched()


@pytest.mark.parametrize(
    "entries",
    [
        [sym("s", "sub"), folder("sub"), folder("s/inner", 0o700)],
        [sym("s", "sub"), folder("sub"), ("s/file.txt", b"x")],
        [("f", b"x"), ("f/inside.txt", b"x")],
    ],
    ids=["dir-under-link", "file-under-link", "file-under-file"],
)
def test_no_entry_is_written_through_a_link_or_under_a_file(world: World, entries: list[Entry]) -> None:
    archive = make_tar(world.archives / "through.tar.gz", entries)
    world.refused(archive, "inside the (symlink|file)")


def test_a_file_entry_cannot_replace_a_link_or_the_other_way_round(world: World) -> None:
    cases: list[list[Entry]] = [
        [sym("lib.so", "real.so"), ("real.so", b"x"), ("lib.so", b"replaced")],
        [("a", b"x"), sym("a", "../secret.txt")],
        [sym("x", "y/.."), sym("y", "."), ("y", b"no longer a link")],
        [folder("d"), ("d", b"x")],
        [("d", b"x"), folder("d")],
    ]
    for entries in cases:
        world.refused(make_tar(world.archives / "dup.tar.gz", entries), "appears twice")


def test_zip_duplicates_are_refused(world: World) -> None:
    path = world.archives / "dup.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        make_zip(path, [zlink("lib.so", "real.so"), zfile("real.so"), zfile("lib.so", b"replaced")])
    world.refused(path, "appears twice")


def test_a_directory_named_twice_is_fine_and_takes_the_last_mode(world: World) -> None:
    archive = make_tar(world.archives / "dirs.tar.gz", [folder("d", 0o755), ("d/f", b"x"), folder("d", 0o750)])
    extract(archive, world.dest)
    assert stat.S_IMODE((world.dest / "d").stat().st_mode) == 0o750
    world.untouched()


def test_link_loops_are_refused(world: World) -> None:
    archive = make_tar(world.archives / "loop.tar.gz", [sym("a", "b"), sym("b", "a")])
    world.refused(archive, "loop")


# -- special files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE], ids=["chr", "blk", "fifo"])
def test_device_and_fifo_members_are_refused(world: World, kind: bytes) -> None:
    archive = make_tar(world.archives / "dev.tar.gz", [("ok.txt", b"x"), special("dev", kind)])
    world.refused(archive, "special file")


@pytest.mark.parametrize("mode", [stat.S_IFIFO | 0o644, stat.S_IFCHR | 0o644, stat.S_IFSOCK | 0o644])
def test_zip_members_with_a_special_file_type_are_refused(world: World, mode: int) -> None:
    archive = make_zip(world.archives / "dev.zip", [zfile("ok.txt"), ("dev", b"", mode)])
    world.refused(archive, "special file")


# -- sizes and counts ---------------------------------------------------------------------------------


def sparse_tar(path: Path, sizes: Sequence[int]) -> Path:
    """An uncompressed tar whose members claim `sizes`, written sparse: huge on paper, a few KB on disk."""
    with path.open("wb") as f:
        for i, size in enumerate(sizes):
            info = tarfile.TarInfo(f"big{i}.bin")
            info.size = size
            f.write(info.tobuf(format=tarfile.GNU_FORMAT))
            f.seek(f.tell() + -(-size // 512) * 512)
        f.write(b"\0" * 1024)
    return path


def test_the_default_size_cap_refuses_an_absurd_archive_before_writing(world: World) -> None:
    archive = sparse_tar(world.archives / "huge.tar", [1024, MAX_TOTAL_BYTES])
    assert archive.stat().st_blocks * 512 < 1 << 20  # really sparse: the test writes nothing like that
    world.refused(archive, rf"more than {MAX_TOTAL_BYTES // (1 << 30)} GiB")


def test_the_default_member_cap(world: World) -> None:
    entries: list[Entry] = [(f"f{i}", b"") for i in range(MAX_MEMBERS + 1)]
    world.refused(make_tar(world.archives / "many.tar.gz", entries), f"more than {MAX_MEMBERS} entries")


def test_caps_count_declared_bytes_and_hard_link_copies(world: World) -> None:
    mib = b"\0" * (1 << 20)
    limits = ArchiveLimits(max_bytes=4 << 20, max_members=100)
    fits = make_tar(world.archives / "fits.tar.gz", [("a", mib), ("b", mib), hard("c", "a")])
    extract(fits, world.dest, limits=limits)
    assert (world.dest / "c").read_bytes() == mib
    world.untouched()
    for name in ("a", "b", "c"):
        (world.dest / name).unlink()
    # Hard links are extracted as copies, so each one costs its file's size again: five of them break the cap.
    copies = make_tar(world.archives / "copies.tar.gz", [("a", mib), *(hard(f"h{i}", "a") for i in range(5))])
    world.refused(copies, "more than 4 MiB", limits)
    zipped = make_zip(world.archives / "big.zip", [zfile(f"z{i}", mib) for i in range(5)])
    world.refused(zipped, "more than 4 MiB", limits)
    world.refused(zipped, "more than 3 entries", ArchiveLimits(max_members=3))


def _patch_central_sizes(path: Path, size: int) -> None:
    """Make every central-directory record claim `size` uncompressed bytes (a zip bomb's header)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 24 : at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_a_zip_whose_headers_claim_absurd_sizes_is_refused_before_reading(world: World) -> None:
    archive = make_zip(world.archives / "bomb.zip", [zfile("a"), zfile("b")])
    _patch_central_sizes(archive, 0xFFFFFFF0)
    world.refused(archive, "more than")


# -- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../secret.txt",
        "../../secret.txt",
        "a/../../secret.txt",
        "/tmp/oas-evil-zip.txt",
        "C:\\evil.txt",
        "C:evil.txt",
        "..\\secret.txt",
        "a\\..\\..\\secret.txt",
        "\\\\server\\share\\evil.txt",
    ],
)
def test_zip_member_names_that_leave_the_folder_are_refused(world: World, name: str) -> None:
    archive = make_zip(world.archives / "names.zip", [zfile("ok.txt"), zfile(name, b"overwritten")])
    world.refused(archive, "(absolute path|'\\.\\.')")
    assert not Path("/tmp/oas-evil-zip.txt").exists()


@pytest.mark.parametrize("name", ["../secret.txt", "a/../../secret.txt", "/tmp/oas-evil-tar.txt", "..\\secret.txt"])
def test_tar_member_names_that_leave_the_folder_are_refused(world: World, name: str) -> None:
    archive = make_tar(world.archives / "names.tar.gz", [("ok.txt", b"x"), (name, b"overwritten")])
    world.refused(archive, "(absolute path|'\\.\\.')")
    assert not Path("/tmp/oas-evil-tar.txt").exists()


def test_the_target_must_be_new_or_empty(world: World) -> None:
    # A link planted in the target beforehand would otherwise decide where the archive's files go.
    os.symlink(world.victim_dir, world.dest / "sub")
    archive = make_tar(world.archives / "ok.tar.gz", [("sub/keep.txt", b"overwritten")])
    with pytest.raises(UnsafeArchive, match="not empty"):
        extract(archive, world.dest)
    (world.dest / "sub").unlink()
    world.untouched()


def _race(world: World, plant: str) -> Exception:
    """Write a checked two-file tree while "another process" plants a link as soon as the first file is read."""
    tree = Tree(world.archives / "race.tar", ArchiveLimits())
    tree.add(TreeEntry(PurePosixPath("a.txt"), "file", 0o644, size=1))
    tree.add(TreeEntry(PurePosixPath("sub/b.txt"), "file", 0o644, size=1))
    tree.finish()

    def open_data(entry: TreeEntry) -> contextlib.AbstractContextManager[IO[bytes]]:
        if entry.path.name == "a.txt":
            if plant == "folder":  # the folder made for sub/b.txt becomes a link out
                (world.dest / "sub").rmdir()
                os.symlink(world.victim_dir, world.dest / "sub")
            else:  # a link out appears where sub/b.txt is about to be created
                os.symlink(world.victim_dir / "keep.txt", world.dest / "sub" / "b.txt")
        return contextlib.nullcontext(io.BytesIO(b"x"))

    writer = Writer(tree.archive, world.dest, open_data, lambda what: contextlib.nullcontext())
    with pytest.raises((UnsafeArchive, ArchiveError)) as info:
        writer.write(tree)
    for planted in (world.dest / "sub", world.dest / "sub" / "b.txt"):
        if planted.is_symlink():
            planted.unlink()
    world.untouched()
    return info.value


def test_a_folder_swapped_for_a_link_mid_extraction_is_not_written_through(world: World) -> None:
    assert "is no longer a folder made by this extraction" in str(_race(world, "folder"))


def test_a_link_planted_at_a_files_name_mid_extraction_is_not_followed(world: World) -> None:
    error = _race(world, "file")  # O_CREAT | O_EXCL | O_NOFOLLOW: the name is taken, nothing is opened through it
    assert isinstance(error, ArchiveError) and "Cannot write" in str(error) and "sub/b.txt" in str(error)


# -- malformed archives -------------------------------------------------------------------------------


def _good_tar(path: Path) -> Path:
    blob = os.urandom(200_000)  # incompressible, so a cut lands inside member data
    return make_tar(path, [folder("top"), ("top/a.bin", blob), ("top/b.bin", blob), sym("top/c", "a.bin")])


def _good_zip(path: Path) -> Path:
    return make_zip(path, [zfile("a.bin", os.urandom(200_000)), zfile("b.bin", b"hello" * 1000)])


def _corrupt(path: Path, how: str) -> Path:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2 :]
    elif how == "flipped":
        for i in range(len(data) // 3, len(data) // 3 + 64):
            data[i] ^= 0x55
    elif how == "tail-cut":
        del data[-10:]
    path.write_bytes(bytes(data))
    return path


_TAR_MODES: dict[str, Literal["w", "w:bz2", "w:xz"]] = {".tar": "w", ".tar.bz2": "w:bz2", ".tar.xz": "w:xz"}


@pytest.mark.parametrize("how", ["truncated", "flipped", "tail-cut"])
@pytest.mark.parametrize("suffix", [".tar.gz", ".tar", ".zip", ".tar.bz2", ".tar.xz"])
def test_malformed_archives_raise_only_the_projects_error(world: World, how: str, suffix: str) -> None:
    path = world.archives / f"bad{suffix}"
    if suffix == ".zip":
        _good_zip(path)
    elif suffix == ".tar.gz":
        _good_tar(path)
    else:
        plain = _good_tar(world.archives / "plain.tar")
        with tarfile.open(plain) as src, tarfile.open(path, _TAR_MODES[suffix]) as out:
            for member in src:
                out.addfile(member, src.extractfile(member) if member.isfile() else None)
    _corrupt(path, how)
    if suffix == ".tar" and how != "truncated":
        # A plain tar has no checksum over its data, and a cut in its zero padding leaves it whole: it unpacks
        # (downloads are hash-verified before they get here), and only into the target.
        extract(path, world.dest)
        assert tree(world.dest) == ["top", "top/a.bin", "top/b.bin", "top/c"]
        world.untouched()
        return
    # Every compressed format checks itself - including a flipped byte deep in a .tar.gz and a cut
    # trailer, which only the gzip CRC at the very end of the stream reveals.
    world.refused(path, "(cannot read|damaged)")


def test_a_tar_header_with_a_bad_checksum_is_refused(world: World) -> None:
    path = make_tar(world.archives / "bad.tar", [("a.txt", b"x"), ("b.txt", b"y")])
    data = bytearray(path.read_bytes())
    data[1024 + 148 : 1024 + 156] = b"0000000\0"  # the second header's checksum field
    path.write_bytes(bytes(data))
    world.refused(path, "damaged")


def _zip_with_flag(path: Path, *, flag: int = 0, method: int | None = None) -> Path:
    make_zip(path, [zfile("a.txt", b"hello" * 100)])
    data = bytearray(path.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.find(signature)
        data[at + flag_at : at + flag_at + 2] = struct.pack("<H", flag)
        if method is not None:
            data[at + method_at : at + method_at + 2] = struct.pack("<H", method)
    path.write_bytes(bytes(data))
    return path


def test_encrypted_and_unknown_compression_zip_members_are_refused(world: World) -> None:
    world.refused(_zip_with_flag(world.archives / "enc.zip", flag=0x1), "encrypted")
    world.refused(_zip_with_flag(world.archives / "method.zip", method=99), "compression")


def test_a_zip_link_whose_target_is_not_text_is_refused(world: World) -> None:
    archive = make_zip(world.archives / "link.zip", [("l", b"\xff\xfe", stat.S_IFLNK | 0o777)])
    world.refused(archive, "symlink")


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_member_that_cannot_be_written_is_the_projects_error_and_leaves_nothing(world: World) -> None:
    archive = make_tar(world.archives / "ok.tar.gz", [("top/small.txt", b"hello"), ("top/big.bin", b"\0" * (2 << 20))])
    import resource  # POSIX only, like this test

    # A real write failure: the kernel refuses to grow a file past this process's file-size limit (EFBIG).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        with pytest.raises(
            ArchiveError, match=r"Cannot write .*top/big\.bin while unpacking .*ok\.tar\.gz: File too large"
        ):
            extract(archive, world.dest)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert tree(world.dest) == []  # what was written before the failure is gone again
    world.untouched()


# -- what real releases contain keeps working ---------------------------------------------------------


def test_release_style_links_inside_the_archive_are_kept(world: World) -> None:
    entries: list[Entry] = [
        folder("llama-b1", 0o755),
        ("llama-b1/libllama.0.0.1.dylib", b"lib"),
        sym("llama-b1/libllama.0.dylib", "libllama.0.0.1.dylib"),
        sym("llama-b1/libllama.dylib", "libllama.0.dylib"),  # a chain, as macOS builds ship
        folder("llama-b1/lib", 0o555),  # read-only folder: its mode is applied after its files are in
        ("llama-b1/lib/libggml.so.1", b"ggml"),
        sym("llama-b1/lib/libggml.so", "../lib/./libggml.so.1"),
        sym("llama-b1/ggml.so", "lib/libggml.so"),  # a link through a link's folder stays inside
        sym("llama-b1/Current", "lib"),
        sym("llama-b1/Headers", "Current/../lib"),
        sym("llama-b1/dangling", "not-shipped.so"),  # harmless: points at nothing, inside
    ]
    extract(make_tar(world.archives / "release.tar.gz", entries), world.dest)
    top = world.dest / "llama-b1"
    assert (top / "libllama.dylib").read_bytes() == b"lib"
    assert (top / "ggml.so").read_bytes() == b"ggml"
    assert os.readlink(top / "Headers") == "Current/../lib"
    assert (top / "Headers" / "libggml.so.1").read_bytes() == b"ggml"
    assert stat.S_IMODE((top / "lib").stat().st_mode) == 0o755  # owner keeps rwx, so the cache can be cleared
    world.untouched()
