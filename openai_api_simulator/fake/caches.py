"""The fake model's process-wide caches, sized from `Settings.cache_mb`.

Generated answers, embedding draws, JSON Schema validators and parsed patterns are pure functions of their
keys, so one cache each serves every server in the process; each starts at its share of the default
`--cache-mb`, and a server resizes them to its own setting when it starts (a process runs one server; of
several, the last one started sets the size). The caches that hold per-server state (the memo, the Responses
store, the routes) belong to their server and are sized where they are made.
"""

from __future__ import annotations

from openai_api_simulator.config import Settings
from openai_api_simulator.fake import chat, embeddings
from openai_api_simulator.fake.schema import pattern, regex, validate


def size_caches(settings: Settings) -> None:
    chat.ANSWERS.resize(settings.cache_bytes("answers"))
    embeddings.VECTORS.resize(settings.cache_bytes("word_vectors"))
    validate.VALIDATORS.resize(settings.cache_bytes("validators"))
    regex.PATTERNS.resize(settings.cache_bytes("patterns"))
    pattern.MATCHERS.resize(settings.cache_bytes("matchers"))
