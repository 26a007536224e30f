"""The model catalogue: short names for small instruct GGUFs that stock llama.cpp runs.

The data lives in ``openai_api_simulator/data/models.json`` (shipped with the package). Each entry
names a Hugging Face repo, file and revision, checked against the public listings. A SHA256 and size
appear only where they were established for an immutable revision (a commit id): a hash pinned to a
moving branch such as ``main`` would turn an upstream re-upload into a hard failure, so those entries
rely on the hash Hugging Face declares for the file (``X-Linked-Etag``) instead.

Each entry names the kind of engine that runs it (``"engine": "llama.cpp"`` for every entry today).
Provisioning only checks that it is a non-empty string: what a kind means belongs to the engines
layer above, which this package does not import.

The ``default`` entry is fully pinned (commit, size, SHA256) - it is the file CI runs - so
``openai-api-simulator pull`` with no argument always yields the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .files import normalize_sha256

_FIELDS = (
    "id",
    "engine",
    "repo",
    "file",
    "revision",
    "size",
    "sha256",
    "context_length",
    "license",
    "owner",
    "description",
)


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # short name used on the command line and as the served model id
    engine: str  # the kind of engine that runs the file, e.g. "llama.cpp"; the engines layer interprets it
    repo: str  # Hugging Face "owner/name"
    file: str | None  # path of the GGUF inside the repo; None when the model is the whole repository (nanochat)
    revision: str  # branch or commit id
    size: int | None  # bytes, when pinned
    sha256: str | None  # lower-case hex, when pinned
    context_length: int  # the model's trained context window
    license: str
    owner: str  # publisher of the weights, shown as `owned_by` in /v1/models
    description: str


def _entry(raw: Any, where: str) -> CatalogEntry:
    if not isinstance(raw, dict) or set(raw) != set(_FIELDS):
        raise ValueError(f"{where}: an entry must have exactly the fields {', '.join(_FIELDS)}")
    for name in ("id", "engine", "repo", "revision", "license", "owner", "description"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise ValueError(f"{where}: {name} must be a non-empty string")
    if raw["repo"].count("/") != 1:
        raise ValueError(f"{where}: repo must be owner/name")
    if raw["file"] is not None and (not isinstance(raw["file"], str) or not raw["file"].endswith(".gguf")):
        raise ValueError(f"{where}: file must be a .gguf path, or null for a model that is the whole repository")
    if not isinstance(raw["context_length"], int) or raw["context_length"] <= 0:
        raise ValueError(f"{where}: context_length must be a positive integer")
    if raw["size"] is not None and (not isinstance(raw["size"], int) or raw["size"] <= 0):
        raise ValueError(f"{where}: size must be null or a positive integer")
    sha = raw["sha256"]
    if sha is not None and (not isinstance(sha, str) or normalize_sha256(sha) != sha):
        raise ValueError(f"{where}: sha256 must be null or 64 lower-case hex digits")
    return CatalogEntry(**{name: raw[name] for name in _FIELDS})


def parse_catalog(data: Any) -> tuple[str, tuple[CatalogEntry, ...]]:
    """(default id, entries) from the JSON document, validated."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError("models.json: expected an object with a 'models' list")
    entries = tuple(_entry(raw, f"models.json entry {i}") for i, raw in enumerate(data["models"]))
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise ValueError("models.json: duplicate ids")
    default = data.get("default")
    if default not in ids:
        raise ValueError(f"models.json: default {default!r} is not one of the ids")
    return str(default), entries


@cache
def _load() -> tuple[str, tuple[CatalogEntry, ...]]:
    text = resources.files("openai_api_simulator").joinpath("data/models.json").read_text("utf-8")
    return parse_catalog(json.loads(text))


def load_catalog() -> tuple[CatalogEntry, ...]:
    return _load()[1]


def default_model_id() -> str:
    return _load()[0]


def get_entry(model_id: str) -> CatalogEntry | None:
    wanted = model_id.strip().lower()
    return next((e for e in load_catalog() if e.id == wanted), None)
