"""The calculator tool: what nanochat's engine computes, computed without `eval`."""

from __future__ import annotations

import pytest

from openai_api_simulator.engines.nanochat.calculator import MAX_LENGTH, calculate, format_result


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1+2*3", 7),
        ("(2 + 3) / 4", 1.25),
        ("1,000 * 3", 3000),
        ("-5 + +2", -3),
        ("10/3", 10 / 3),
        ("0.1 + 0.2", 0.1 + 0.2),
        ('"strawberry".count("r")', 3),
        ("'banana'.count('an')", 2),
    ],
)
def test_what_it_computes(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "2**10",  # nanochat refuses powers too
        "__import__('os').system('id')",
        "abs(-1)",
        "(1).__class__",
        "x + 1",
        "1/0",
        "True + 1",
        "'a' * 3",
        '"s".count("a", 1)',
        "[1, 2]",
        "9" * 40 + "*" + "9" * 40,  # past the magnitude a chat answer needs
        "(" * 300 + "1" + ")" * 300,
        "1 +" * (MAX_LENGTH // 3 + 1) + "1",
        "",
    ],
)
def test_what_it_refuses(expression: str) -> None:
    assert calculate(expression) is None


def test_results_print_as_python_prints_them() -> None:
    assert [format_result(v) for v in (84, 2.5, 10 / 3)] == ["84", "2.5", "3.3333333333333335"]
