"""Hostile model specifications never name a path outside the cache, and a failed download deletes only its own.

Each hostile spec is refused (`ModelSpecError`) before any path is built: the test folder - the cache and the
sentinel files where the spec would land - is snapshotted before and must be identical after, with no request
made to the mirror. A legitimate download that fails the GGUF check leaves every file it did not create as it
was, including one already at its destination.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from openai_api_simulator import paths
from openai_api_simulator.provision import catalog
from openai_api_simulator.provision.errors import ModelSpecError
from openai_api_simulator.provision.models import cache_path, ensure_model, parse_model_spec
from openai_api_simulator.provision.options import ProvisionOptions
from tests.provision.outside import changes, snapshot
from tests.support.mirror import Mirror, random_bytes

GGUF = b"GGUF" + random_bytes(50_000, seed=9)

HOSTILE = [
    "hf://../../../../victim.gguf",
    "hf://org/repo/../../../../../victim.gguf",
    "hf://org/repo/sub/../../x.gguf",
    "hf://../repo/x.gguf",
    "hf://org/../x.gguf",
    "hf://org/repo/x.gguf@..",
    "hf://org/repo/x.gguf@../../..",
    "hf://org/repo/x.gguf@a/../../b",
    "hf://org/repo/x.gguf@",
    "hf://org/repo/x.gguf@/abs",
    "hf://org/repo/x.gguf@a\\..\\b",
    "hf://org/repo//x.gguf",
    "hf://org/repo/./x.gguf",
    "hf://org/repo/x.gguf/",
    "hf:///org/repo/x.gguf",
    "hf://org/repo/a\\..\\..\\x.gguf",
    "hf://org/repo/C:/x.gguf",
    "hf://org/repo/x.gguf\x00.txt",
    "hf://org/re\npo/x.gguf",
    "hf://org/repo/x\x7f.gguf",
    "hf://org/repo/x.gguf@ma\nin",
]


@pytest.fixture
def victims(tmp_path: Path, mirror_env: Mirror) -> Path:
    """Sentinel files where the hostile specs would land, a cache that already holds something, a busy mirror."""
    (tmp_path / "victim.gguf").write_bytes(b"precious, not a model")
    models = paths.models_dir()
    (models / "hf").mkdir(parents=True)
    (models / "victim.gguf").write_bytes(b"precious too")
    (models / "hf" / "org").mkdir()
    (models / "hf" / "org" / "x.gguf").write_bytes(b"and this")
    # Whatever URL a hostile spec turns into, the mirror would serve a non-GGUF for it: before the fix, that was
    # written over the sentinel and then deleted as "not a model".
    for file in ("victim.gguf", "x.gguf", "../x.gguf", "../../../../victim.gguf"):
        mirror_env.add_hf("org/repo", file, b"<html>not a model</html>")
    mirror_env.reset_stats()
    return tmp_path


@pytest.mark.parametrize("spec", HOSTILE, ids=[repr(s) for s in HOSTILE])
def test_hostile_specs_are_refused_before_any_path_is_built(victims: Path, mirror_env: Mirror, spec: str) -> None:
    before = snapshot(victims)
    with pytest.raises(ModelSpecError) as info:
        ensure_model(spec, ProvisionOptions(allow_unverified=True))
    assert repr(spec) in str(info.value)  # the message quotes what the user typed, and the accepted form
    assert "hf://OWNER/REPO/FILE.gguf[@REVISION]" in str(info.value)
    with pytest.raises(ModelSpecError):
        parse_model_spec(spec)
    assert changes(before, snapshot(victims)) == []
    assert mirror_env.count() == 0


def test_a_hostile_catalogue_entry_is_refused_too(victims: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = catalog.CatalogEntry(
        id="tiny",
        engine="llama.cpp",
        repo="org/repo",
        file="x.gguf",
        revision="main",
        size=None,
        sha256=None,
        context_length=2048,
        license="apache-2.0",
        owner="org",
        description="test",
    )
    before = snapshot(victims)
    for bad in (
        dataclasses.replace(good, repo="../.."),
        dataclasses.replace(good, file="../../../../../victim.gguf"),
        dataclasses.replace(good, revision="../../.."),
    ):
        monkeypatch.setattr(catalog, "_load", lambda bad=bad: ("tiny", (bad,)))
        with pytest.raises(ModelSpecError):
            ensure_model("tiny", ProvisionOptions(allow_unverified=True))
    assert changes(before, snapshot(victims)) == []


def test_a_revision_with_slashes_is_one_folder_and_never_clashes(oas_env: Path) -> None:
    pr = cache_path(parse_model_spec("hf://org/repo/x.gguf@refs/pr/1"))
    dashes = cache_path(parse_model_spec("hf://org/repo/x.gguf@refs--pr--1"))
    root = oas_env / "models" / "hf" / "org" / "repo"
    assert pr.parent.parent == dashes.parent.parent == root
    assert pr != dashes
    assert pr.parent.name == "refs%2Fpr%2F1"
    # ...and the URL still asks the Hub for the revision as it is spelled.
    assert (
        parse_model_spec("hf://org/repo/x.gguf@refs/pr/1").url
        == "https://huggingface.co/org/repo/resolve/refs%2Fpr%2F1/x.gguf"
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://x.test/%2E%2E", "model.gguf"),
        ("https://x.test/a/%2e%2e/", "model.gguf"),
        ("https://x.test/a%5C..%5Cb.gguf", "model.gguf"),
        ("https://x.test/a/..%2F..%2Fb.gguf", "b.gguf"),
        ("https://x.test/", "model.gguf"),
        ("https://x.test/C%3Ax.gguf", "model.gguf"),
        ("https://x.test/m/tiny.gguf", "tiny.gguf"),
    ],
)
def test_a_urls_file_name_is_one_safe_name_in_the_cache(oas_env: Path, url: str, name: str) -> None:
    source = parse_model_spec(url)
    assert source.name == name
    where = cache_path(source)
    assert where.name == name
    assert where.parent.parent == oas_env / "models" / "url"


def test_a_download_that_is_no_gguf_leaves_files_it_did_not_create_alone(mirror_env: Mirror, oas_env: Path) -> None:
    mirror_env.add_hf("org/repo", "page.gguf", b"<html>login</html>")
    dest = cache_path(parse_model_spec("hf://org/repo/page.gguf"))
    dest.parent.mkdir(parents=True)
    # Something already at the destination (no sidecar, so not a verified download) and beside it.
    dest.write_bytes(b"was here before")
    (dest.parent / "other.gguf").write_bytes(GGUF)
    (oas_env / "elsewhere.txt").write_bytes(b"unrelated")
    before = snapshot(oas_env, exclude=[dest.parent])
    files_before = {p.name: p.read_bytes() for p in dest.parent.iterdir()}
    with pytest.raises(ModelSpecError, match=r"is not a GGUF file \(it starts with b'<htm'"):
        ensure_model("hf://org/repo/page.gguf")
    assert changes(before, snapshot(oas_env, exclude=[dest.parent])) == []
    after = {p.name: p.read_bytes() for p in dest.parent.iterdir()}
    # The only file the failed download leaves is its lock; the part file it wrote is gone.
    assert after.pop("page.gguf.lock") == b""
    assert after == files_before
