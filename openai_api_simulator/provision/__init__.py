"""Provisioning: get a working llama-server and a verified GGUF onto the disk, once.

The flow, as ``run`` or ``pull`` use it (both calls also take one `ProvisionOptions`: offline, unverified
downloads allowed, update, Hugging Face endpoint, progress; `LlamaSource` says which llama-server)::

    ensure_llama_server(LlamaSource())         ensure_model("smollm2-135m")
      platforms.asset_for()  OS/CPU -> asset     models.parse_model_spec()  id | hf:// | https | path
      cached install? -> done (no request)       cached and size + hash match? -> done (no request)
      releases.resolve_asset()                   models.hf_resolve_url()
        latest tag via /releases/latest            {HF_ENDPOINT}/{repo}/resolve/{rev}/{file}
        SHA256 via GitHub API (once per tag)
      download.download()  <- the one downloader: lock, disk check, resume, retry, SHA256, rename
      archive.extract() into a staging folder
      llama-server --version, manifest, rename into place

Engines whose model is a whole Hugging Face repository (a raw checkpoint, not one GGUF) use `hub`:
``list_repo(repo, revision)`` resolves the revision to a commit and lists its files (remembered in the
cache), ``fetch_file(snapshot, path)`` downloads one of them through the same downloader, pinned to that
commit.

Offline (``--offline``, ``OAS_OFFLINE=1``, ``HF_HUB_OFFLINE=1``) only the cache is used. Mirrors:
``HF_ENDPOINT``, ``OAS_LLAMA_RELEASE_URL``, ``OAS_GITHUB_API_URL``. The cache root is ``OAS_CACHE_DIR``
(default: platformdirs' user cache dir). Errors derive from `ProvisionError` and say what to do.
"""

from __future__ import annotations

from . import download  # the module: download.download(url, dest, ...) is the one downloader
from .catalog import CatalogEntry, default_model_id, get_entry, load_catalog
from .download import RetryPolicy
from .errors import (
    ArchiveError,
    BinaryCheckFailed,
    ChecksumMismatch,
    DownloadError,
    GitBlobMismatch,
    InsufficientDiskSpace,
    ModelSpecError,
    OfflineError,
    ProvisionError,
    ReleaseError,
    UnsafeArchive,
    UnsupportedPlatform,
    UnverifiedDownload,
)
from .files import DownloadResult
from .hub import RepoSnapshot, fetch_file, list_repo
from .llama import LlamaInstall, check_server, ensure_llama_server
from .models import ModelFile, ensure_model, parse_model_spec
from .options import LlamaSource, ProvisionOptions
from .platforms import Platform, asset_for, current_platform
from .progress import NullProgress, PlainProgress, ProgressReporter, default_progress

__all__ = [
    "ArchiveError",
    "BinaryCheckFailed",
    "CatalogEntry",
    "ChecksumMismatch",
    "DownloadError",
    "DownloadResult",
    "GitBlobMismatch",
    "InsufficientDiskSpace",
    "LlamaInstall",
    "LlamaSource",
    "ModelFile",
    "ModelSpecError",
    "NullProgress",
    "OfflineError",
    "PlainProgress",
    "Platform",
    "ProgressReporter",
    "ProvisionError",
    "ProvisionOptions",
    "ReleaseError",
    "RepoSnapshot",
    "RetryPolicy",
    "UnsafeArchive",
    "UnsupportedPlatform",
    "UnverifiedDownload",
    "asset_for",
    "check_server",
    "current_platform",
    "default_model_id",
    "default_progress",
    "download",
    "ensure_llama_server",
    "ensure_model",
    "fetch_file",
    "get_entry",
    "list_repo",
    "load_catalog",
    "parse_model_spec",
]
