"""The engine states and their transition table."""

from __future__ import annotations

import pytest

from openai_api_simulator.engines import TRANSITIONS, EngineState, InvalidTransition, check_transition

S = EngineState


def test_transition_table_is_the_documented_one() -> None:
    assert dict(TRANSITIONS) == {
        S.STOPPED: {S.STARTING},
        S.STARTING: {S.READY, S.FAILED, S.STOPPING},
        S.READY: {S.RESTARTING, S.STOPPING, S.FAILED},
        S.RESTARTING: {S.READY, S.FAILED, S.STOPPING},
        S.STOPPING: {S.STOPPED},
        S.FAILED: {S.STARTING, S.STOPPING},
    }


@pytest.mark.parametrize("current", list(EngineState))
@pytest.mark.parametrize("new", list(EngineState))
def test_only_legal_transitions_pass(current: EngineState, new: EngineState) -> None:
    if new in TRANSITIONS[current]:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition, match=f"from {current.value} to {new.value}"):
            check_transition(current, new)


def test_every_state_can_reach_stopped() -> None:
    """No state is a trap: from each one, some path of legal moves ends in STOPPED."""
    for start in EngineState:
        seen, todo = {start}, [start]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert S.STOPPED in seen or start is S.STOPPED, start
