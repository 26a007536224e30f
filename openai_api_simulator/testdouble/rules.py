"""Scripted answers: the rule format, read from a file (`serve --rules`) or an admin request, and checked once.

A rule says which requests it answers (`match`) and with what (`answer`, or a `sequence` of answers for the
calls it answers in turn)::

    rules:
      - id: weather                      # optional: "rule-1", "rule-2", ... by position
        match: {endpoint: chat.completions, last_user: weather, tool: get_weather}
        sequence:
          - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
          - content: "It is 18°C in Paris."

Everything is checked here, when the rules are loaded, so a mistake is an error naming its place
(``rules[1].sequence[0].tool_calls[0].arguments``) before any test runs, never a wrong answer in one: unknown
keys, types, regexes (compiled through `pattern.safe_pattern`, which refuses the catastrophic ones), and a tool
call's arguments against a `tool_schema` given beside it. What only the request can tell (the tool's own
`parameters`, the output schema) is checked when the answer is served (`fake.chat.scripted_answer`).
Matching and the per-test books are in `matching`; the format is documented in docs/fake-model.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.fake import schema
from openai_api_simulator.fake.budget import Budget, BudgetExceeded
from openai_api_simulator.fake.chat import Script, ScriptedCall
from openai_api_simulator.fake.schema.pattern import SafePattern, UnsafePattern, safe_pattern
from openai_api_simulator.fake.schema.validate import Checker

# The names a rule uses for the endpoints (OpenAI's resource names) → the app's endpoint names.
ENDPOINT_NAMES: Final[Mapping[str, str]] = {
    "chat.completions": "chat/completions",
    "chat/completions": "chat/completions",
    "completions": "completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "messages": "messages",  # Anthropic's Messages API
}
FINISH_REASONS: Final = ("stop", "length", "tool_calls", "content_filter")
# A rule id appears in URLs (`DELETE /_simulator/rules/{id}`) and in the journal: short and URL-safe.
_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # OpenAI's rule for function names
# A sequence longer than this is a generated script, better written as several rules with `call`.
MAX_SEQUENCE: Final = 1_000
_RULE_KEYS: Final = ("id", "match", "answer", "sequence")
_MATCH_KEYS: Final = ("endpoint", "model", "last_user", "tool", "tool_result", "tool_schema", "header", "call")
_ANSWER_KEYS: Final = ("content", "tool_calls", "json", "error", "latency_ms", "tokens_per_second", "finish_reason")
_KINDS: Final = ("content", "tool_calls", "json", "error")


class RuleError(ValueError):
    """A rule is malformed; `path` names the place (``rules[0].match.call``), `str()` says what is wrong."""

    def __init__(self, path: str, reason: str, *, source: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.source = source  # the file, when the rules come from one
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {reason}" if path else f"{where}{reason}")


@dataclass(frozen=True)
class ErrorAnswer:
    """An HTTP error in OpenAI's shape; type and code default to OpenAI's for the status."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None  # seconds, sent as Retry-After with 429 and 503


@dataclass(frozen=True)
class Answer:
    """One answer: a `Script` for the fake to serve (None: the generator's own answer), or an error; timing."""

    script: Script | None = None
    error: ErrorAnswer | None = None
    latency_ms: float | None = None
    tokens_per_second: float | None = None


@dataclass(frozen=True)
class TextMatch:
    """`last_user`: a case-insensitive substring, or a regex searched for (case-sensitive unless it says ``(?i)``)."""

    contains: str | None = None
    regex: SafePattern | None = None

    def matches(self, text: str) -> bool:
        if self.contains is not None:
            return self.contains.casefold() in text.casefold()
        assert self.regex is not None
        return self.regex.search(text)  # UnsafePattern for a text too long for it: `matching` says so


@dataclass(frozen=True)
class Match:
    """The conditions of a rule; None (or empty) for one not given. All given must hold."""

    endpoints: frozenset[str] | None = None  # app endpoint names ("chat/completions")
    models: frozenset[str] | None = None
    last_user: TextMatch | None = None
    tool: str | None = None
    tool_result: bool | str | None = None  # True: any tool result; a name: a result of that tool
    headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, value)
    calls: frozenset[int] | None = None  # the rule's Nth matching call (1-based)


@dataclass(frozen=True)
class Rule:
    id: str
    match: Match
    answers: tuple[Answer, ...]  # one, or a sequence: the k-th call answered gets the k-th, the last repeats
    source: Mapping[str, Any]  # the rule as written (with its id), for `GET /_simulator/rules`

    def answer_for(self, answered_before: int) -> Answer:
        return self.answers[min(answered_before, len(self.answers) - 1)]


