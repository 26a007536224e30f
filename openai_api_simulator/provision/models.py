"""Turn a model specification into a verified GGUF file on disk.

Accepted specifications:

* a catalogue id (``smollm2-135m``; see `catalog`);
* ``hf://owner/repo/path/file.gguf`` with an optional ``@revision`` (default ``main``), fetched from
  ``{HF_ENDPOINT}/owner/repo/resolve/{revision}/path/file.gguf``;
* an ``http(s)://`` URL, optionally ending in ``#sha256=<hex>`` to pin its hash;
* a local path to a ``.gguf`` file, used where it is (never copied, never hashed).

Downloaded files live under ``<cache>/models/`` and are re-checked cheaply on each use (size plus
the hash recorded when they were verified). Once a file is cached no request is made for it, so a
warm start works offline; ``ProvisionOptions(update=True)`` asks Hugging Face whether a moving revision
changed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

import httpx

from .. import paths
from . import settings
from .catalog import CatalogEntry, default_model_id, get_entry, load_catalog
from .download import download, make_client
from .errors import ModelSpecError, OfflineError
from .files import cached_file, meta_path, normalize_sha256
from .names import check_repo_path, check_revision, revision_folder, safe_segment, split_repo, url_file_name
from .options import ProvisionOptions

log = logging.getLogger(__name__)

# Every GGUF file starts with these four bytes; checking them turns "an HTML error page saved as
# model.gguf" into a clear message instead of a confusing llama-server failure.
GGUF_MAGIC: Final = b"GGUF"


@dataclass(frozen=True)
class ModelSource:
    """A parsed model specification."""

    kind: Literal["catalog", "hf", "url", "local"]
    name: str  # the id served to clients: catalogue id or file name
    url: str | None = None
    repo: str | None = None
    file: str | None = None
    revision: str | None = None
    sha256: str | None = None
    size: int | None = None
    local_path: Path | None = None
    entry: CatalogEntry | None = None


@dataclass(frozen=True)
class ModelFile:
    """A GGUF ready for llama-server ``-m``."""

    path: Path
    name: str
    size: int
    sha256: str | None  # None for the user's own local file, which is not hashed
    source: str  # URL or local path it came from
    entry: CatalogEntry | None = None
    cached: bool = True  # False when it was downloaded by this call


def hf_resolve_url(endpoint: str, repo: str, revision: str, file: str) -> str:
    return f"{endpoint.rstrip('/')}/{quote(repo, safe='/')}/resolve/{quote(revision, safe='')}/{quote(file, safe='/')}"


def _hf_source(repo: str, file: str, revision: str, endpoint: str, name: str) -> ModelSource:
    """A Hub file as a source, after checking every name that will become part of its cache path."""
    split_repo(repo)
    check_repo_path(file, repo)
    check_revision(revision)
    return ModelSource(
        kind="hf",
        name=name,
        url=hf_resolve_url(endpoint, repo, revision, file),
        repo=repo,
        file=file,
        revision=revision,
    )


def parse_model_spec(spec: str | None, *, hf_endpoint: str | None = None) -> ModelSource:
    """Parse `spec` (None: the catalogue default). Raises `ModelSpecError` with the accepted forms."""
    endpoint = settings.hf_endpoint(hf_endpoint)
    text = (spec or default_model_id()).strip()
    if text.startswith("hf://"):
        body, at, revision = text[5:].partition("@")
        parts = body.split("/")
        if len(parts) < 3 or (at and not revision):
            raise ModelSpecError(f"{text!r}: expected hf://OWNER/REPO/FILE.gguf[@REVISION]")
        repo, file = "/".join(parts[:2]), "/".join(parts[2:])
        try:
            return _hf_source(repo, file, revision or "main", endpoint, parts[-1])
        except ModelSpecError as exc:
            raise ModelSpecError(f"{text!r}: {exc} The form is hf://OWNER/REPO/FILE.gguf[@REVISION].") from None
    if text.startswith(("http://", "https://")):
        url, _, fragment = text.partition("#")
        sha = None
        if fragment:
            key, _, value = fragment.partition("=")
            sha = normalize_sha256(value) if key == "sha256" else None
            if sha is None:
                raise ModelSpecError(f"{text!r}: the only URL fragment understood is #sha256=<64 hex digits>")
        # The last segment of the (decoded) path names the cached file, so it must be one plain name: a
        # URL ending in %2E%2E or a%5Cb would otherwise name the folder above, or a path on Windows.
        name = url_file_name(httpx.URL(url).path.rsplit("/", 1)[-1], "model.gguf")
        return ModelSource(kind="url", name=name, url=url, sha256=sha)
    entry = get_entry(text)
    if entry is not None:
        if entry.file is None:
            raise ModelSpecError(
                f"The catalogue model {entry.id!r} is a whole repository ({entry.repo}) for the {entry.engine} engine, "
                "not a GGUF file."
            )
        try:
            source = _hf_source(entry.repo, entry.file, entry.revision, endpoint, entry.id)
        except ModelSpecError as exc:
            raise ModelSpecError(f"The catalogue entry {entry.id!r} is broken: {exc}") from None
        return ModelSource(
            kind="catalog",
            name=entry.id,
            url=source.url,
            repo=entry.repo,
            file=entry.file,
            revision=entry.revision,
            sha256=entry.sha256,
            size=entry.size,
            entry=entry,
        )
    path = Path(text).expanduser()
    looks_like_path = path.exists() or "/" in text or "\\" in text or text.lower().endswith(".gguf")
    if looks_like_path:
        if not path.is_file():
            raise ModelSpecError(f"Model file {path} does not exist (or is not a file).")
        return ModelSource(kind="local", name=path.name, local_path=path.absolute())
    known = ", ".join(e.id for e in load_catalog())
    raise ModelSpecError(
        f"Unknown model {text!r}. Use a catalogue id ({known}), hf://OWNER/REPO/FILE.gguf[@REVISION], "
        "an https:// URL, or a path to a local .gguf file."
    )


def cache_path(source: ModelSource) -> Path:
    """Where a downloadable model is kept in the cache: always inside ``<cache>/models``.

    The names are checked again here, not only when the spec was parsed, because a `ModelSource` can be
    made by hand; nothing below builds a path from a name that was not checked.
    """
    root = paths.models_dir()
    if source.kind in ("catalog", "hf"):
        assert source.repo and source.file and source.revision
        owner, name = split_repo(source.repo)
        return root.joinpath(
            "hf", owner, name, revision_folder(source.revision), *check_repo_path(source.file, source.repo)
        )
    if source.kind == "url":
        assert source.url
        if not safe_segment(source.name):
            raise ModelSpecError(f"{source.name!r} (from {source.url}) is not a file name the cache can use.")
        key = hashlib.sha256(source.url.encode()).hexdigest()[:16]
        return root / "url" / key / source.name
    raise ValueError(f"{source.kind} models are not cached")


def _check_magic(path: Path, origin: str) -> None:
    """`ModelSpecError` unless `path` starts like a GGUF; `origin` (URL or path) names it in the message."""
    with path.open("rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise ModelSpecError(f"{origin} is not a GGUF file (it starts with {head!r}, not b'GGUF').")


def _declared_sha(client: httpx.Client, url: str, headers: dict[str, str]) -> str | None:
    """The SHA256 Hugging Face declares for the file now (first response's X-Linked-Etag)."""
    response = client.head(url, headers=headers, follow_redirects=False)
    return normalize_sha256(response.headers.get("x-linked-etag"))


def ensure_model(spec: str | None = None, options: ProvisionOptions = ProvisionOptions()) -> ModelFile:
    """The GGUF for `spec`, from the cache or downloaded and verified now.

    `options.offline` (default: ``HF_HUB_OFFLINE``/``OAS_OFFLINE``) uses the cache only and raises
    `OfflineError` naming what is missing. `options.update` re-checks a moving revision (``main``)
    upstream; if the network is down the cached file is used with a warning.
    """
    source = parse_model_spec(spec, hf_endpoint=options.hf_endpoint)
    if source.kind == "local":
        assert source.local_path is not None
        _check_magic(source.local_path, str(source.local_path))
        return ModelFile(
            path=source.local_path,
            name=source.name,
            size=source.local_path.stat().st_size,
            sha256=None,
            source=str(source.local_path),
        )
    assert source.url is not None
    url = source.url
    dest = cache_path(source)
    endpoint = settings.hf_endpoint(options.hf_endpoint)
    headers = settings.hf_auth_headers(source.url, endpoint)
    is_offline = settings.offline(options.offline)
    hit = cached_file(dest, sha256=source.sha256, size=source.size)
    moving = source.sha256 is None and source.kind != "url"
    own_client = options.client is None
    http = options.client or (None if is_offline else make_client())
    try:
        if hit is not None and options.update and moving and not is_offline and http is not None:
            try:
                declared = _declared_sha(http, source.url, headers)
            except httpx.TransportError as exc:
                log.warning("Cannot check %s for updates (%s); using the cached %s", source.url, exc, dest)
                options.progress.note(f"warning: cannot check {source.url} for updates ({exc}); using the cache")
                declared = None
            if declared is not None and declared != hit.sha256:
                meta_path(dest).unlink(missing_ok=True)  # stale: fetch the new upload below
                hit = None
        if hit is not None:
            return _model_file(source, hit.path, hit.size, hit.sha256, cached=True)
        if is_offline or http is None:
            raise OfflineError(
                f"Model {source.name!r} is not in the cache ({dest}) and offline mode is on. Run "
                f"`openai-api-simulator pull {spec or source.name}` with network access first, or pass "
                "a local .gguf path."
            )
        result = download(
            source.url,
            dest,
            sha256=source.sha256,
            size=source.size,
            allow_unverified=options.allow_unverified,
            client=http,
            headers=headers,
            progress=options.progress,
            label=source.name,
            retry=options.retry,
            git_etag=source.kind in ("catalog", "hf"),  # a Hub file: its strong ETag is the git blob SHA-1
            # Checked on the finished part file, before it is renamed into place: bytes that are no model
            # are deleted with the part file, and whatever already was at `dest` is left as it was.
            check=lambda part: _check_magic(part, url),
        )
    finally:
        if own_client and http is not None:
            http.close()
    return _model_file(source, result.path, result.size, result.sha256, cached=result.cached)


def _model_file(source: ModelSource, path: Path, size: int, sha: str, *, cached: bool) -> ModelFile:
    return ModelFile(
        path=path,
        name=source.name,
        size=size,
        sha256=sha,
        source=source.url or str(path),
        entry=source.entry,
        cached=cached,
    )


def cached_models() -> list[tuple[Path, int, str | None]]:
    """Every complete model file in the cache: (path, size, recorded sha256)."""
    found: list[tuple[Path, int, str | None]] = []
    root = paths.models_dir()
    if not root.is_dir():
        return found
    for meta in sorted(root.rglob("*.meta.json")):
        model = meta.with_name(meta.name[: -len(".meta.json")])
        hit = cached_file(model)
        if hit is not None:
            found.append((model, hit.size, hit.sha256))
    return found
