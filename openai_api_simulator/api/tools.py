"""Function tools, `tool_choice` and structured-output formats, read once for Chat and the Responses API.

The two APIs carry the same things in two layouts: Chat nests them (`tools[i].function.name`,
`tool_choice.function.name`, `response_format.json_schema.schema`), Responses flattens them (`tools[i].name`,
`tool_choice.name`, `text.format.schema`). `nested` picks the layout; rules and messages are shared, with
`param` naming the exact field in OpenAI's wording.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.api import caps
from openai_api_simulator.api import validate as v
from openai_api_simulator.errors import InvalidRequest
from openai_api_simulator.fake import chat, prompted, schema
from openai_api_simulator.fake.budget import Budget, BudgetExceeded

# OpenAI's rule for function and schema names.
_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FORMATS: Final = "'text', 'json_object' and 'json_schema'"


def check_schema(value: dict[str, Any], param: str, budget: Budget | None = None) -> None:
    """400 `invalid_schema` naming `param` for a JSON Schema the generator cannot honour, or one over the limits.

    The schema's work counts in the request's `budget`, whose deadline error then names `param`.
    """
    budget = budget if budget is not None else Budget()
    outer, budget.param = budget.param, param
    try:
        schema.validate_schema_supported(value, budget)
    except schema.SchemaError as exc:
        raise InvalidRequest(f"Invalid schema for '{param}': {exc}", param=param, code="invalid_schema") from None
    except BudgetExceeded as exc:
        raise InvalidRequest(
            f"Invalid schema for '{param}': {exc.reason}", param=param, code="invalid_schema"
        ) from None
    finally:
        budget.param = outer


def parse_function(function: dict[str, Any], param: str, budget: Budget | None = None) -> chat.Tool:
    """A function tool from its `name`, `description` and `parameters` (which default to an empty object)."""
    name = v.get_str(function, "name", parent=param, required=True) or ""
    if not _NAME.match(name):
        raise v.invalid_value(f"{param}.name", f"'{name}'. Function names must match ^[a-zA-Z0-9_-]{{1,64}}$.")
    description = v.get_str(function, "description", parent=param) or ""
    parameters = v.get_object(function, "parameters", parent=param)
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    check_schema(parameters, f"{param}.parameters", budget)
    return chat.Tool(name=name, description=description, parameters=parameters)


def parse_tools(body: dict[str, Any], *, nested: bool, budget: Budget | None = None) -> tuple[chat.Tool, ...]:
    """`tools`: function tools only, with distinct names, at most `limits.MAX_TOOLS` of them."""
    tools: list[chat.Tool] = []
    items = v.get_list(body, "tools") or []
    caps.array_length("tools", items, limits.MAX_TOOLS)
    for i, item in enumerate(items):
        param = f"tools[{i}]"
        if not isinstance(item, dict):
            raise v.wrong_type(param, "an object", item)
        kind = v.get_str(item, "type", parent=param, required=True)
        if kind != "function":
            raise v.invalid_value(f"{param}.type", f"'{kind}'. The simulator supports tools of type 'function'.")
        if nested:
            function = v.get_object(item, "function", parent=param, required=True) or {}
            tools.append(parse_function(function, f"{param}.function", budget))
        else:
            tools.append(parse_function(item, param, budget))
    names = [t.name for t in tools]
    for name in names:
        if names.count(name) > 1:
            raise InvalidRequest(
                f"Invalid 'tools': duplicate function name '{name}'.", param="tools", code="invalid_value"
            )
    return tuple(tools)


def parse_tool_choice(body: dict[str, Any], tools: Sequence[chat.Tool], *, nested: bool) -> chat.ToolChoice:
    """`tool_choice`: none, auto (the default), required, or one function by name.

    Chat refuses a `tool_choice` without `tools`, as OpenAI's Chat API does; the Responses API allows it.
    """
    raw = body.get("tool_choice")
    if raw is None:
        return "auto"
    if nested and not tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            param="tool_choice",
            code="invalid_value",
        )
    if isinstance(raw, str):
        if raw not in ("none", "auto", "required"):
            raise v.invalid_value("tool_choice", f"'{raw}'. Supported values are: 'none', 'auto' and 'required'.")
        return raw
    if not isinstance(raw, dict):
        raise v.wrong_type("tool_choice", "a string or an object", raw)
    holder, param = raw, "tool_choice"
    if nested:
        holder = v.get_object(raw, "function", parent="tool_choice", required=True) or {}
        param = "tool_choice.function"
    name = v.get_str(holder, "name", parent=param, required=True) or ""
    if name not in {t.name for t in tools}:
        raise v.invalid_value(f"{param}.name", f"no function named '{name}' is in 'tools'.")
    return name


def mentions_json(messages: Sequence[chat.Message]) -> bool:
    """OpenAI's condition for `json_object` output: the word "json" appears somewhere in the messages."""
    return any("json" in m.text.lower() for m in messages)


def output_schema(
    fmt: dict[str, Any],
    param: str,
    messages: Sequence[chat.Message],
    *,
    nested: bool,
    no_json_word: InvalidRequest,
    budget: Budget | None = None,
) -> dict[str, Any] | None:
    """The JSON Schema an answer in format `fmt` (at `param`) must follow; None for plain text.

    `no_json_word` is the error for `json_object` without "json" in the messages (each API words it its own way).
    """
    kind = v.get_str(fmt, "type", parent=param, required=True)
    if kind == "text":
        return None
    if kind == "json_object":
        if not mentions_json(messages):
            raise no_json_word
        return chat.json_object_schema()
    if kind == "json_schema":
        spec, spec_param = fmt, param
        if nested:
            spec = v.get_object(fmt, "json_schema", parent=param, required=True) or {}
            spec_param = f"{param}.json_schema"
        name = v.get_str(spec, "name", parent=spec_param, required=True) or ""
        if not _NAME.match(name):
            raise v.invalid_value(f"{spec_param}.name", f"'{name}'. Names must match ^[a-zA-Z0-9_-]{{1,64}}$.")
        value = v.get_object(spec, "schema", parent=spec_param, required=not nested)
        if value is None:
            value = {}
        check_schema(value, f"{spec_param}.schema", budget)
        return value
    raise v.invalid_value(f"{param}.type", f"'{kind}'. Supported values are: {_FORMATS}.")


def follow_prompt(
    value: dict[str, Any] | None,
    param: str,
    messages: Sequence[chat.Message],
    prompt_param: str,
    budget: Budget | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """For `json_object` (`value` is its default schema), the schema the messages write or the keys they
    name, if any (`fake.prompted`), and the field to name in an error about generating from it: `prompt_param`
    for a schema the prompt wrote, `param` otherwise. Other formats are returned as they are."""
    if value is not chat.json_object_schema():
        return value, param
    found = prompted.find_schema(messages, budget)
    return (value, param) if found is None else (found, prompt_param)
