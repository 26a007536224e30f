"""`testdouble.journal`: every API request kept per test id, secrets redacted, bounded by bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from openai_api_simulator.config import Settings
from openai_api_simulator.testdouble.journal import BODY_MAX_BYTES, Journal, Record
from openai_api_simulator.testing import running

MSG: Any = [{"role": "user", "content": "Tell me about rivers."}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running(Settings()) as base:
        yield base


def root(url: str) -> str:
    return url.removesuffix("/v1")


def journal(url: str, test: str | None = None, **params: Any) -> list[dict[str, Any]]:
    headers = {"X-Simulator-Test-Id": test} if test is not None else {}
    r = httpx.get(root(url) + "/_simulator/requests", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    data: list[dict[str, Any]] = body["data"]
    return data


def sdk(url: str, test: str, **kwargs: Any) -> openai.OpenAI:
    headers = {"X-Simulator-Test-Id": test, "Cookie": "session=abc", **kwargs.pop("headers", {})}
    return openai.OpenAI(base_url=url, api_key="sk-secret-key", max_retries=0, default_headers=headers, **kwargs)


def test_an_sdk_request_is_kept_with_its_body_status_model_and_secrets_redacted(url: str) -> None:
    with sdk(url, "sdk-basic", organization="org-visible") as client:
        answer = client.chat.completions.with_raw_response.create(model="gpt-sim-1", messages=MSG, seed=3)
    [entry] = journal(url, "sdk-basic")
    assert entry["id"] == answer.headers["x-request-id"]  # the id the client saw finds its entry
    assert entry["method"] == "POST" and entry["path"] == "/v1/chat/completions" and entry["query"] == ""
    assert entry["body"] == {"model": "gpt-sim-1", "messages": MSG, "seed": 3}
    assert entry["status"] == 200 and entry["model"] == "gpt-sim-1" and entry["stream"] is False
    assert entry["test_id"] == "sdk-basic" and entry["rule"] is None and "body_truncated" not in entry
    headers = entry["headers"]
    assert headers["authorization"] == "[redacted]" and headers["cookie"] == "[redacted]"
    assert "sk-secret-key" not in json.dumps(entry) and "abc" not in headers["cookie"]
    assert headers["openai-organization"] == "org-visible"  # not a credential: kept for assertions
    assert headers["x-simulator-test-id"] == "sdk-basic" and headers["user-agent"].startswith("OpenAI/Python")
    assert isinstance(entry["time"], float) and entry["duration_ms"] >= 0


def test_streams_errors_and_model_lists_are_kept_too(url: str) -> None:
    with sdk(url, "sdk-kinds") as client:
        list(client.chat.completions.create(model="gpt-sim-1", messages=MSG, stream=True))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=MSG)
        client.models.list()
    stream, missing, models = journal(url, "sdk-kinds")
    assert stream["stream"] is True and stream["status"] == 200 and stream["body"]["stream"] is True
    assert missing["status"] == 404 and missing["model"] == "no-such-model"  # the model the request named
    assert models["method"] == "GET" and models["path"] == "/v1/models" and models["body"] is None


def test_the_journal_can_be_filtered(url: str) -> None:
    with sdk(url, "filters") as client:
        client.chat.completions.create(model="gpt-sim-1", messages=MSG)
        client.embeddings.create(model="gpt-sim-1", input="a")
        client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "second"}])
        client.models.list()
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="other", messages=MSG)
    chats = journal(url, "filters", path="/v1/chat/completions")
    assert [e["body"]["messages"][0]["content"] for e in chats] == [
        "Tell me about rivers.",
        "second",
        MSG[0]["content"],
    ]
    assert [e["path"] for e in journal(url, "filters", method="get")] == ["/v1/models"]
    assert [e["model"] for e in journal(url, "filters", model="other")] == ["other"]
    assert [e["status"] for e in journal(url, "filters", status=404)] == [404]
    last_two = journal(url, "filters", limit=2)
    assert [e["path"] for e in last_two] == ["/v1/models", "/v1/chat/completions"]  # the last two, oldest first
    assert (
        journal(url, "filters", path="/v1/chat/completions", status=200, limit=1)[0]["body"]["messages"][0]["content"]
        == "second"
    )


@pytest.mark.parametrize(
    ("params", "param"), [({"status": "ok"}, "status"), ({"limit": "-1"}, "limit"), ({"stauts": "200"}, "stauts")]
)
def test_a_bad_filter_is_a_400_naming_it(url: str, params: dict[str, str], param: str) -> None:
    r = httpx.get(root(url) + "/_simulator/requests", params=params)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param and param in error["message"]


def test_test_ids_see_only_their_own_requests(url: str) -> None:
    with sdk(url, "test-a") as a, sdk(url, "test-b") as b:
        a.chat.completions.create(model="gpt-sim-1", messages=MSG)
        b.embeddings.create(model="gpt-sim-1", input="b")
        a.models.list()
    assert [e["path"] for e in journal(url, "test-a")] == ["/v1/chat/completions", "/v1/models"]
    assert [e["path"] for e in journal(url, "test-b")] == ["/v1/embeddings"]
    assert all(e["test_id"] == "" for e in journal(url))  # no header: the "" scope, which has none of these


def test_admin_health_and_metrics_requests_are_not_kept(url: str) -> None:
    headers = {"X-Simulator-Test-Id": "unjournaled"}
    httpx.get(root(url) + "/health", headers=headers)
    httpx.get(root(url) + "/metrics", headers=headers)
    httpx.post(root(url) + "/_simulator/reset", headers=headers)
    httpx.get(root(url) + "/_simulator/requests", headers=headers)
    assert journal(url, "unjournaled") == []


def test_delete_clears_only_the_callers_test_id(url: str) -> None:
    with sdk(url, "delete-a") as a, sdk(url, "delete-b") as b:
        a.models.list()
        a.models.list()
        b.models.list()
    r = httpx.delete(root(url) + "/_simulator/requests", headers={"X-Simulator-Test-Id": "delete-a"})
    assert r.status_code == 200 and r.json()["deleted"] == 2
    assert journal(url, "delete-a") == [] and len(journal(url, "delete-b")) == 1


def test_a_large_body_is_kept_truncated_as_text(url: str) -> None:
    big = "x" * (BODY_MAX_BYTES + 10)
    with sdk(url, "big") as client:
        client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": big}], max_tokens=4)
    [entry] = journal(url, "big")
    assert entry["body_truncated"] is True and isinstance(entry["body"], str)
    assert len(entry["body"]) == BODY_MAX_BYTES and entry["body"].startswith('{"')
    assert entry["status"] == 200 and entry["model"] == "gpt-sim-1"


def test_a_body_that_is_not_json_is_kept_as_text() -> None:
    with running(Settings()) as url:
        r = httpx.post(url + "/chat/completions", content=b"not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        [entry] = journal(url)
    assert entry["body"] == "not json" and entry["status"] == 400 and entry["model"] is None


def record(test: str, body: bytes) -> Record:
    return Record("req_1", 0.0, "POST", "/v1/x", b"", [], body, False, 200, "gpt-sim-1", None, False, test, 1.0)


def test_the_journal_is_bounded_by_bytes_and_evicts_the_oldest_of_all_test_ids() -> None:
    kept = Journal(max_bytes=10_000)
    first = record("a", b"1" * 3000)
    assert kept.add(first)
    for i in range(6):
        kept.add(record("ab"[i % 2], b"2" * 3000))
    assert kept.nbytes <= 10_000 and len(kept) == 2  # ~3.6 KB an entry: two fit
    assert first not in kept.records("a")
    assert kept.add(record("a", b"3" * 20_000)) is False  # larger than the whole budget: not kept
    assert len(kept) == 2 and kept.nbytes <= 10_000
    kept.clear("a")
    kept.clear("b")
    assert len(kept) == 0 and kept.nbytes == 0


def test_a_server_journal_keeps_at_most_its_share_of_cache_mb(default_cache_sizes: None) -> None:
    settings = Settings(cache_mb=1)
    budget = settings.cache_bytes("journal")
    with running(settings) as url, sdk(url, "bounded") as client:
        # An entry larger than the journal's whole share is not kept.
        client.chat.completions.create(model="gpt-sim-1", messages=[{"role": "user", "content": "y" * budget}])
        assert journal(url, "bounded") == []
        for i in range(60):
            client.embeddings.create(model="gpt-sim-1", input=f"{i} " + "z " * 1000)
        entries = journal(url, "bounded")
    assert 0 < len(entries) < 60
    assert entries[-1]["body"]["input"].startswith("59 ")  # the newest kept, the oldest evicted
    assert sum(len(json.dumps(e["body"])) for e in entries) <= budget


def test_no_journal_answers_404_naming_the_flag() -> None:
    with running(Settings(journal=False)) as url:
        httpx.get(url + "/models")
        r = httpx.get(root(url) + "/_simulator/requests")
    assert r.status_code == 404 and "--no-journal" in r.json()["error"]["message"]