def load_rules(path: str | Path) -> tuple[Rule, ...]:
    """The rules of a `.yaml`, `.yml` or `.json` file (``{"rules": [...]}``); `RuleError` naming the file."""
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise RuleError("", "a rules file must end in .yaml, .yml or .json", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError("", f"cannot read the rules file ({exc})", source=source) from None
    if suffix in (".yaml", ".yml"):
        import yaml  # only when a YAML file is given: the import costs ~20 ms of every start otherwise

        try:
            doc = yaml.safe_load(text)  # safe_load: a rules file can never build Python objects
        except yaml.YAMLError as exc:
            raise RuleError("", f"not valid YAML ({exc})".replace("\n", " "), source=source) from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RuleError("", f"not valid JSON ({exc})", source=source) from None
    try:
        return parse_document(doc, file=True)
    except RuleError as exc:
        raise RuleError(exc.path, exc.reason, source=source) from None


def parse_document(
    doc: Any, *, file: bool = False, taken: Iterable[str] = (), first_number: int = 1
) -> tuple[Rule, ...]:
    """Rules from ``{"rules": [...]}`` (or, unless `file`, one rule object), with ids not in `taken`.

    Rules without an id get ``rule-N``, counting from `first_number` and skipping ids in use.
    """
    if isinstance(doc, Mapping) and "rules" in doc:
        _known_keys(doc, ("rules",), "")
        items = doc["rules"]
        if not isinstance(items, list):
            raise RuleError("rules", f"must be a list of rules, got {_kind(items)}")
    elif isinstance(doc, Mapping) and not file:
        items = [doc]
    else:
        raise RuleError("", 'expected an object with a "rules" list' + ("" if file else ", or one rule object"))
    used = set(taken)
    number = first_number
    rules: list[Rule] = []
    explicit = [item.get("id") for item in items if isinstance(item, Mapping)]
    for i, item in enumerate(items):
        path = f"rules[{i}]"
        rule_id = item.get("id") if isinstance(item, Mapping) else None
        if rule_id is None:
            number = max(number, first_number + i)  # by position: the third rule is "rule-3" when it is free
            while f"rule-{number}" in used or f"rule-{number}" in explicit:
                number += 1
            rule_id = f"rule-{number}"
            number += 1
        rule = parse_rule(item, path, rule_id)
        if rule.id in used:
            raise RuleError(f"{path}.id", f"the id '{rule.id}' is already taken in this scope")
        used.add(rule.id)
        rules.append(rule)
    return tuple(rules)


def parse_rule(item: Any, path: str, rule_id: Any) -> Rule:
    if not isinstance(item, Mapping):
        raise RuleError(path, f"must be an object, got {_kind(item)}")
    _known_keys(item, _RULE_KEYS, path)
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise RuleError(f"{path}.id", "must be 1 to 100 letters, digits or _.:- characters")
    match_doc = item.get("match", {})
    if not isinstance(match_doc, Mapping):
        raise RuleError(f"{path}.match", f"must be an object, got {_kind(match_doc)}")
    match, schemas = _parse_match(match_doc, f"{path}.match")
    if ("answer" in item) == ("sequence" in item):
        raise RuleError(path, "needs exactly one of 'answer' or 'sequence'")
    if "answer" in item:
        docs, paths = [item["answer"]], [f"{path}.answer"]
    else:
        sequence = item["sequence"]
        if not isinstance(sequence, list) or not sequence:
            raise RuleError(f"{path}.sequence", "must be a non-empty list of answers")
        if len(sequence) > MAX_SEQUENCE:
            raise RuleError(f"{path}.sequence", f"has {len(sequence):,} answers; the limit is {MAX_SEQUENCE:,}")
        docs, paths = sequence, [f"{path}.sequence[{k}]" for k in range(len(sequence))]
    answers = tuple(_parse_answer(doc, p, rule_id, schemas) for doc, p in zip(docs, paths, strict=True))
    if match.endpoints == frozenset({"embeddings"}):
        for answer, p in zip(answers, paths, strict=True):
            if answer.script is not None:
                raise RuleError(p, "an embeddings rule answers only with error, latency_ms or tokens_per_second")
    return Rule(rule_id, match, answers, {"id": rule_id, **{k: v for k, v in item.items() if k != "id"}})


def _parse_match(doc: Mapping[str, Any], path: str) -> tuple[Match, dict[str, Any]]:
    """The conditions, and the `tool_schema` (by tool name) the rule's tool calls are checked against."""
    _known_keys(doc, _MATCH_KEYS, path)
    endpoints = None
    if "endpoint" in doc:
        names = _strings(doc["endpoint"], f"{path}.endpoint")
        for name in names:
            if name not in ENDPOINT_NAMES:
                raise RuleError(
                    f"{path}.endpoint",
                    f"unknown endpoint {name!r}; use chat.completions, completions, responses, embeddings or messages",
                )
        endpoints = frozenset(ENDPOINT_NAMES[name] for name in names)
    models = frozenset(_strings(doc["model"], f"{path}.model")) if "model" in doc else None
    last_user = _parse_text(doc["last_user"], f"{path}.last_user") if "last_user" in doc else None
    tool = None
    if "tool" in doc:
        tool = _string(doc["tool"], f"{path}.tool")
    tool_result = doc.get("tool_result")
    if tool_result is not None and not isinstance(tool_result, (bool, str)):
        raise RuleError(f"{path}.tool_result", f"must be true, false or a tool name, got {_kind(tool_result)}")
    headers: list[tuple[str, str]] = []
    if "header" in doc:
        raw = doc["header"]
        if not isinstance(raw, Mapping) or not raw:
            raise RuleError(f"{path}.header", "must be a non-empty object of header names and values")
        for name, value in raw.items():
            if not isinstance(value, str):
                raise RuleError(f"{path}.header.{name}", f"must be a string, got {_kind(value)}")
            headers.append((str(name).lower(), value))
    calls = None
    if "call" in doc:
        raw_calls = doc["call"]
        items = raw_calls if isinstance(raw_calls, list) else [raw_calls]
        if not items or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in items):
            raise RuleError(f"{path}.call", "must be a call number (1 for the first) or a non-empty list of them")
        calls = frozenset(items)
    schemas: dict[str, Any] = {}
    if "tool_schema" in doc:
        if tool is None:
            raise RuleError(f"{path}.tool_schema", "needs 'tool': the name of the tool whose parameters it is")
        schemas[tool] = _parse_schema(doc["tool_schema"], f"{path}.tool_schema")
    match = Match(endpoints, models, last_user, tool, tool_result, tuple(headers), calls)
    return match, schemas


