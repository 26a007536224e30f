"""Which llama.cpp release to install, where its asset lives, and what its SHA256 is.

* The latest tag comes from following ``{base}/releases/latest``: GitHub redirects it to
  ``{base}/releases/tag/bNNNN``. No API call, so no rate limit.
* A pinned tag (``--llama-version b11434``) skips that step.
* Assets download from ``{base}/releases/download/{tag}/{asset}``.
* Hashes come from GitHub's REST API (``assets[].digest == "sha256:<hex>"``, computed by GitHub for every
  asset since mid-2025). Unauthenticated calls are limited to 60 an hour, so the answer is asked once
  per tag and remembered in the cache; ``GITHUB_TOKEN`` is sent if set, to the API host only.
* Releases are sometimes incomplete. When the latest release lacks our asset, the newest release that
  has it is used instead (one API call lists recent releases); if that is not possible the error says to
  pin a tag.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from .. import paths
from . import settings
from .errors import ReleaseError
from .files import normalize_sha256, write_json_atomic
from .platforms import AssetSpec

TAG_RE: Final = re.compile(r"^b\d+$")
# Redirect hops allowed while resolving "latest" (the old ggerganov URL adds one).
_MAX_HOPS: Final = 5
# How many recent releases to scan for one that has our asset.
_FALLBACK_SCAN: Final = 30


@dataclass(frozen=True)
class ReleaseInfo:
    """What the API says about one tag: asset name -> SHA256 (None when GitHub has no digest)."""

    tag: str
    digests: dict[str, str | None]

    def has(self, asset: str) -> bool:
        return asset in self.digests


@dataclass(frozen=True)
class ResolvedAsset:
    tag: str
    name: str
    url: str
    sha256: str | None


def validate_tag(tag: str) -> str:
    tag = tag.strip()
    if not TAG_RE.match(tag):
        raise ReleaseError(f"{tag!r} is not a llama.cpp release tag; tags look like b11434.")
    return tag


def repo_slug(base_url: str) -> str:
    """``owner/name`` from a release base URL (the last two path segments)."""
    parts = [p for p in httpx.URL(base_url).path.split("/") if p]
    if len(parts) < 2:
        raise ReleaseError(
            f"Release URL {base_url} should end in /OWNER/REPO, like https://github.com/ggml-org/llama.cpp"
        )
    return f"{parts[-2]}/{parts[-1]}"


def asset_url(base_url: str, tag: str, asset: str) -> str:
    return f"{base_url.rstrip('/')}/releases/download/{tag}/{asset}"


def resolve_latest_tag(client: httpx.Client, base_url: str) -> str:
    """Follow ``{base}/releases/latest`` to the ``.../releases/tag/bNNNN`` it redirects to."""
    url = httpx.URL(f"{base_url.rstrip('/')}/releases/latest")
    start = str(url)
    for _ in range(_MAX_HOPS):
        response = client.get(url, follow_redirects=False)
        response.close()
        location = response.headers.get("location")
        if not response.is_redirect or not location:
            raise ReleaseError(
                f"{start} answered HTTP {response.status_code} instead of redirecting to the latest "
                "release. Check --llama-release-url, or pin a tag with --llama-version bNNNN."
            )
        url = url.join(location)
        match = re.search(r"/releases/tag/([^/?#]+)$", url.path)
        if match:
            tag = match.group(1)
            if not TAG_RE.match(tag):
                raise ReleaseError(
                    f"{start} points at release {tag!r}, which is not a bNNNN build tag. "
                    "Pin a tag with --llama-version bNNNN."
                )
            return tag
        if "/releases/latest" not in url.path:
            break
    raise ReleaseError(
        f"{start} redirected to {url}, which names no release tag. The mirror may have no releases; "
        "pin a tag with --llama-version bNNNN."
    )


def _api_headers() -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    token = settings.github_token()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _parse_release(data: Any, source: str) -> ReleaseInfo:
    if not isinstance(data, dict) or not isinstance(data.get("tag_name"), str):
        raise ReleaseError(f"{source} did not return a release object.")
    digests: dict[str, str | None] = {}
    for asset in data.get("assets") or []:
        if isinstance(asset, dict) and isinstance(asset.get("name"), str):
            digest = asset.get("digest")
            digests[asset["name"]] = normalize_sha256(digest) if isinstance(digest, str) else None
    return ReleaseInfo(tag=data["tag_name"], digests=digests)


def _release_cache(base_url: str, tag: str) -> Path:
    slug = repo_slug(base_url).replace("/", "__")
    return paths.releases_dir() / slug / f"{tag}.json"


def _remember(base_url: str, info: ReleaseInfo) -> None:
    """Cache what the API said about `info.tag`, in the API's own shape so `_parse_release` reads it back."""
    cache = _release_cache(base_url, info.tag)
    cache.parent.mkdir(parents=True, exist_ok=True)
    assets = [{"name": name, "digest": digest} for name, digest in info.digests.items()]
    write_json_atomic(cache, {"tag_name": info.tag, "assets": assets})


