"""Hub repository snapshots: listing a revision, remembering it, fetching its files pinned to the commit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from openai_api_simulator.provision import RepoSnapshot, fetch_file, list_repo
from openai_api_simulator.provision.download import RetryPolicy
from openai_api_simulator.provision.errors import DownloadError, ModelSpecError, OfflineError
from openai_api_simulator.provision.options import ProvisionOptions
from openai_api_simulator.provision.progress import NullProgress
from tests.support.mirror import Mirror, git_blob_sha1, random_bytes, sha256_bytes
from tests.support.provision import tree

REPO = "sdobson/nanochat"
WEIGHTS = random_bytes(300_000, seed=11)  # stands in for model_000650.pt (LFS)
META = b'{"step": 650, "model_config": {"n_layer": 20, "n_embd": 1280}}\n'  # a git file
TOKENIZER = random_bytes(5_000, seed=12)  # a git file in a sub-folder
FAST = RetryPolicy(attempts=3, base_delay=0.0)


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture
def hub(mirror_env: Mirror) -> Mirror:
    mirror_env.add_hf(REPO, "model_000650.pt", WEIGHTS)
    mirror_env.add_hf(REPO, "meta_000650.json", META, lfs=False)
    mirror_env.add_hf(REPO, "tok/tokenizer.pkl", TOKENIZER, lfs=False)
    return mirror_env


def options(**kw: Any) -> ProvisionOptions:
    return ProvisionOptions(retry=FAST, **kw)


# -- listing -------------------------------------------------------------------------------------------


def test_listing_resolves_the_revision_to_a_commit_and_names_every_file(hub: Mirror, oas_env: Path) -> None:
    snap = list_repo(REPO, "main", options())
    commit = hub.hf_commit(REPO, "main")
    assert snap == RepoSnapshot(
        repo=REPO,
        revision="main",
        commit=commit,
        files=("model_000650.pt", "meta_000650.json", "tok/tokenizer.pkl"),
    )
    assert [r.path for r in hub.requests] == [f"/hf/api/models/{REPO}/revision/main"]
    remembered = json.loads((oas_env / "hub" / "sdobson" / "nanochat" / "main.json").read_text())
    assert (remembered["sha"], remembered["revision"]) == (commit, "main")


def test_a_remembered_listing_makes_no_request(hub: Mirror) -> None:
    first = list_repo(REPO, "main", options())
    hub.reset_stats()
    assert list_repo(REPO, "main", options()) == first
    assert hub.count() == 0


def test_revision_with_a_slash_is_quoted_and_remembered_in_one_file(hub: Mirror, oas_env: Path) -> None:
    hub.add_hf(REPO, "README.md", b"# pr\n", revision="refs/pr/1", lfs=False)
    snap = list_repo(REPO, "refs/pr/1", options())
    assert snap.files == ("README.md",)
    assert (oas_env / "hub" / "sdobson" / "nanochat" / "refs%2Fpr%2F1.json").is_file()


def test_update_asks_again_and_sees_a_new_commit(hub: Mirror) -> None:
    first = list_repo(REPO, "main", options())
    hub.hf_commits[(REPO, "main")] = "f" * 40  # main moved ...
    hub.add_hf(REPO, "model_000700.pt", b"newer")  # ... and gained a file
    hub.reset_stats()
    assert list_repo(REPO, "main", options()) == first  # without update: the remembered answer
    assert hub.count() == 0
    updated = list_repo(REPO, "main", options(update=True))
    assert (updated.commit, updated.files[-1]) == ("f" * 40, "model_000700.pt")
    assert hub.count("/api/models/") == 1
    assert list_repo(REPO, "main", options()) == updated  # and that is what is remembered now


def test_update_with_the_hub_unreachable_uses_the_remembered_listing_with_a_note(hub: Mirror) -> None:
    first = list_repo(REPO, "main", options())
    hub.stop()
    progress = Notes()
    assert list_repo(REPO, "main", options(update=True, progress=progress)) == first
    assert any("cannot ask" in n and "using the file list remembered" in n for n in progress.notes)


def test_update_failing_with_a_listing_to_fall_back_on_asks_once_not_through_the_backoff(oas_env: Path) -> None:
    answers = [200, 503, 503, 503]
    body = {"sha": "a" * 40, "siblings": [{"rfilename": "f.json"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(status, json=body if status == 200 else None)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        opts = ProvisionOptions(hf_endpoint="https://hub.test", client=client, retry=FAST)
        first = list_repo("o/r", "main", opts)
        progress = Notes()
        assert list_repo("o/r", "main", dataclasses.replace(opts, update=True, progress=progress)) == first
    assert answers == [503, 503]  # one request for the update, then the remembered listing
    assert any("HTTP 503" in n for n in progress.notes)


def test_offline_uses_a_remembered_listing(hub: Mirror) -> None:
    first = list_repo(REPO, "main", options())
    hub.stop()
    assert list_repo(REPO, "main", options(offline=True, update=True)) == first


def test_offline_without_a_remembered_listing_names_the_repo_the_folder_and_pull(
    hub: Mirror, oas_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        list_repo(REPO, "main", options())
    message = str(info.value)
    assert REPO in message
    assert str(oas_env / "hub" / "sdobson" / "nanochat") in message
    assert "openai-api-simulator pull" in message
    assert hub.count() == 0


@pytest.mark.parametrize(("repo", "revision"), [("sdobson/missing", "main"), (REPO, "no-such-branch")])
def test_404_names_the_url_and_says_to_check_name_and_revision(hub: Mirror, repo: str, revision: str) -> None:
    with pytest.raises(DownloadError) as info:
        list_repo(repo, revision, options())
    message = str(info.value)
    assert f"{hub.hf_endpoint}/api/models/{repo}/revision/{revision}" in message
    assert "HTTP 404" in message
    assert "Check the name" in message and "revision" in message


def test_gated_repo_says_to_set_hf_token_and_works_with_it(hub: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.gate(REPO, "hf_secret")
    with pytest.raises(DownloadError, match=r"HTTP 401\. .*gated or private.*set HF_TOKEN") as info:
        list_repo(REPO, "main", options())
    assert f"{hub.hf_endpoint}/api/models/{REPO}/revision/main" in str(info.value)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    snap = list_repo(REPO, "main", options())
    assert fetch_file(snap, "meta_000650.json", options()).path.read_bytes() == META  # the token goes there too


def test_transient_errors_are_retried_and_then_reported(oas_env: Path) -> None:
    answers = [503, 502, 200, 503, 503, 503]
    body = {"sha": "a" * 40, "siblings": [{"rfilename": "f.json"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(status, json=body if status == 200 else None)

    slept: list[float] = []
    retry = RetryPolicy(attempts=3, base_delay=0.5, sleep=slept.append)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        opts = ProvisionOptions(hf_endpoint="https://hub.test", client=client, retry=retry)
        assert list_repo("o/r", "main", opts).commit == "a" * 40
        assert slept == [0.5, 1.0]
        with pytest.raises(DownloadError, match=r"revision/v1 failed \(HTTP 503, after 3 attempts\)"):
            list_repo("o/r", "v1", opts)


def test_an_answer_that_is_no_listing_is_an_error_naming_the_url(oas_env: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>a login page</html>")

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        opts = ProvisionOptions(hf_endpoint="https://hub.test", client=client)
        with pytest.raises(DownloadError, match=r"https://hub\.test/api/models/o/r/revision/main did not answer"):
            list_repo("o/r", "main", opts)
    assert tree(oas_env) == []


# -- names that could leave the cache ------------------------------------------------------------------


@pytest.mark.parametrize(
    "repo",
    ["../evil", "org/..", "org/.", "org/a..b", "org", "org/name/extra", "/org/name", "org/na me", "org\\..\\x", ""],
)
def test_bad_repo_names_are_refused_before_any_request(hub: Mirror, tmp_path: Path, repo: str) -> None:
    with pytest.raises(ModelSpecError, match=r"is not a Hugging Face repository name: expected OWNER/NAME"):
        list_repo(repo, "main", options())
    assert hub.count() == 0
    assert tree(tmp_path) == ["cache"] or tree(tmp_path) == []


@pytest.mark.parametrize(
    "revision",
    ["../../../escape", "main/../../x", "v1..v2", "/etc/passwd", "a//b", "main/", ".hidden", "a\nb", "a\\b", ""],
)
def test_bad_revisions_are_refused_before_any_request(hub: Mirror, tmp_path: Path, revision: str) -> None:
    with pytest.raises(ModelSpecError, match=r"is not a revision"):
        list_repo(REPO, revision, options())
    assert hub.count() == 0
    assert tree(tmp_path) in ([], ["cache"])


@pytest.mark.parametrize("path", ["../../../escape.txt", "tok/../../x", "/etc/passwd", "a//b", "./x", "a\\..\\b"])
def test_file_paths_that_climb_out_are_refused_even_when_the_server_lists_them(
    hub: Mirror, tmp_path: Path, oas_env: Path, path: str
) -> None:
    hub.add_hf(REPO, path, b"gotcha", lfs=False)
    snap = list_repo(REPO, "main", options())
    assert path in snap.files
    hub.reset_stats()
    with pytest.raises(ModelSpecError, match=r"is not a file path inside sdobson/nanochat"):
        fetch_file(snap, path, options())
    assert hub.count() == 0
    assert tree(tmp_path) == ["cache", *(f"cache/{p}" for p in tree(oas_env))]
    assert [p for p in tree(oas_env) if not p.startswith("hub")] == []


def test_a_hand_made_snapshot_with_a_bad_commit_is_refused(hub: Mirror, oas_env: Path) -> None:
    snap = RepoSnapshot(repo=REPO, revision="main", commit="../../../x", files=("meta_000650.json",))
    with pytest.raises(ModelSpecError, match=r"'\.\./\.\./\.\./x' is not a commit hash"):
        fetch_file(snap, "meta_000650.json", options())
    assert hub.count() == 0 and tree(oas_env) == []


# -- fetching files ------------------------------------------------------------------------------------


def test_lfs_and_git_files_of_one_snapshot_are_fetched_at_its_commit_then_reused(hub: Mirror, oas_env: Path) -> None:
    snap = list_repo(REPO, "main", options())
    folder = oas_env / "models" / "hf" / "sdobson" / "nanochat" / snap.commit
    weights = fetch_file(snap, "model_000650.pt", options())
    meta = fetch_file(snap, "meta_000650.json", options())
    tokenizer = fetch_file(snap, "tok/tokenizer.pkl", options())
    assert (weights.path, weights.verified_by, weights.sha256) == (
        folder / "model_000650.pt",
        "x-linked-etag",
        sha256_bytes(WEIGHTS),
    )
    assert (meta.path, meta.verified_by, meta.path.read_bytes()) == (folder / "meta_000650.json", "git-blob-sha1", META)
    assert (tokenizer.path, tokenizer.verified_by) == (folder / "tok" / "tokenizer.pkl", "git-blob-sha1")
    assert tokenizer.sha256 == sha256_bytes(TOKENIZER)
    resolves = [r.path for r in hub.requests if "/resolve/" in r.path]
    assert resolves == [
        f"/hf/{REPO}/resolve/{snap.commit}/model_000650.pt",
        f"/hf/{REPO}/resolve/{snap.commit}/meta_000650.json",
        f"/hf/{REPO}/resolve/{snap.commit}/tok/tokenizer.pkl",
    ]
    assert json.loads((folder / "meta_000650.json.meta.json").read_text())["git_blob_sha1"] == git_blob_sha1(META)

    hub.reset_stats()
    again = [fetch_file(snap, f, options()) for f in snap.files]
    assert [r.cached for r in again] == [True, True, True]
    assert hub.count() == 0


def test_a_file_the_snapshot_does_not_have_is_refused_with_the_list(hub: Mirror) -> None:
    snap = list_repo(REPO, "main", options())
    hub.reset_stats()
    with pytest.raises(ModelSpecError, match=r"has no file 'model\.gguf' at commit .*meta_000650\.json"):
        fetch_file(snap, "model.gguf", options())
    assert hub.count() == 0


def test_offline_fetch_uses_the_cache_and_names_what_is_missing(hub: Mirror) -> None:
    snap = list_repo(REPO, "main", options())
    fetch_file(snap, "meta_000650.json", options())
    hub.stop()
    assert fetch_file(snap, "meta_000650.json", options(offline=True)).cached
    with pytest.raises(OfflineError) as info:
        fetch_file(snap, "model_000650.pt", options(offline=True))
    message = str(info.value)
    assert f"model_000650.pt of {REPO} (commit {snap.commit})" in message
    assert "openai-api-simulator pull" in message


def test_a_corrupted_git_file_from_the_hub_is_not_kept(hub: Mirror, oas_env: Path) -> None:
    snap = list_repo(REPO, "main", options())
    hub.faults.flip_at = 10
    with pytest.raises(DownloadError, match=r"Git blob SHA-1 mismatch for .*/resolve/[0-9a-f]{40}/meta_000650\.json"):
        fetch_file(snap, "meta_000650.json", options())
    left = [p for p in tree(oas_env / "models") if "meta_000650.json" in p]
    assert left == [f"hf/sdobson/nanochat/{snap.commit}/meta_000650.json.lock"]
