"""The test id of a request: which test's journal, rules and fault state it belongs to."""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

from openai_api_simulator.errors import InvalidRequest

# The reserved prefix of the admin routes. Underscored so that no OpenAI path can ever collide with it.
PREFIX: Final = "/_simulator"
TEST_ID_HEADER: Final = "x-simulator-test-id"
_HEADER_BYTES: Final = TEST_ID_HEADER.encode()
# Printable ASCII without spaces, as pytest node ids and CI job ids are once quoted; bounded so that a scope
# key costs little to keep.
_SANE: Final = re.compile(r"[\x21-\x7e]{1,200}")


def test_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The test id named by raw ASGI `headers` ("" when none); InvalidRequest naming the header if malformed."""
    for name, value in headers:
        if name == _HEADER_BYTES:
            text = value.decode("latin-1").strip()
            if not _SANE.fullmatch(text):
                raise InvalidRequest(
                    f"Header 'X-Simulator-Test-Id' must be 1 to 200 printable ASCII characters without spaces, "
                    f"got {text[:60]!r}.",
                    param="X-Simulator-Test-Id",
                )
            return text
    return ""


# Where the rules engine notes the id of the rule that answered a request, for the journal to read. Set on the
# ASGI scope dict the handler sees, which is the one every middleware passes down (none of ours copies it).
RULE_KEY: Final = "openai_api_simulator.rule"


def note_rule(scope: MutableMapping[str, Any], rule_id: str) -> None:
    """The request of `scope` was answered by the scripted rule `rule_id` (the journal's `rule`)."""
    scope[RULE_KEY] = rule_id
