"""Typed readers for JSON request fields that raise OpenAI-shaped 400s naming the offending `param`.

OpenAI's wording is kept ("Missing required parameter", "Invalid type for 'n': expected an integer, but got
a string instead.") so client code that matches on it behaves the same against the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from openai_api_simulator import limits
from openai_api_simulator.errors import InvalidRequest

T = TypeVar("T")
_MISSING: Any = object()

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def describe(value: Any) -> str:
    """OpenAI's word for a JSON value's type: "an integer", "a string", "null"."""
    if value is None:
        return "null"
    # bool before int: True is an int to isinstance, and OpenAI calls it a boolean.
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return _TYPE_NAMES[kind]
    return type(value).__name__


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def wrong_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {describe(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {message}", param=param, code="invalid_value")


def join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def get_str(
    body: Mapping[str, Any],
    key: str,
    *,
    parent: str = "",
    required: bool = False,
    default: str | None = None,
    nullable: bool = True,
) -> str | None:
    param = join(parent, key)
    value = body.get(key, _MISSING)
    if value is _MISSING or (value is None and nullable and not required):
        if required:
            raise missing(param)
        return default
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    return value


def require_str(body: Mapping[str, Any], key: str, *, parent: str = "") -> str:
    value = get_str(body, key, parent=parent, required=True)
    assert value is not None
    if not value:
        raise invalid_value(join(parent, key), "expected a non-empty string.")
    return value


def get_bool(body: Mapping[str, Any], key: str, default: bool, *, parent: str = "") -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise wrong_type(join(parent, key), "a boolean", value)
    return value


def get_int(
    body: Mapping[str, Any],
    key: str,
    *,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
    parent: str = "",
) -> int | None:
    param = join(parent, key)
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong_type(param, "an integer", value)
    if isinstance(value, float):
        if not value.is_integer():
            raise wrong_type(param, "an integer", value)
        value = int(value)
    if lo is not None and value < lo:
        raise invalid_value(param, f"integer below minimum value. Expected a value >= {lo}, but got {value} instead.")
    if hi is not None and value > hi:
        raise invalid_value(param, f"integer above maximum value. Expected a value <= {hi}, but got {value} instead.")
    return value


def get_number(body: Mapping[str, Any], key: str, *, lo: float, hi: float, parent: str = "") -> float | None:
    param = join(parent, key)
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise wrong_type(param, "a number", value)
    if not lo <= value <= hi:
        raise invalid_value(param, f"expected a number from {lo:g} to {hi:g}, but got {value} instead.")
    return float(value)


def _get_container(body: Mapping[str, Any], key: str, kind: type[T], parent: str, required: bool) -> T | None:
    param = join(parent, key)
    value = body.get(key)
    if value is None:
        if required:
            raise missing(param)
        return None
    if not isinstance(value, kind):
        raise wrong_type(param, _TYPE_NAMES[kind], value)
    return value


def get_object(body: Mapping[str, Any], key: str, *, parent: str = "", required: bool = False) -> dict[str, Any] | None:
    return _get_container(body, key, dict, parent, required)


def get_list(body: Mapping[str, Any], key: str, *, parent: str = "", required: bool = False) -> list[Any] | None:
    return _get_container(body, key, list, parent, required)


def get_stop(body: Mapping[str, Any]) -> list[str]:
    """`stop`: a string or up to `limits.MAX_STOP` strings (OpenAI's limit, 4)."""
    value = body.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        raise wrong_type("stop", "a string or an array of strings", value)
    if len(value) > limits.MAX_STOP:
        raise invalid_value(
            "stop", f"array too long. Expected at most {limits.MAX_STOP} items, but got {len(value)} instead."
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise wrong_type(f"stop[{i}]", "a string", item)
    return [s for s in value if s]


def get_stream_options(body: Mapping[str, Any], stream: bool) -> bool:
    """Whether `stream_options.include_usage` asks for a usage chunk."""
    options = get_object(body, "stream_options")
    if options is None:
        return False
    if not stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    return get_bool(options, "include_usage", False, parent="stream_options")
