"""A Hugging Face repository at one commit: which files it has, and fetching any of them, verified.

Engines whose model is a whole repository (a raw checkpoint with its config and tokenizer files, rather
than one GGUF) use this instead of `models`:

* `list_repo` asks the Hub which commit a revision (``main``, a tag, a commit) resolves to and which files
  the repository holds there - the call huggingface_hub's ``model_info`` makes,
  ``GET {endpoint}/api/models/{owner}/{name}/revision/{revision}``. The answer is remembered under
  ``<cache>/hub/{owner}/{name}/{revision}.json`` (the revision percent-encoded into one file name) and
  reused without a request (so a warm start works offline) until ``ProvisionOptions(update=True)`` asks
  again.
* `fetch_file` downloads one file of that snapshot through the one downloader, pinned to the commit, so
  every file of a model comes from the same revision even if ``main`` moves in between. Files land in
  ``<cache>/models/hf/{owner}/{name}/{commit}/{path}``; LFS files are verified by their SHA256
  (``X-Linked-Etag``), small git files by their git blob SHA-1 (``ETag``).

Repository names, revisions and paths come from users and from the server and all become cache paths,
so each is checked by `names` to stay inside the cache before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from .. import paths
from . import settings
from .download import RETRYABLE_STATUSES, RetryPolicy, download, make_client, retry_after
from .errors import DownloadError, ModelSpecError, OfflineError
from .files import DownloadResult, cached_file, read_json, write_json_atomic
from .models import hf_resolve_url
from .names import check_repo_path, check_revision, revision_folder, split_repo
from .options import ProvisionOptions

_COMMIT_RE: Final = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class RepoSnapshot:
    """A Hugging Face repository as it is at one commit."""

    repo: str  # "owner/name"
    revision: str  # as asked ("main", a tag, or a commit)
    commit: str  # the commit it resolved to (40 hex)
    files: tuple[str, ...]  # every path in the repo at that commit


class _Unreachable(Exception):
    """The Hub could not be asked (network down, or transient errors until the retries ran out)."""


def listing_path(repo: str, revision: str) -> Path:
    """Where the listing of `repo` at `revision` is remembered."""
    owner, name = split_repo(repo)
    return paths.hub_dir() / owner / name / f"{revision_folder(revision)}.json"


def snapshot_dir(snapshot: RepoSnapshot) -> Path:
    """The folder that holds the files of `snapshot` fetched so far."""
    owner, name = split_repo(snapshot.repo)
    if not _COMMIT_RE.match(snapshot.commit):
        raise ModelSpecError(f"{snapshot.commit!r} is not a commit hash (40 lower-case hex digits).")
    return paths.models_dir() / "hf" / owner / name / snapshot.commit


def _parse(data: Any, repo: str, revision: str) -> RepoSnapshot | None:
    """A snapshot from the API's answer (or our remembered copy of it); None if it is not one."""
    if not isinstance(data, dict):
        return None
    commit = data.get("sha")
    siblings = data.get("siblings")
    if not isinstance(commit, str) or not _COMMIT_RE.match(commit.lower()) or not isinstance(siblings, list):
        return None
    names = [s.get("rfilename") for s in siblings if isinstance(s, dict)]
    if len(names) != len(siblings) or not all(isinstance(n, str) for n in names):
        return None
    return RepoSnapshot(repo=repo, revision=revision, commit=commit.lower(), files=tuple(str(n) for n in names))


def _recall(path: Path, repo: str, revision: str) -> RepoSnapshot | None:
    data = read_json(path)
    # A listing for another repository or revision (a hand-edited or older cache) is not ours: ask again.
    if data is None or data.get("repo") != repo or data.get("revision") != revision:
        return None
    return _parse(data, repo, revision)


