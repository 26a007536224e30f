"""`api.validate`: each typed reader's value, and its 400 in OpenAI's wording with `param` and `code`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from openai_api_simulator.api import validate as v
from openai_api_simulator.errors import InvalidRequest


def error(call: Callable[[], Any]) -> tuple[str, str | None, str | None]:
    with pytest.raises(InvalidRequest) as info:
        call()
    assert info.value.status == 400 and info.value.type == "invalid_request_error"
    return info.value.message, info.value.param, info.value.code


@pytest.mark.parametrize(
    ("value", "word"),
    [
        (None, "null"),
        (True, "a boolean"),
        (0, "an integer"),
        (1.5, "a number"),
        ("", "a string"),
        ([], "an array"),
        ({}, "an object"),
        ((1,), "tuple"),
    ],
)
def test_describe_uses_openais_type_words(value: Any, word: str) -> None:
    assert v.describe(value) == word


def test_get_str_missing_wrong_type_and_null() -> None:
    assert v.get_str({}, "model", default="d") == "d"
    assert v.get_str({"model": None}, "model", default="d") == "d"
    assert error(lambda: v.get_str({}, "role", parent="messages[0]", required=True)) == (
        "Missing required parameter: 'messages[0].role'.",
        "messages[0].role",
        "missing_required_parameter",
    )
    assert error(lambda: v.get_str({"model": 4}, "model")) == (
        "Invalid type for 'model': expected a string, but got an integer instead.",
        "model",
        "invalid_type",
    )
    assert error(lambda: v.get_str({"name": None}, "name", nullable=False))[0] == (
        "Invalid type for 'name': expected a string, but got null instead."
    )
    # A required field sent as null is a wrong type, not a missing one.
    assert error(lambda: v.require_str({"model": None}, "model")) == (
        "Invalid type for 'model': expected a string, but got null instead.",
        "model",
        "invalid_type",
    )


def test_require_str_refuses_an_empty_string() -> None:
    assert v.require_str({"model": "m"}, "model") == "m"
    assert error(lambda: v.require_str({"model": ""}, "model")) == (
        "Invalid value for 'model': expected a non-empty string.",
        "model",
        "invalid_value",
    )


def test_get_bool_accepts_only_booleans() -> None:
    assert v.get_bool({}, "stream", True) is True
    assert v.get_bool({"stream": False}, "stream", True) is False
    assert error(lambda: v.get_bool({"stream": 1}, "stream", False)) == (
        "Invalid type for 'stream': expected a boolean, but got an integer instead.",
        "stream",
        "invalid_type",
    )
    assert error(lambda: v.get_bool({"strict": "true"}, "strict", False, parent="tools[0].function"))[1] == (
        "tools[0].function.strict"
    )


def test_get_int_accepts_whole_floats_and_rejects_bools_and_fractions() -> None:
    assert v.get_int({}, "n", default=1) == 1
    whole = v.get_int({"n": 3.0}, "n")
    assert whole == 3 and type(whole) is int
    for bad, word in ((True, "a boolean"), (2.5, "a number"), ("3", "a string"), ([3], "an array")):
        assert error(partial(v.get_int, {"n": bad}, "n")) == (
            f"Invalid type for 'n': expected an integer, but got {word} instead.",
            "n",
            "invalid_type",
        )


def test_get_int_bounds_are_inclusive_and_worded_like_openai() -> None:
    assert v.get_int({"n": 1}, "n", lo=1, hi=128) == 1
    assert v.get_int({"n": 128}, "n", lo=1, hi=128) == 128
    assert error(lambda: v.get_int({"n": 0}, "n", lo=1)) == (
        "Invalid value for 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
        "n",
        "invalid_value",
    )
    assert error(lambda: v.get_int({"n": 200.0}, "n", hi=128))[0] == (
        "Invalid value for 'n': integer above maximum value. Expected a value <= 128, but got 200 instead."
    )


def test_get_number_range_and_non_finite_values() -> None:
    assert v.get_number({}, "temperature", lo=0, hi=2) is None
    value = v.get_number({"temperature": 1}, "temperature", lo=0, hi=2)
    assert value == 1.0 and type(value) is float
    assert error(lambda: v.get_number({"temperature": 2.5}, "temperature", lo=0, hi=2)) == (
        "Invalid value for 'temperature': expected a number from 0 to 2, but got 2.5 instead.",
        "temperature",
        "invalid_value",
    )
    assert error(lambda: v.get_number({"top_p": -0.5}, "top_p", lo=0, hi=1))[0].endswith("got -0.5 instead.")
    for bad in (float("nan"), float("inf"), float("-inf"), False, "1"):
        assert error(partial(v.get_number, {"top_p": bad}, "top_p", lo=0, hi=1))[1:] == ("top_p", "invalid_type")


def test_get_object_and_get_list() -> None:
    assert v.get_object({"o": {"a": 1}}, "o") == {"a": 1}
    assert v.get_list({}, "tools") is None
    assert error(lambda: v.get_list({}, "messages", required=True))[:2] == (
        "Missing required parameter: 'messages'.",
        "messages",
    )
    assert error(lambda: v.get_object({"response_format": []}, "response_format")) == (
        "Invalid type for 'response_format': expected an object, but got an array instead.",
        "response_format",
        "invalid_type",
    )
    assert error(lambda: v.get_list({"content": "x"}, "content", parent="messages[2]"))[1] == "messages[2].content"


def test_get_stop_forms_and_limits() -> None:
    assert v.get_stop({}) == []
    assert v.get_stop({"stop": ""}) == []
    assert v.get_stop({"stop": "END"}) == ["END"]
    assert v.get_stop({"stop": ["a", "", "b", "c"]}) == ["a", "b", "c"]
    assert error(lambda: v.get_stop({"stop": ["a", "b", "c", "d", "e"]})) == (
        "Invalid value for 'stop': array too long. Expected at most 4 items, but got 5 instead.",
        "stop",
        "invalid_value",
    )
    assert error(lambda: v.get_stop({"stop": ["a", 3]})) == (
        "Invalid type for 'stop[1]': expected a string, but got an integer instead.",
        "stop[1]",
        "invalid_type",
    )
    assert error(lambda: v.get_stop({"stop": {"s": 1}}))[0] == (
        "Invalid type for 'stop': expected a string or an array of strings, but got an object instead."
    )


def test_stream_options_only_with_stream() -> None:
    assert v.get_stream_options({}, stream=False) is False
    assert v.get_stream_options({"stream_options": {"include_usage": True}}, stream=True) is True
    assert v.get_stream_options({"stream_options": {}}, stream=True) is False
    assert error(lambda: v.get_stream_options({"stream_options": {"include_usage": True}}, stream=False)) == (
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options",
        "invalid_value",
    )
    bad = {"stream_options": {"include_usage": "yes"}}
    assert error(lambda: v.get_stream_options(bad, stream=True))[1] == "stream_options.include_usage"
    assert error(lambda: v.get_stream_options({"stream_options": True}, stream=True))[1:] == (
        "stream_options",
        "invalid_type",
    )


def test_join_builds_dotted_and_indexed_params() -> None:
    assert v.join("", "model") == "model"
    assert v.join("tools[0]", "function") == "tools[0].function"
    assert v.join("messages", 3) == "messages[3]"