def release_info(client: httpx.Client, base_url: str, api_url: str, tag: str) -> ReleaseInfo:
    """Asset names and digests for `tag`, from the cache or (once) from the GitHub API."""
    cache = _release_cache(base_url, tag)
    try:
        return _parse_release(json.loads(cache.read_text()), str(cache))
    except (OSError, ValueError, ReleaseError):
        pass
    url = f"{api_url.rstrip('/')}/repos/{repo_slug(base_url)}/releases/tags/{tag}"
    try:
        response = client.get(url, headers=_api_headers(), follow_redirects=True)
    except httpx.TransportError as exc:
        raise ReleaseError(f"Cannot reach the GitHub API at {url} ({exc}).") from exc
    if response.status_code == 404:
        raise ReleaseError(f"Release {tag} does not exist ({url} answered 404). Pick another --llama-version.")
    if response.status_code in (403, 429):
        raise ReleaseError(
            f"The GitHub API refused {url} (HTTP {response.status_code}, probably the hourly rate "
            "limit). Set GITHUB_TOKEN, wait an hour, or pass --allow-unverified."
        )
    if response.status_code != 200:
        raise ReleaseError(f"{url} answered HTTP {response.status_code}.")
    try:
        data = response.json()
    except ValueError as exc:
        raise ReleaseError(f"{url} did not return JSON.") from exc
    info = _parse_release(data, url)
    _remember(base_url, info)
    return info


def newest_release_with(client: httpx.Client, base_url: str, api_url: str, spec: AssetSpec) -> ReleaseInfo:
    """The most recent release (by tag number) that publishes `spec`'s asset."""
    url = f"{api_url.rstrip('/')}/repos/{repo_slug(base_url)}/releases?per_page={_FALLBACK_SCAN}"
    try:
        response = client.get(url, headers=_api_headers(), follow_redirects=True)
        response.raise_for_status()
        items = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ReleaseError(f"Cannot list releases at {url} ({exc}).") from exc
    candidates: list[ReleaseInfo] = []
    for item in items if isinstance(items, list) else []:
        try:
            info = _parse_release(item, url)
        except ReleaseError:
            continue
        if TAG_RE.match(info.tag) and info.has(spec.name(info.tag)):
            candidates.append(info)
    if not candidates:
        raise ReleaseError(f"None of the {_FALLBACK_SCAN} newest releases at {url} has a {spec.suffix} asset.")
    best = max(candidates, key=lambda info: int(info.tag[1:]))
    _remember(base_url, best)
    return best


def resolve_asset(
    client: httpx.Client,
    spec: AssetSpec,
    *,
    base_url: str,
    api_url: str,
    tag: str | None,
    need_digest: bool,
) -> ResolvedAsset:
    """The tag, asset name, URL and SHA256 to install.

    `tag` None means "latest"; then a release missing our asset falls back to the newest that has it.
    `need_digest` False (the user allowed unverified downloads) tolerates an unreachable API.
    """
    pinned = tag is not None
    chosen = validate_tag(tag) if tag is not None else resolve_latest_tag(client, base_url)
    try:
        info: ReleaseInfo | None = release_info(client, base_url, api_url, chosen)
    except ReleaseError:
        if need_digest:
            raise
        info = None
    if info is not None and not info.has(spec.name(chosen)):
        if pinned:
            raise ReleaseError(
                f"Release {chosen} has no asset {spec.name(chosen)} ({base_url}/releases/tag/{chosen}). "
                "Pin another tag with --llama-version, or choose another --llama-variant."
            )
        try:
            info = newest_release_with(client, base_url, api_url, spec)
        except ReleaseError as exc:
            raise ReleaseError(
                f"The latest release {chosen} has no asset {spec.name(chosen)}, and no fallback was "
                f"found ({exc}). Pin a release that has it with --llama-version bNNNN "
                f"(see {base_url}/releases)."
            ) from exc
        chosen = info.tag
    name = spec.name(chosen)
    sha = info.digests.get(name) if info is not None else None
    if sha is None and need_digest:
        raise ReleaseError(
            f"GitHub publishes no SHA256 digest for {name} of release {chosen}, so it cannot be "
            "verified. Pin another --llama-version or pass --allow-unverified."
        )
    return ResolvedAsset(tag=chosen, name=name, url=asset_url(base_url, chosen, name), sha256=sha)
