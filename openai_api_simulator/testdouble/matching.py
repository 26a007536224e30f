"""Which rule answers a request: the request's facts, the per-test books of rules and their call counters.

A `RuleBook` holds the server-wide rules (`serve --rules`) and, per test id (`scope.test_id`), the rules a
test added over the admin API. A request of scope S is matched against S's rules first, in the order they were
added, then against the server-wide ones; the first rule whose conditions all hold answers it. Call counters
are per scope too, server-wide rules included, so parallel tests each see their own "first call".

The matching reads the request body before the endpoint has checked it: every fact is read defensively (a
field of the wrong shape is simply absent) and the counters move only once the endpoint has accepted the
request (`Decision.commit`), so a malformed request never uses up a step of a sequence.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake.schema.pattern import UnsafePattern
from openai_api_simulator.testdouble.rules import Answer, Rule, RuleError, parse_document

# Bounds, so that a test suite that never resets cannot grow the server without limit. 1,000 rules is far more
# than a test scripts; 1,000 scopes is more tests than run at once on one server (a scope is dropped, least
# recently used first, only past that — its rules with it).
MAX_RULES_PER_SCOPE: Final = 1_000
MAX_SCOPES: Final = 1_000


@dataclass(frozen=True)
class Facts:
    """What rules match on, read once from a request."""

    endpoint: str
    model: str | None
    last_user: str
    tools: frozenset[str]
    tool_results: frozenset[str]  # names of the tools answered ("" where the call is not in the request)
    headers: Mapping[str, str]


def _text(content: Any) -> str:
    """A message's text: a string, or the text of its parts (joined as the endpoints join them)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def facts(endpoint: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Facts:
    model = body.get("model") if isinstance(body.get("model"), str) else None
    last_user = ""
    tools: set[str] = set()
    results: set[str] = set()
    if endpoint == "chat/completions":
        messages = _dicts(body.get("messages"))
        users = [m for m in messages if m.get("role") == "user"]
        last_user = _text(users[-1].get("content")) if users else ""
        for tool in _dicts(body.get("tools")):
            function = tool.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                tools.add(function["name"])
        called: dict[Any, str] = {}
        for m in messages:
            for call in _dicts(m.get("tool_calls")):
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    called[call.get("id")] = function["name"]
            if m.get("role") == "tool":
                results.add(called.get(m.get("tool_call_id"), ""))
            elif m.get("role") == "function":
                results.add(m["name"] if isinstance(m.get("name"), str) else "")
    elif endpoint == "responses":
        raw = body.get("input")
        items = _dicts(raw)
        if isinstance(raw, str):
            last_user = raw
        else:
            users = [i for i in items if i.get("type", "message") == "message" and i.get("role") == "user"]
            last_user = _text(users[-1].get("content")) if users else ""
        tools = {t["name"] for t in _dicts(body.get("tools")) if isinstance(t.get("name"), str)}
        called = {i.get("call_id"): i["name"] for i in items if i.get("type") == "function_call" and "name" in i}
        for item in items:
            if item.get("type") == "function_call_output":
                name = called.get(item.get("call_id"), "")
                results.add(name if isinstance(name, str) else "")
    elif endpoint in ("messages", "messages/count_tokens"):  # Anthropic's: tool uses and results are blocks
        messages = _dicts(body.get("messages"))
        users = [m for m in messages if m.get("role") == "user"]
        last_user = _text(users[-1].get("content")) if users else ""  # its text blocks (tool results have none)
        tools = {t["name"] for t in _dicts(body.get("tools")) if isinstance(t.get("name"), str)}
        blocks = [b for m in messages for b in _dicts(m.get("content"))]
        called = {b.get("id"): b["name"] for b in blocks if b.get("type") == "tool_use" and "name" in b}
        for block in blocks:
            if block.get("type") == "tool_result":
                name = called.get(block.get("tool_use_id"), "")
                results.add(name if isinstance(name, str) else "")
    else:  # completions `prompt`, embeddings `input`: a string or a list of them
        raw = body.get("prompt" if endpoint == "completions" else "input")
        if isinstance(raw, str):
            last_user = raw
        elif isinstance(raw, list):
            last_user = "\n".join(x for x in raw if isinstance(x, str))
    return Facts(endpoint, model, last_user, frozenset(tools), frozenset(results), headers)


def _holds(rule: Rule, request: Facts) -> bool:
    """Whether every condition of `rule` but `call` holds."""
    m = rule.match
    if m.endpoints is not None and request.endpoint not in m.endpoints:
        return False
    if m.models is not None and request.model not in m.models:
        return False
    if m.tool is not None and m.tool not in request.tools:
        return False
    if m.tool_result is not None:
        if isinstance(m.tool_result, bool):
            if m.tool_result != bool(request.tool_results):
                return False
        elif m.tool_result not in request.tool_results:
            return False
    for name, value in m.headers:
        if request.headers.get(name) != value:
            return False
    if m.last_user is not None:
        try:
            return m.last_user.matches(request.last_user)
        except UnsafePattern as exc:
            raise InvalidRequest(
                f"Rule '{rule.id}' cannot match this request's last user message: {exc}.",
                code="scripted_answer_invalid",
            ) from None
    return True


