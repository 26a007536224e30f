"""The engine kinds this package knows, and which one serves a model spec.

Kinds are loaded when asked for, so `serve` (the fake alone) and the watchdog import no engine module.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Final

from openai_api_simulator.engines.base import Engine
from openai_api_simulator.provision import ModelSpecError, default_model_id, get_entry

# kind → "module:class". The first kind is the default: it serves every spec no other kind claims.
ENGINE_KINDS: Final[Mapping[str, str]] = {
    "llama.cpp": "openai_api_simulator.engines.llama:LlamaEngine",
    "nanochat": "openai_api_simulator.engines.nanochat:NanochatEngine",
}
DEFAULT_KIND: Final = next(iter(ENGINE_KINDS))


def get_engine(kind: str) -> type[Engine[Any]]:
    """The engine class for `kind`; a `ModelSpecError` naming the known kinds for any other."""
    target = ENGINE_KINDS.get(kind)
    if target is None:
        raise ModelSpecError(f"Unknown engine kind {kind!r}; this version knows {', '.join(ENGINE_KINDS)}.")
    module, _, name = target.partition(":")
    engine: type[Engine[Any]] = getattr(importlib.import_module(module), name)
    return engine


def kind_for(spec: str | None) -> str:
    """The engine kind that serves `spec`: its catalogue entry's, else the kind that claims it, else the default."""
    entry = get_entry(spec if spec is not None else default_model_id())
    if entry is not None:
        return entry.engine
    assert spec is not None  # the default id is always a catalogue entry
    for kind in ENGINE_KINDS:
        if kind != DEFAULT_KIND and get_engine(kind).claims(spec):
            return kind
    return DEFAULT_KIND


def engine_for(spec: str | None, engines: Mapping[str, Engine[Any]]) -> Engine[Any]:
    """The configured engine for `spec` (one in its default configuration when `engines` has none of its kind)."""
    kind = kind_for(spec)
    return engines.get(kind) or get_engine(kind)()
