"""Backends: who answers a model id (see `base` for the interface and its three implementations)."""

from openai_api_simulator.backends.base import NOT_READY_STATES, Backend, ModelCard, ModelRequest, ModelStatus
from openai_api_simulator.backends.fake import FakeBackend
from openai_api_simulator.backends.registry import DuplicateModel, ModelRegistry
from openai_api_simulator.backends.relay import Relay, RelaySettings
from openai_api_simulator.backends.remote import RemoteBackend, normalise_url, parse_upstream_flags

__all__ = [
    "NOT_READY_STATES",
    "Backend",
    "DuplicateModel",
    "FakeBackend",
    "ModelCard",
    "ModelRegistry",
    "ModelRequest",
    "ModelStatus",
    "Relay",
    "RelaySettings",
    "RemoteBackend",
    "normalise_url",
    "parse_upstream_flags",
]
