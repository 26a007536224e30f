"""What generating from a request's schemas costs: the request's two counters for it, and their refusals.

Every node the generator draws and every ``$ref``/``allOf`` flattening is a step, every generated string
counts its characters, over all the request's schemas (the API's trial value for each schema included), up
to `limits.MAX_SCHEMA_STEPS` and `limits.MAX_GENERATED_CHARS`. A value remembered from an earlier request
brings its counts along (`recharge`), so whether a request is within its limits never depends on what was
asked before it.
"""

from __future__ import annotations

from typing import Final

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget, BudgetExceeded

STEPS: Final = "schema steps"
CHARS: Final = "generated characters"


def step(budget: Budget, path: str) -> None:
    """One step of generation at `path`; also where the budget's deadline and stop are checked."""
    if budget.add(STEPS, 1) > limits.MAX_SCHEMA_STEPS:
        raise _too_many_steps(path)
    budget.check()


def characters(budget: Budget, count: int, path: str) -> None:
    """`count` characters of a string generated at `path`."""
    if budget.add(CHARS, count) > limits.MAX_GENERATED_CHARS:
        raise _too_many_chars(path)


def recharge(budget: Budget, work: tuple[tuple[str, int], ...]) -> None:
    """Count again the work of a value generated earlier (and remembered): a request costs what it costs."""
    for what, amount in work:
        budget.add(what, amount)
    if budget.spent(STEPS) > limits.MAX_SCHEMA_STEPS:
        raise _too_many_steps("#")
    if budget.spent(CHARS) > limits.MAX_GENERATED_CHARS:
        raise _too_many_chars("#")


def _too_many_steps(path: str) -> BudgetExceeded:
    return BudgetExceeded(
        f"{path}: generating values for the request's schemas takes more than {limits.MAX_SCHEMA_STEPS:,} steps "
        "(subschemas visited once $ref and allOf are expanded), the simulator's limit per request"
    )


def _too_many_chars(path: str) -> BudgetExceeded:
    return BudgetExceeded(
        f"{path}: the generated strings would total more than {limits.MAX_GENERATED_CHARS:,} characters, "
        "the simulator's limit per request"
    )
