"""nanochat's calculator tool, evaluated safely: arithmetic and `"text".count("t")`, never `eval`.

nanochat learned to write `<|python_start|>EXPR<|python_end|>` and to read the result its engine forces in as
`<|output_start|>RESULT<|output_end|>`. Its own engine hands EXPR to Python's `eval` after a character filter;
here EXPR is parsed with `ast` and only these forms are computed:

* numbers, `+ - * /`, unary `+`/`-` and parentheses (no `**`: nanochat refuses it too; a huge power would hang);
* a string literal's `.count(string literal)` (nanochat's spelling tasks: `"strawberry".count("r")`).

Commas are dropped first, as nanochat does (`1,000 * 3`). Anything else, a division by zero, a number too large
to print sensibly, or an expression over `MAX_LENGTH` characters gives None: the model then sees no output, as
with nanochat's engine when its `eval` fails.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Final

# Longer than any arithmetic a 561M model writes; bounds the parse and the work of a hostile prompt.
MAX_LENGTH: Final = 256
# Results beyond this magnitude are not arithmetic a chat answer needs, and their digits cost tokens to force in.
MAX_MAGNITUDE: Final = 1e30

_BINARY: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[float], float]]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _Refused(Exception):
    """The expression is not one the calculator computes."""


def _number(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        result = _BINARY[type(node.op)](_number(node.left), _number(node.right))
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        result = _UNARY[type(node.op)](_number(node.operand))
    else:
        raise _Refused
    if not math.isfinite(result) or abs(result) > MAX_MAGNITUDE:
        raise _Refused
    return result


def _count(node: ast.expr) -> int:
    """`"text".count("t")`: both string literals, one argument, no keywords."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "count"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        raise _Refused
    return node.func.value.value.count(node.args[0].value)


def calculate(expression: str) -> int | float | None:
    """The value of `expression`, or None when it is not one the calculator computes (see the module docstring)."""
    text = expression.replace(",", "").strip()
    if not text or len(text) > MAX_LENGTH:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None
    try:
        if isinstance(tree.body, ast.Call):
            return _count(tree.body)
        return _number(tree.body)
    except (_Refused, ZeroDivisionError, OverflowError, RecursionError):
        return None


def format_result(value: int | float) -> str:
    """The text forced in as the tool's output, as Python's `str` shows it (what nanochat was trained on)."""
    return str(value)
