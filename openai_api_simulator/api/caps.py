"""The request caps of `limits`, checked on request fields and answers, refused in OpenAI's wording.

Each check names the parameter and the cap, with OpenAI's message and code where OpenAI has the same
limit (``array_above_max_length`` for a long ``tools``), so a client's error handling sees what the real
API would send. The numbers themselves are all in `openai_api_simulator.limits`.
"""

from __future__ import annotations

from collections.abc import Sized

from openai_api_simulator import limits
from openai_api_simulator.errors import InvalidRequest


def array_length(param: str, items: Sized, most: int) -> None:
    """An array parameter with at most `most` items (OpenAI's check and words)."""
    if len(items) > most:
        raise InvalidRequest(
            f"Invalid '{param}': array too long. Expected an array with maximum length {most}, but got an array "
            f"with length {len(items)} instead.",
            param=param,
            code="array_above_max_length",
        )


class InputSize:
    """Characters of text input, counted as a request is read, refused past `MAX_INPUT_CHARS`.

    Checked before the text is tokenized: counting tokens is the expensive part of reading a long prompt.
    """

    def __init__(self, param: str) -> None:
        self.param = param
        self.chars = 0

    def add(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > limits.MAX_INPUT_CHARS:
            raise InvalidRequest(
                f"Invalid '{self.param}': the text input is longer than {limits.MAX_INPUT_CHARS:,} characters "
                "(about a million tokens), the simulator's limit per request.",
                param=self.param,
                code="context_length_exceeded",
            )


def answer_size(tokens: int, logprobs: int, *, tokens_param: str, logprobs_param: str) -> None:
    """An answer's content tokens (over all its choices) and log-probabilities, within the simulator's limits.

    Checked once the choices are drawn, before anything is encoded: how long an answer is depends on what
    it says, which is only known then.
    """
    if tokens > limits.MAX_ANSWER_TOKENS:
        raise InvalidRequest(
            f"Invalid '{tokens_param}': the answer would have {tokens:,} tokens over its choices, more than the "
            f"simulator's limit of {limits.MAX_ANSWER_TOKENS:,} per request. Lower 'n' or '{tokens_param}'.",
            param=tokens_param,
            code="invalid_value",
        )
    if logprobs > limits.MAX_LOGPROBS:
        raise InvalidRequest(
            f"Invalid '{logprobs_param}': the answer would carry {logprobs:,} log-probabilities (tokens × (1 + "
            f"alternatives) over its choices), more than the simulator's limit of {limits.MAX_LOGPROBS:,} per "
            f"request. Lower 'n', the token limit or '{logprobs_param}'.",
            param=logprobs_param,
            code="invalid_value",
        )
