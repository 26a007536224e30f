"""Model specifications and fetching GGUFs through the Hugging Face-like mirror."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from openai_api_simulator.provision import catalog
from openai_api_simulator.provision.errors import ModelSpecError, OfflineError, UnverifiedDownload
from openai_api_simulator.provision.models import ModelFile, cache_path, ensure_model, parse_model_spec
from openai_api_simulator.provision.options import ProvisionOptions
from tests.support.mirror import Mirror, random_bytes, sha256_bytes
from tests.support.provision import tree

GGUF = b"GGUF" + random_bytes(300_000, seed=3)


# -- parsing specifications ------------------------------------------------------------------------


def test_specs_are_parsed(tmp_path: Path, oas_env: Path) -> None:
    hf = parse_model_spec("hf://org/repo/sub/file.gguf@v1.0", hf_endpoint="https://hf.test")
    assert (hf.kind, hf.repo, hf.file, hf.revision, hf.url) == (
        "hf",
        "org/repo",
        "sub/file.gguf",
        "v1.0",
        "https://hf.test/org/repo/resolve/v1.0/sub/file.gguf",
    )
    assert parse_model_spec("hf://org/repo/f.gguf").revision == "main"
    url = parse_model_spec(f"https://x.test/m.gguf#sha256={'a' * 64}")
    assert (url.kind, url.url, url.sha256, url.name) == ("url", "https://x.test/m.gguf", "a" * 64, "m.gguf")
    entry = parse_model_spec("SmolLM2-135M")
    assert (entry.kind, entry.name, entry.repo) == ("catalog", "smollm2-135m", "bartowski/SmolLM2-135M-Instruct-GGUF")
    assert parse_model_spec(None).name == catalog.default_model_id()
    local = tmp_path / "mine.gguf"
    local.write_bytes(GGUF)
    assert parse_model_spec(str(local)).local_path == local
    assert cache_path(hf) == oas_env / "models" / "hf" / "org" / "repo" / "v1.0" / "sub" / "file.gguf"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("hf://org/repo", "expected hf://OWNER/REPO/FILE.gguf"),
        ("https://x.test/m.gguf#md5=1", "#sha256=<64 hex digits>"),
        ("missing/model.gguf", "does not exist"),
        ("no-such-model", "Unknown model 'no-such-model'. Use a catalogue id \\(smollm2-135m,"),
    ],
)
def test_bad_specs_say_what_is_accepted(spec: str, error: str) -> None:
    with pytest.raises(ModelSpecError, match=error):
        parse_model_spec(spec)


# -- fetching ---------------------------------------------------------------------------------------


def test_hf_model_is_downloaded_verified_by_x_linked_etag_then_served_from_cache(mirror_env: Mirror) -> None:
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF)
    first = ensure_model("hf://org/repo/tiny.gguf")
    assert isinstance(first, ModelFile)
    assert (first.size, first.sha256, first.cached, first.name) == (len(GGUF), sha256_bytes(GGUF), False, "tiny.gguf")
    assert first.path.read_bytes() == GGUF
    mirror_env.reset_stats()
    second = ensure_model("hf://org/repo/tiny.gguf")
    assert (second.path, second.cached) == (first.path, True)
    assert mirror_env.count() == 0


def test_catalogue_model_by_name_uses_its_pinned_revision(mirror_env: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = catalog.CatalogEntry(
        id="tiny",
        engine="llama.cpp",
        repo="org/tiny-GGUF",
        file="tiny.Q4_0.gguf",
        revision="0123456789abcdef0123456789abcdef01234567",
        size=len(GGUF),
        sha256=sha256_bytes(GGUF),
        context_length=2048,
        license="apache-2.0",
        owner="org",
        description="test",
    )
    monkeypatch.setattr(catalog, "_load", lambda: ("tiny", (entry,)))
    assert entry.file is not None
    mirror_env.add_hf(entry.repo, entry.file, GGUF, revision=entry.revision, etag=False)
    got = ensure_model("tiny")
    assert (got.entry, got.sha256) == (entry, entry.sha256)
    assert mirror_env.count(f"/resolve/{entry.revision}/") == 1


def test_offline_with_empty_cache_names_the_model_and_the_fix(oas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        ensure_model("qwen2.5-0.5b")
    message = str(info.value)
    assert "'qwen2.5-0.5b' is not in the cache" in message
    assert str(oas_env / "models") in message
    assert "openai-api-simulator pull qwen2.5-0.5b" in message


def test_offline_with_a_cached_model_needs_no_network(mirror_env: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF)
    ensure_model("hf://org/repo/tiny.gguf")
    mirror_env.stop()
    got = ensure_model("hf://org/repo/tiny.gguf", ProvisionOptions(offline=True))
    assert got.cached and got.path.read_bytes() == GGUF


def test_url_without_hash_needs_opt_out_and_non_gguf_is_not_kept(mirror_env: Mirror, oas_env: Path) -> None:
    mirror_env.add_hf("org/repo", "page.gguf", b"<html>login</html>", etag=False)
    url = f"{mirror_env.hf_endpoint}/org/repo/resolve/main/page.gguf"
    with pytest.raises(UnverifiedDownload):
        ensure_model(url)
    with pytest.raises(ModelSpecError, match=r"is not a GGUF file \(it starts with b'<htm'"):
        ensure_model(url, ProvisionOptions(allow_unverified=True))
    assert [p for p in tree(oas_env / "models") if p.endswith((".gguf", ".json", ".part"))] == []


def test_url_with_pinned_hash(mirror_env: Mirror) -> None:
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF, etag=False)
    url = f"{mirror_env.hf_endpoint}/org/repo/resolve/main/tiny.gguf#sha256={sha256_bytes(GGUF)}"
    assert ensure_model(url).sha256 == sha256_bytes(GGUF)


def test_update_fetches_a_changed_upload_and_keeps_the_cache_when_unchanged(mirror_env: Mirror) -> None:
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF)
    ensure_model("hf://org/repo/tiny.gguf")
    mirror_env.reset_stats()
    same = ensure_model("hf://org/repo/tiny.gguf", ProvisionOptions(update=True))
    assert same.cached and mirror_env.blob_requests() == []
    newer = b"GGUF" + random_bytes(1000, seed=9)
    mirror_env.add_hf("org/repo", "tiny.gguf", newer)
    got = ensure_model("hf://org/repo/tiny.gguf", ProvisionOptions(update=True))
    assert (got.cached, got.path.read_bytes()) == (False, newer)


def test_local_gguf_is_used_in_place_and_checked(tmp_path: Path) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(GGUF)
    got = ensure_model(str(mine))
    assert (got.path, got.size, got.sha256, got.source) == (mine, len(GGUF), None, str(mine))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ModelSpecError, match=r"bad\.gguf is not a GGUF file"):
        ensure_model(str(bad))


def test_hf_token_goes_to_the_endpoint_only(oas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "hub.test":
            return httpx.Response(
                302, headers={"Location": "https://cdn.test/x", "X-Linked-Etag": f'"{sha256_bytes(GGUF)}"'}
            )
        return httpx.Response(200, stream=httpx.ByteStream(GGUF))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        ensure_model("hf://gated/model/m.gguf", ProvisionOptions(hf_endpoint="https://hub.test", client=client))
    assert seen == {"hub.test": "Bearer hf_secret", "cdn.test": None}


def test_concurrent_requests_for_one_model_download_it_once(mirror_env: Mirror) -> None:
    mirror_env.add_hf("org/repo", "tiny.gguf", GGUF)
    mirror_env.faults.chunk_delay = 0.2
    barrier = threading.Barrier(3)
    results: list[ModelFile] = []

    def worker() -> None:
        barrier.wait()
        results.append(ensure_model("hf://org/repo/tiny.gguf"))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and len({r.path for r in results}) == 1
    assert len(mirror_env.blob_requests()) == 1
