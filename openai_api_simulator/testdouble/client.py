"""`Simulator`: the admin API of a running simulator, as a test reads it.

    sim = Simulator("http://127.0.0.1:3080/v1", test_id="test_weather")
    sim.script(tool_call("get_weather", city="Paris"), text("It is 18°C in Paris."), tool="get_weather")
    client = sim.openai()              # an OpenAI client whose requests carry the test id
    ...                                # the code under test
    assert sim.requests[0]["body"]["tools"][0]["function"]["name"] == "get_weather"
    sim.reset()

It speaks plain HTTP (httpx) to `/_simulator/...` with the `X-Simulator-Test-Id` header, so it works against a
server in the test's process (`testing.running`), another process, or a service container alike. The
answers it builds are the JSON of the rule format (docs/testing.md), which tests in other languages send
themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from openai_api_simulator.testdouble.scope import PREFIX, TEST_ID_HEADER

if TYPE_CHECKING:
    import openai

Answer = dict[str, Any]


def text(content: str, **options: Any) -> Answer:
    """An answer that says `content` (options: `latency_ms`, `tokens_per_second`, `finish_reason`)."""
    return {"content": content, **options}


def tool_call(name: str, /, **arguments: Any) -> Answer:
    """An answer that calls the tool `name` with `arguments` (checked against the request's tool schema)."""
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def tool_calls(*calls: tuple[str, Mapping[str, Any]]) -> Answer:
    """An answer with several tool calls, each `(name, arguments)`."""
    return {"tool_calls": [{"name": name, "arguments": dict(arguments)} for name, arguments in calls]}


def structured(value: Any) -> Answer:
    """A structured-output answer (checked against the request's `response_format` schema)."""
    return {"json": value}


def error(status: int, message: str | None = None, *, retry_after: float | None = None, **fields: Any) -> Answer:
    """An answer that fails with `status` in the endpoint's error shape (`type`, `code` in `fields`)."""
    failure: dict[str, Any] = {"status": status, **fields}
    if message is not None:
        failure["message"] = message
    if retry_after is not None:
        failure["retry_after"] = retry_after
    return {"error": failure}


class SimulatorError(RuntimeError):
    """The admin API refused a call; the message is the server's."""


class Simulator:
    """One test's view of a running simulator: its rules, its journal, its reset (scoped by `test_id`)."""

    def __init__(self, base_url: str, *, test_id: str = "", api_key: str | None = None, timeout: float = 30.0) -> None:
        root = base_url.rstrip("/").removesuffix("/v1")
        self.base_url = root + "/v1"  # what an OpenAI client is given
        self.test_id = test_id
        self.api_key = api_key
        self.headers: dict[str, str] = {TEST_ID_HEADER: test_id} if test_id else {}
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=root + PREFIX, headers={**self.headers, **auth}, timeout=timeout)

    # ---- rules -------------------------------------------------------------------------------------

    def add_rules(self, rules: list[Mapping[str, Any]]) -> list[str]:
        """Add rules in the rule format; their ids."""
        added = self._call("POST", "/rules", json={"rules": list(rules)})
        return [rule["id"] for rule in added["rules"]]

    def on(self, **match: Any) -> Rule:
        """A rule matching `match` (endpoint, model, last_user, tool, tool_result, header, call), to answer."""
        return Rule(self, match)

    def script(self, *answers: Answer, id: str | None = None, **match: Any) -> str:
        """The k-th request matching `match` gets the k-th answer (the last one repeats); the rule's id."""
        if not answers:
            raise ValueError("script() needs at least one answer")
        rule: dict[str, Any] = {"match": match, "sequence": list(answers)}
        if id is not None:
            rule["id"] = id
        return self.add_rules([rule])[0]

    @property
    def rules(self) -> list[dict[str, Any]]:
        """The scope's rules as the server holds them, with how many calls each matched."""
        return list(self._call("GET", "/rules")["rules"])

    def clear_rules(self) -> None:
        self._call("DELETE", "/rules")

    # ---- the journal -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The scope's journal, oldest first: method, path, headers (secrets redacted), body, status, model,
        the rule that answered."""
        return list(self._call("GET", "/requests")["data"])

    def requests_to(self, path_suffix: str) -> list[dict[str, Any]]:
        """The journal entries whose path ends with `path_suffix` (e.g. "chat/completions")."""
        return [entry for entry in self.requests if entry["path"].endswith(path_suffix)]

    def reset(self) -> None:
        """Forget the scope's journal, rules and fault state."""
        self._call("POST", "/reset")

    # ---- clients -----------------------------------------------------------------------------------

    def openai(self, **options: Any) -> openai.OpenAI:
        """An `openai.OpenAI` client for this simulator whose requests carry the test id."""
        import openai

        headers = {**self.headers, **options.pop("default_headers", {})}
        options.setdefault("api_key", self.api_key or "sk-simulator")
        return openai.OpenAI(base_url=self.base_url, default_headers=headers, **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise SimulatorError(f"{method} {PREFIX}{path}: {response.status_code} {message}")
        return response.json() if response.content else None


class Rule:
    """`Simulator.on(...)`: a match waiting for its answer; each method adds the rule and returns its id."""

    def __init__(self, simulator: Simulator, match: Mapping[str, Any]) -> None:
        self._simulator = simulator
        self._match = dict(match)

    def answer(self, answer: Answer, *, id: str | None = None) -> str:
        rule: dict[str, Any] = {"match": self._match, "answer": answer}
        if id is not None:
            rule["id"] = id
        return self._simulator.add_rules([rule])[0]

    def reply(self, content: str, **options: Any) -> str:
        return self.answer(text(content, **options))

    def call(self, name: str, /, **arguments: Any) -> str:
        return self.answer(tool_call(name, **arguments))

    def json(self, value: Any) -> str:
        return self.answer(structured(value))

    def fail(self, status: int, message: str | None = None, *, retry_after: float | None = None) -> str:
        return self.answer(error(status, message, retry_after=retry_after))
