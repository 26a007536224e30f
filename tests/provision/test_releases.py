"""Release resolution: the latest redirect, pinned tags, digests asked once, fallback, clear errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from openai_api_simulator.provision import releases
from openai_api_simulator.provision.errors import ReleaseError
from openai_api_simulator.provision.platforms import Platform, asset_for
from tests.support.mirror import Mirror, sha256_bytes

LINUX = asset_for(Platform("linux", "x86_64"))
MAC = asset_for(Platform("darwin", "arm64"))


def test_latest_tag_comes_from_the_redirect(mirror: Mirror) -> None:
    mirror.latest = "b5000"
    with httpx.Client() as client:
        assert releases.resolve_latest_tag(client, mirror.release_url) == "b5000"
    assert mirror.count() == 1
    assert mirror.count("/api/") == 0  # no rate-limited API call just to find the tag


def test_latest_redirect_without_a_tag_says_to_pin(mirror: Mirror) -> None:
    mirror.latest = None  # GitHub sends /releases when a repository has no release
    with httpx.Client() as client, pytest.raises(ReleaseError, match=r"names no release tag.*--llama-version"):
        releases.resolve_latest_tag(client, mirror.release_url)


def test_old_repository_url_is_followed_through_its_extra_hop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ggerganov/llama.cpp/releases/latest":
            return httpx.Response(301, headers={"Location": "https://gh.test/ggml-org/llama.cpp/releases/latest"})
        assert request.url.path == "/ggml-org/llama.cpp/releases/latest"
        return httpx.Response(302, headers={"Location": "/ggml-org/llama.cpp/releases/tag/b6001"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        assert releases.resolve_latest_tag(client, "https://gh.test/ggerganov/llama.cpp") == "b6001"


def test_latest_that_is_not_a_build_tag_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/o/r/releases/tag/v1.0"})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(ReleaseError, match=r"'v1.0', which is not a bNNNN"),
    ):
        releases.resolve_latest_tag(client, "https://gh.test/o/r")


def test_digests_are_asked_once_per_tag_and_remembered(mirror: Mirror, oas_env: Path) -> None:
    blob = mirror.add_asset("b10", LINUX.name("b10"), b"archive")
    with httpx.Client() as client:
        first = releases.release_info(client, mirror.release_url, mirror.api_url, "b10")
        second = releases.release_info(client, mirror.release_url, mirror.api_url, "b10")
    assert first == second
    assert first.digests == {LINUX.name("b10"): blob.sha256}
    assert mirror.count("/api/") == 1
    assert (oas_env / "releases" / "ggml-org__llama.cpp" / "b10.json").is_file()


def test_resolve_asset_pins_url_and_sha(mirror: Mirror, oas_env: Path) -> None:
    mirror.latest = "b12"
    mirror.add_asset("b12", LINUX.name("b12"), b"archive")
    with httpx.Client() as client:
        got = releases.resolve_asset(
            client, LINUX, base_url=mirror.release_url, api_url=mirror.api_url, tag=None, need_digest=True
        )
    assert got == releases.ResolvedAsset(
        tag="b12",
        name="llama-b12-bin-ubuntu-x64.tar.gz",
        url=f"{mirror.release_url}/releases/download/b12/llama-b12-bin-ubuntu-x64.tar.gz",
        sha256=sha256_bytes(b"archive"),
    )


def test_latest_release_without_our_asset_falls_back_to_the_newest_that_has_it(mirror: Mirror, oas_env: Path) -> None:
    mirror.latest = "b30"
    mirror.add_asset("b30", LINUX.name("b30"), b"linux only")  # the macOS build is missing
    mirror.add_asset("b29", MAC.name("b29"), b"mac 29")
    mirror.add_asset("b28", MAC.name("b28"), b"mac 28")
    with httpx.Client() as client:
        got = releases.resolve_asset(
            client, MAC, base_url=mirror.release_url, api_url=mirror.api_url, tag=None, need_digest=True
        )
    assert (got.tag, got.sha256) == ("b29", sha256_bytes(b"mac 29"))


def test_pinned_release_without_our_asset_is_an_error_naming_both(mirror: Mirror, oas_env: Path) -> None:
    mirror.add_asset("b30", LINUX.name("b30"), b"linux only")
    with httpx.Client() as client, pytest.raises(ReleaseError) as info:
        releases.resolve_asset(
            client, MAC, base_url=mirror.release_url, api_url=mirror.api_url, tag="b30", need_digest=True
        )
    assert "Release b30 has no asset llama-b30-bin-macos-arm64.tar.gz" in str(info.value)
    assert "--llama-version" in str(info.value)


def test_no_fallback_either_advises_pinning(mirror: Mirror, oas_env: Path) -> None:
    mirror.latest = "b30"
    mirror.add_asset("b30", LINUX.name("b30"), b"linux only")
    with httpx.Client() as client, pytest.raises(ReleaseError, match=r"Pin a release that has it"):
        releases.resolve_asset(
            client, MAC, base_url=mirror.release_url, api_url=mirror.api_url, tag=None, need_digest=True
        )


def test_asset_without_digest_needs_explicit_opt_out(mirror: Mirror, oas_env: Path) -> None:
    mirror.add_asset("b40", LINUX.name("b40"), b"x", digest=False)
    with httpx.Client() as client:
        with pytest.raises(ReleaseError, match=r"no SHA256 digest.*--allow-unverified"):
            releases.resolve_asset(
                client, LINUX, base_url=mirror.release_url, api_url=mirror.api_url, tag="b40", need_digest=True
            )
        got = releases.resolve_asset(
            client, LINUX, base_url=mirror.release_url, api_url=mirror.api_url, tag="b40", need_digest=False
        )
    assert got.sha256 is None


def test_rate_limited_api_suggests_a_token(oas_env: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "API rate limit exceeded"})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(ReleaseError, match=r"HTTP 403.*GITHUB_TOKEN"),
    ):
        releases.release_info(client, "https://gh.test/ggml-org/llama.cpp", "https://api.test", "b1")


def test_github_token_goes_to_the_api(oas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"tag_name": "b1", "assets": []})

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        releases.release_info(client, "https://gh.test/ggml-org/llama.cpp", "https://api.test", "b1")
    assert seen == ["Bearer ghp_test"]


@pytest.mark.parametrize("tag", ["latest", "11434", "b12a", "v1", ""])
def test_bad_tags_are_refused(tag: str) -> None:
    with pytest.raises(ReleaseError, match="tags look like b11434"):
        releases.validate_tag(tag)


def test_repo_slug_and_asset_url() -> None:
    assert releases.repo_slug("http://127.0.0.1:9/mirror/ggml-org/llama.cpp/") == "ggml-org/llama.cpp"
    assert (
        releases.asset_url("https://github.com/ggml-org/llama.cpp", "b1", "a.zip")
        == "https://github.com/ggml-org/llama.cpp/releases/download/b1/a.zip"
    )
    with pytest.raises(ReleaseError, match="should end in /OWNER/REPO"):
        releases.repo_slug("https://github.com/")
