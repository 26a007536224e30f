"""What a caller asks provisioning for, as two values instead of keyword arguments passed down the layers.

* `ProvisionOptions` - how to provision: whether the network may be used, whether unverified files are
  accepted, whether to look for something newer, which Hugging Face endpoint, where progress goes. Both
  `ensure_llama_server` and `ensure_model` take one, so ``run`` and ``pull`` build it once from their flags.
* `LlamaSource` - where llama-server comes from: the user's own binary, a pinned release tag, or the
  latest release of a (mirrored) repository.

A field left at None is resolved where it is used, through `settings` (flag > environment > default),
so an options object built without arguments still honours ``OAS_OFFLINE``, ``HF_ENDPOINT`` and the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .download import RetryPolicy
from .platforms import Platform
from .progress import NullProgress, ProgressReporter


@dataclass(frozen=True)
class ProvisionOptions:
    """How to provision: where from, whether the network may be used, how to report."""

    offline: bool | None = None  # None: from the environment (OAS_OFFLINE / HF_HUB_OFFLINE)
    allow_unverified: bool = False
    update: bool = False
    hf_endpoint: str | None = None  # None: HF_ENDPOINT or https://huggingface.co
    progress: ProgressReporter = field(default_factory=NullProgress, compare=False)
    client: httpx.Client | None = field(default=None, compare=False)  # tests inject one
    retry: RetryPolicy | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LlamaSource:
    """Where llama-server comes from: the user's binary, a pinned or the latest release."""

    version: str | None = None  # a tag such as b11434; None: cached or latest
    variant: str | None = None  # e.g. vulkan
    server: Path | None = None  # a binary the user has (checked with --version)
    release_url: str | None = None  # None: OAS_LLAMA_RELEASE_URL or github.com/ggml-org/llama.cpp
    api_url: str | None = None  # None: OAS_GITHUB_API_URL or api.github.com
    platform: Platform | None = None  # None: this machine