@dataclass
class _Scope:
    rules: list[Rule] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)  # requests that met a rule's conditions (but `call`)
    answered: dict[str, int] = field(default_factory=dict)  # requests a rule answered
    next_number: int = 1  # for the next "rule-N" id


@dataclass
class Decision:
    """What the rules say of one request: the rule that answers (None: the generator does) and its answer."""

    rule: Rule | None
    answer: Answer | None
    _scope: _Scope
    _seen: list[str]

    def commit(self) -> None:
        """Count the call (once the endpoint has accepted the request)."""
        for rule_id in self._seen:
            self._scope.seen[rule_id] = self._scope.seen.get(rule_id, 0) + 1
        if self.rule is not None:
            self._scope.answered[self.rule.id] = self._scope.answered.get(self.rule.id, 0) + 1


class RuleBook:
    """The server-wide rules and each scope's own (see the module docstring). All on the event loop: no locks."""

    def __init__(self, server_rules: Iterable[Rule] = ()) -> None:
        self.server: tuple[Rule, ...] = tuple(server_rules)
        self._server_ids = frozenset(rule.id for rule in self.server)
        self._scopes: OrderedDict[str, _Scope] = OrderedDict()
        self._scoped_rules = 0  # rules in all scopes, so `bool(book)` costs nothing on the request path

    def __bool__(self) -> bool:
        return bool(self.server) or self._scoped_rules > 0

    def has_rules(self, scope: str) -> bool:
        if self.server:
            return True
        own = self._scopes.get(scope)
        return own is not None and bool(own.rules)

    def _scope(self, scope: str) -> _Scope:
        state = self._scopes.get(scope)
        if state is None:
            state = self._scopes[scope] = _Scope()
            if len(self._scopes) > MAX_SCOPES:
                _, dropped = self._scopes.popitem(last=False)
                self._scoped_rules -= len(dropped.rules)
        else:
            self._scopes.move_to_end(scope)
        return state

    def decide(self, scope: str, endpoint: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Decision:
        state = self._scope(scope)
        request = facts(endpoint, body, headers)
        seen: list[str] = []
        for rule in (*state.rules, *self.server):
            if not _holds(rule, request):
                continue
            seen.append(rule.id)
            calls = rule.match.calls
            if calls is not None and state.seen.get(rule.id, 0) + 1 not in calls:
                continue
            return Decision(rule, rule.answer_for(state.answered.get(rule.id, 0)), state, seen)
        return Decision(None, None, state, seen)

    def add(self, scope: str, doc: Any) -> tuple[Rule, ...]:
        """Parse `doc` (``{"rules": [...]}`` or one rule) and add its rules to `scope`; `RuleError` if invalid."""
        state = self._scope(scope)
        taken = {*self._server_ids, *(rule.id for rule in state.rules)}
        rules = parse_document(doc, taken=taken, first_number=state.next_number)
        if len(state.rules) + len(rules) > MAX_RULES_PER_SCOPE:
            raise RuleError("rules", f"a test may hold at most {MAX_RULES_PER_SCOPE:,} rules")
        for rule in rules:
            if rule.id.startswith("rule-") and rule.id[5:].isdigit():
                state.next_number = max(state.next_number, int(rule.id[5:]) + 1)
        state.rules.extend(rules)
        self._scoped_rules += len(rules)
        return rules

    def listing(self, scope: str) -> list[dict[str, Any]]:
        """The rules that apply to `scope`, in matching order, with the calls each answered there."""
        state = self._scopes.get(scope) or _Scope()
        return [
            {
                "id": rule.id,
                "origin": origin,
                "calls": state.answered.get(rule.id, 0),
                "matched": state.seen.get(rule.id, 0),
                "rule": rule.source,
            }
            for origin, rules in (("test", state.rules), ("server", self.server))
            for rule in rules
        ]

    def is_server_rule(self, rule_id: str) -> bool:
        return rule_id in self._server_ids

    def delete(self, scope: str, rule_id: str) -> bool:
        """Remove one of `scope`'s own rules (and its counters); False when it has none of that id."""
        state = self._scopes.get(scope)
        if state is None:
            return False
        kept = [rule for rule in state.rules if rule.id != rule_id]
        if len(kept) == len(state.rules):
            return False
        state.rules = kept
        state.seen.pop(rule_id, None)
        state.answered.pop(rule_id, None)
        self._scoped_rules -= 1
        return True

    def reset(self, scope: str) -> int:
        """Forget `scope`'s rules and its call counters (server-wide rules start over there); how many rules."""
        state = self._scopes.pop(scope, None)
        if state is None:
            return 0
        self._scoped_rules -= len(state.rules)
        return len(state.rules)
