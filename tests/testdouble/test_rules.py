"""The rule format: loading from YAML and JSON, and every mistake refused at load time with its place named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openai_api_simulator.cli import app
from openai_api_simulator.testdouble.matching import MAX_RULES_PER_SCOPE, RuleBook
from openai_api_simulator.testdouble.rules import RuleError, load_rules, parse_document

WEATHER_YAML = """\
rules:
  - id: weather
    match:
      endpoint: chat.completions
      last_user: {regex: "(?i)weather in \\\\w+"}
      tool: get_weather
    sequence:
      - tool_calls: [{name: get_weather, arguments: {city: Paris}}]
      - content: "It is 18°C in Paris."
  - match: {model: [gpt-sim-1, gpt-4o], call: [1, 3]}
    answer: {error: {status: 429, retry_after: 2}, latency_ms: 10}
"""


def test_a_yaml_file_loads_with_default_ids(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(WEATHER_YAML, encoding="utf-8")
    weather, second = load_rules(path)
    assert weather.id == "weather" and second.id == "rule-2"
    assert weather.match.endpoints == frozenset({"chat/completions"})
    assert weather.match.last_user is not None and weather.match.last_user.matches("The Weather in Paris?")
    first, then = weather.answers
    assert first.script is not None and first.script.tool_calls[0].arguments == {"city": "Paris"}
    assert then.script is not None and then.script.content == "It is 18°C in Paris."
    assert weather.answer_for(0) is first and weather.answer_for(5) is then  # the last one repeats
    assert second.match.calls == frozenset({1, 3}) and second.match.models == frozenset({"gpt-sim-1", "gpt-4o"})
    assert second.answers[0].error is not None and second.answers[0].error.retry_after == 2
    assert second.answers[0].latency_ms == 10


def test_a_json_file_loads_the_same(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "rules.json"
    path.write_text(json.dumps(yaml.safe_load(WEATHER_YAML)), encoding="utf-8")
    assert [rule.id for rule in load_rules(path)] == ["weather", "rule-2"]


BAD: list[tuple[Any, str, str]] = [
    ({"rules": [{"answer": {"content": "x"}, "when": {}}]}, "rules[0].when", "unknown key"),
    ({"rules": [{"match": {"endpoint": "chat"}, "answer": {"content": "x"}}]}, "rules[0].match.endpoint", "unknown"),
    ({"rules": [{"match": {"call": 0}, "answer": {"content": "x"}}]}, "rules[0].match.call", "call number"),
    ({"rules": [{"match": {"last_user": {"regex": r"(a|aa)+\1"}}, "answer": {}}]}, "rules[0].match.last_user.regex",
     "back"),
    ({"rules": [{"match": {"last_user": {"regex": "("}}, "answer": {}}]}, "rules[0].match.last_user.regex", "regex"),
    ({"rules": [{"answer": {"content": 3}}]}, "rules[0].answer.content", "must be a string"),
    ({"rules": [{"answer": {"content": "a", "json": {}}}]}, "rules[0].answer", "at most one"),
    ({"rules": [{"match": {}}]}, "rules[0]", "exactly one of 'answer' or 'sequence'"),
    ({"rules": [{"sequence": [{"content": "a"}, {"tool_calls": [{"name": "f", "arguments": [1]}]}]}]},
     "rules[0].sequence[1].tool_calls[0].arguments", "must be an object"),
    ({"rules": [{"answer": {"tool_calls": [{"name": "get_weather", "arguments": {"city": 5},
                                            "tool_schema": {"type": "object",
                                                            "properties": {"city": {"type": "string"}}}}]}}]},
     "rules[0].answer.tool_calls[0].arguments", "do not validate"),
    ({"rules": [{"match": {"tool": "get_weather", "tool_schema": {"required": ["city"]}},
                 "answer": {"tool_calls": [{"name": "get_weather", "arguments": {}}]}}]},
     "rules[0].answer.tool_calls[0].arguments", "'city' is a required property"),
    ({"rules": [{"answer": {"error": {"status": 200}}}]}, "rules[0].answer.error.status", "400 to 599"),
    ({"rules": [{"answer": {"latency_ms": -1}}]}, "rules[0].answer.latency_ms", "from 0"),
    ({"rules": [{"answer": {"content": "a", "finish_reason": "done"}}]}, "rules[0].answer.finish_reason", "one of"),
    ({"rules": [{"match": {"endpoint": "embeddings"}, "answer": {"content": "a"}}]}, "rules[0].answer", "embeddings"),
    ({"rules": [{"id": "a b", "answer": {}}]}, "rules[0].id", "letters"),
    ({"rules": [{"id": "x", "answer": {}}, {"id": "x", "answer": {}}]}, "rules[1].id", "already taken"),
    ({"rules": {"id": "x"}}, "rules", "must be a list"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "path", "reason"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_every_mistake_is_refused_naming_its_place(doc: Any, path: str, reason: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_document(doc)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value).startswith(path + ": ")


def test_a_yaml_date_or_a_bad_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    dated = tmp_path / "dated.yml"
    dated.write_text("rules:\n  - answer: {json: {day: 2024-01-01}}\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"dated\.yml: rules\[0\]\.answer\.json\.day: must be a JSON value"):
        load_rules(dated)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RuleError, match=r"broken\.yaml: not valid YAML"):
        load_rules(broken)
    with pytest.raises(RuleError, match=r"must end in \.yaml"):
        load_rules(tmp_path / "rules.txt")
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "missing.json")


def test_a_yaml_file_cannot_build_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("rules: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(RuleError, match="not valid YAML"):
        load_rules(path)


def test_serve_refuses_a_bad_rules_file_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - match: {cal: 1}\n    answer: {content: x}\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--port", "0", "--rules", str(path)])
    assert result.exit_code == 2
    assert "rules.yaml" in result.stderr and "rules[0].match.cal: unknown key" in result.stderr
    by_env = runner.invoke(app, ["serve", "--port", "0"], env={"OAS_RULES": str(path)})
    assert by_env.exit_code == 2 and "rules[0].match.cal" in by_env.stderr
    with_engine = runner.invoke(app, ["run", "--port", "0", "--offline", "--rules", str(path)])
    assert with_engine.exit_code == 2 and "rules[0].match.cal" in with_engine.stderr


def test_a_book_bounds_the_rules_of_a_scope_and_numbers_new_ones() -> None:
    book = RuleBook(parse_document({"rules": [{"answer": {"content": "server"}}]}, file=True))
    assert [r.id for r in book.add("t", {"answer": {"content": "a"}})] == ["rule-2"]  # rule-1 is the server's
    assert [r.id for r in book.add("t", {"rules": [{"answer": {}}, {"answer": {}}]})] == ["rule-3", "rule-4"]
    with pytest.raises(RuleError, match="already taken"):
        book.add("t", {"id": "rule-1", "answer": {}})
    with pytest.raises(RuleError, match="at most"):
        book.add("t", {"rules": [{"answer": {}}] * MAX_RULES_PER_SCOPE})
    assert book.reset("t") == 3 and book.has_rules("u")  # the server's rule applies everywhere