def _remember(path: Path, snapshot: RepoSnapshot) -> None:
    """Keep the listing in the API's shape (``sha``, ``siblings``) so `_parse` reads both alike."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        path,
        {
            "repo": snapshot.repo,
            "revision": snapshot.revision,
            "sha": snapshot.commit,
            "siblings": [{"rfilename": f} for f in snapshot.files],
            "listed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _ask(
    http: httpx.Client, url: str, headers: dict[str, str], retry: RetryPolicy, attempts: int, options: ProvisionOptions
) -> httpx.Response:
    """GET `url`, retrying what is usually temporary; `_Unreachable` when that never went away."""
    failures = 0
    while True:
        wait: float | None = None
        try:
            # Redirects (a renamed repository) are followed; httpx drops the token if one leaves the host.
            response = http.get(url, headers=headers, follow_redirects=True)
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code not in RETRYABLE_STATUSES:
                return response
            reason, wait = f"HTTP {response.status_code}", retry_after(response)
        failures += 1
        if failures >= attempts:
            raise _Unreachable(f"{reason}, after {failures} attempt{'s' if failures > 1 else ''}")
        delay = retry.delay(failures, wait)
        options.progress.note(f"{url}: {reason}; retrying in {delay:.1f} s")
        retry.sleep(delay)


def _http_error(response: httpx.Response, url: str, repo: str, revision: str) -> DownloadError:
    status = response.status_code
    if status == 404:
        advice = (
            f"There is no repository {repo} or no revision {revision!r} in it. Check the name (OWNER/NAME) "
            "and the revision (a branch, tag or commit), and HF_ENDPOINT if you use a mirror."
        )
    elif status in (401, 403):
        advice = (
            f"{repo} is gated or private (or does not exist: the Hub answers so for unknown names too). "
            "Accept its terms on the Hub if it is gated, and set HF_TOKEN to a token that has access."
        )
    else:
        advice = "Check HF_ENDPOINT and try again later."
    return DownloadError(f"Listing {repo} at {revision!r}: {url} answered HTTP {status}. {advice}", url=url)


def list_repo(repo: str, revision: str, options: ProvisionOptions) -> RepoSnapshot:
    """The commit `revision` of `repo` resolves to and the files it holds, remembered in the cache.

    A remembered listing is used without any request unless `options.update`; then the Hub is asked
    again, and if it cannot be reached the remembered listing is used with a note. Offline with nothing
    remembered raises `OfflineError`; HTTP errors raise `DownloadError` saying what to check.
    """
    owner, name = split_repo(repo)
    check_revision(revision)
    memo = listing_path(repo, revision)
    remembered = _recall(memo, repo, revision)
    if remembered is not None and (not options.update or settings.offline(options.offline)):
        return remembered
    if settings.offline(options.offline):
        raise OfflineError(
            f"The file list of Hugging Face repository {repo} at {revision!r} is not in the cache "
            f"({memo.parent}) and offline mode is on. Run `openai-api-simulator pull` for the model that "
            "uses it with network access first."
        )
    endpoint = settings.hf_endpoint(options.hf_endpoint)
    url = f"{endpoint}/api/models/{quote(owner, safe='')}/{quote(name, safe='')}/revision/{quote(revision, safe='')}"
    retry = options.retry or RetryPolicy()
    # With a remembered listing to fall back on, one attempt: no point waiting through the backoff.
    attempts = 1 if remembered is not None else retry.attempts
    own_client = options.client is None
    http = options.client or make_client()
    try:
        try:
            response = _ask(http, url, settings.hf_auth_headers(url, endpoint), retry, attempts, options)
        except _Unreachable as exc:
            if remembered is not None:
                options.progress.note(
                    f"warning: cannot ask {url} for updates ({exc}); using the file list remembered in {memo}"
                )
                return remembered
            raise DownloadError(
                f"Cannot list Hugging Face repository {repo} at {revision!r}: {url} failed ({exc}). Check "
                "the network and HF_ENDPOINT, then run the command again.",
                url=url,
            ) from exc
        if response.status_code != 200:
            raise _http_error(response, url, repo, revision)
        try:
            data = response.json()
        except ValueError:
            data = None
    finally:
        if own_client:
            http.close()
    snapshot = _parse(data, repo, revision)
    if snapshot is None:
        raise DownloadError(
            f"{url} did not answer with a repository listing (JSON with 'sha' and 'siblings'). Check that "
            "HF_ENDPOINT points at a Hugging Face Hub or a mirror of its API.",
            url=url,
        )
    _remember(memo, snapshot)
    return snapshot


def fetch_file(snapshot: RepoSnapshot, path: str, options: ProvisionOptions) -> DownloadResult:
    """`path` of `snapshot`, from the cache or downloaded (pinned to the snapshot's commit) and verified.

    A cached file makes no request. Offline and not cached raises `OfflineError`.
    """
    parts = check_repo_path(path, snapshot.repo)
    if path not in snapshot.files:
        raise ModelSpecError(
            f"{snapshot.repo} has no file {path!r} at commit {snapshot.commit} (revision "
            f"{snapshot.revision!r}); it has {len(snapshot.files)}: {', '.join(snapshot.files[:20])}"
            f"{', ...' if len(snapshot.files) > 20 else ''}."
        )
    folder = snapshot_dir(snapshot)
    dest = folder.joinpath(*parts)
    # Belt and braces over `_check_path`: a symlink planted in the cache must not redirect the write.
    if not dest.resolve().is_relative_to(folder.resolve()):
        raise ModelSpecError(f"{dest} resolves outside {folder}; refusing to write there.")
    hit = cached_file(dest)
    if hit is not None:
        return hit
    if settings.offline(options.offline):
        raise OfflineError(
            f"{path} of {snapshot.repo} (commit {snapshot.commit}) is not in the cache ({dest}) and offline "
            "mode is on. Run `openai-api-simulator pull` for the model that uses it with network access first."
        )
    endpoint = settings.hf_endpoint(options.hf_endpoint)
    url = hf_resolve_url(endpoint, snapshot.repo, snapshot.commit, path)
    return download(
        url,
        dest,
        git_etag=True,
        allow_unverified=options.allow_unverified,
        client=options.client,
        headers=settings.hf_auth_headers(url, endpoint),
        progress=options.progress,
        label=f"{snapshot.repo}/{path}",
        retry=options.retry,
    )
