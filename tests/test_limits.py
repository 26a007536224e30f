"""`limits`: every cap is documented, with its value, in docs/fake-model.md's "Limits" section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openai_api_simulator import limits

DOC = Path(__file__).resolve().parent.parent / "docs" / "fake-model.md"
CAPS = sorted(name for name in vars(limits) if name.isupper())


def limits_section() -> str:
    text = DOC.read_text()
    section = text[text.index("## Limits") :]
    section = section[: section.index("\n## ", 1)]
    return re.sub(r"\s+", " ", section)


def shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def test_there_are_caps_to_document() -> None:
    assert len(CAPS) > 20 and "WORK_DEADLINE_S" in CAPS


@pytest.mark.parametrize("name", CAPS)
def test_each_cap_is_documented_next_to_its_value(name: str) -> None:
    section = limits_section()
    value = shown(getattr(limits, name))
    spots = [m.start() for m in re.finditer(rf"`{name}`", section)]
    assert spots, f"{name} is not in the Limits section of {DOC.name}"
    assert any(value in section[max(0, at - 200) : at + 200] for at in spots), f"{name} = {value} not near its name"