def _parse_text(doc: Any, path: str) -> TextMatch:
    if isinstance(doc, str):
        return TextMatch(contains=doc)
    if not isinstance(doc, Mapping) or len(doc) != 1 or next(iter(doc)) not in ("contains", "regex"):
        raise RuleError(path, "must be a string, {contains: TEXT} or {regex: PATTERN}")
    if "contains" in doc:
        return TextMatch(contains=_string(doc["contains"], f"{path}.contains"))
    source = _string(doc["regex"], f"{path}.regex")
    try:
        return TextMatch(regex=safe_pattern(source))
    except re.error as exc:
        raise RuleError(f"{path}.regex", f"not a valid regex ({exc})") from None
    except UnsafePattern as exc:
        raise RuleError(f"{path}.regex", str(exc)) from None


def _parse_schema(doc: Any, path: str) -> Any:
    if not isinstance(doc, Mapping):
        raise RuleError(path, f"must be a JSON Schema object, got {_kind(doc)}")
    _json_value(doc, path)
    try:
        schema.validate_schema_supported(dict(doc), Budget())
    except schema.SchemaError as exc:
        raise RuleError(path, f"not a usable JSON Schema ({exc})") from None
    except BudgetExceeded as exc:
        raise RuleError(path, f"too large a schema ({exc.reason})") from None
    return doc


