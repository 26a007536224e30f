"""The POST endpoints the API serves, in the order the app registers them.

Adding an endpoint is one module (its parser and the fake's answers, ending in an `ENDPOINT` declaration of
type `endpoint.Endpoint`) and one line here.
"""

from __future__ import annotations

from typing import Any, Final

from openai_api_simulator.api import chat, completions, embeddings, messages, responses
from openai_api_simulator.api.endpoint import Endpoint

ENDPOINTS: Final[tuple[Endpoint[Any], ...]] = (
    chat.ENDPOINT,
    completions.ENDPOINT,
    embeddings.ENDPOINT,
    responses.ENDPOINT,
    messages.ENDPOINT,
    messages.COUNT_TOKENS,
)
# Every endpoint by name: what a backend that relays to a full OpenAI-compatible server answers.
NAMES: Final = frozenset(endpoint.name for endpoint in ENDPOINTS)
