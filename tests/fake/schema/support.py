"""Helpers shared by the schema tests: the seeds they draw with and the check clients run on the output."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

SEEDS = [f"seed-{i}" for i in range(50)]
# The draft 2020-12 format checker.  Not a bare `FormatChecker()`: that one mixes every draft's checkers
# and its "time" is draft 3's (no UTC offset), which contradicts RFC 3339 "time".
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def assert_valid(schema: Any, value: Any) -> None:
    Draft202012Validator(schema, format_checker=FORMAT_CHECKER).validate(value)
    # The value must survive the trip through JSON unchanged (no tuples, NaN, non-string keys...).
    assert json.loads(json.dumps(value, allow_nan=False)) == value