def _parse_answer(doc: Any, path: str, rule_id: str, schemas: Mapping[str, Any]) -> Answer:
    if not isinstance(doc, Mapping):
        raise RuleError(path, f"must be an object, got {_kind(doc)}")
    _known_keys(doc, _ANSWER_KEYS, path)
    kinds = [kind for kind in _KINDS if kind in doc]
    if len(kinds) > 1:
        raise RuleError(path, f"has {' and '.join(kinds)}; an answer is at most one of {', '.join(_KINDS)}")
    latency = _number(doc, "latency_ms", path, 0, limits.MAX_LATENCY_MS)
    rate = _number(doc, "tokens_per_second", path, limits.MIN_TOKENS_PER_SECOND, limits.MAX_TOKENS_PER_SECOND)
    finish = doc.get("finish_reason")
    if finish is not None and finish not in FINISH_REASONS:
        raise RuleError(f"{path}.finish_reason", f"must be one of {', '.join(FINISH_REASONS)}, got {finish!r}")
    if finish is not None and kinds in ([], ["error"]):
        raise RuleError(f"{path}.finish_reason", "applies to a content, tool_calls or json answer")
    if "error" in doc:
        return Answer(error=_parse_error(doc["error"], f"{path}.error"), latency_ms=latency, tokens_per_second=rate)
    script = None
    if "content" in doc:
        script = Script(rule_id, content=_string(doc["content"], f"{path}.content", empty=True), finish_reason=finish)
    elif "tool_calls" in doc:
        calls = _parse_calls(doc["tool_calls"], f"{path}.tool_calls", schemas)
        script = Script(rule_id, tool_calls=calls, finish_reason=finish)
    elif "json" in doc:
        _json_value(doc["json"], f"{path}.json")
        script = Script(rule_id, json=doc["json"], is_json=True, finish_reason=finish)
    return Answer(script=script, latency_ms=latency, tokens_per_second=rate)


def _parse_calls(doc: Any, path: str, schemas: Mapping[str, Any]) -> tuple[ScriptedCall, ...]:
    if not isinstance(doc, list) or not doc:
        raise RuleError(path, "must be a non-empty list of {name, arguments}")
    calls = []
    for k, item in enumerate(doc):
        where = f"{path}[{k}]"
        if not isinstance(item, Mapping):
            raise RuleError(where, f"must be an object with name and arguments, got {_kind(item)}")
        _known_keys(item, ("name", "arguments", "tool_schema"), where)
        if "name" not in item:
            raise RuleError(where, "needs 'name': the tool to call")
        name = _string(item["name"], f"{where}.name")
        if not _TOOL_NAME.fullmatch(name):
            raise RuleError(f"{where}.name", "must match ^[a-zA-Z0-9_-]{1,64}$, as OpenAI's function names")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise RuleError(f"{where}.arguments", f"must be an object, got {_kind(arguments)}")
        _json_value(arguments, f"{where}.arguments")
        schema_doc = (
            _parse_schema(item["tool_schema"], f"{where}.tool_schema") if "tool_schema" in item else schemas.get(name)
        )
        if schema_doc is not None:
            try:
                error = Checker(schema_doc).error(arguments, schema_doc, "#")
            except schema.SchemaError as exc:
                error = str(exc)
            if error is not None:
                raise RuleError(f"{where}.arguments", f"do not validate against the tool_schema: {error}")
        calls.append(ScriptedCall(name, arguments))
    return tuple(calls)


def _parse_error(doc: Any, path: str) -> ErrorAnswer:
    if not isinstance(doc, Mapping):
        raise RuleError(path, f"must be an object with a status, got {_kind(doc)}")
    _known_keys(doc, ("status", "message", "type", "code", "retry_after"), path)
    status = doc.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise RuleError(f"{path}.status", "must be an HTTP error status from 400 to 599")
    texts = {}
    for key in ("message", "type", "code"):
        if doc.get(key) is not None:
            texts[key] = _string(doc[key], f"{path}.{key}")
    retry = _number(doc, "retry_after", path, 0, 86_400)
    return ErrorAnswer(status, texts.get("message"), texts.get("type"), texts.get("code"), retry)


def _known_keys(doc: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    for key in doc:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise RuleError(where, f"unknown key; expected one of {', '.join(known)}")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _string(value: Any, path: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RuleError(path, f"must be a string, got {_kind(value)}")
    if not value and not empty:
        raise RuleError(path, "must not be empty")
    return value


def _strings(value: Any, path: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise RuleError(path, "must be a string or a non-empty list of strings")
    return [_string(item, f"{path}[{k}]" if isinstance(value, list) else path) for k, item in enumerate(items)]


def _number(doc: Mapping[str, Any], key: str, path: str, lo: float, hi: float) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (lo <= value <= hi)
    if not ok:
        raise RuleError(f"{path}.{key}", f"must be a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _json_value(value: Any, path: str) -> None:
    """Refuse what JSON cannot carry: YAML dates, non-string keys, NaN (`yaml.safe_load` reads all three)."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RuleError(path, "must be a finite number (JSON has no NaN or Infinity)")
        return
    if isinstance(value, list):
        for k, item in enumerate(value):
            _json_value(item, f"{path}[{k}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RuleError(path, f"has the key {key!r}, which is not a string (quote it in YAML)")
            _json_value(item, f"{path}.{key}")
        return
    raise RuleError(path, f"must be a JSON value, got {type(value).__name__} (quote it in YAML)")
