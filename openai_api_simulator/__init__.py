"""openai-api-simulator: a local OpenAI-compatible API.

`gpt-sim-1` is a deterministic fake served in-process; real small models run under llama.cpp's
llama-server behind the same port.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("openai-api-simulator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
