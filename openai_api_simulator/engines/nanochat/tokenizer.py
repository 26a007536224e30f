"""nanochat's tokenizer, loaded without running code from the download, and its chat rendering.

`tokenizer.pkl` is a pickled `tiktoken.Encoding`. A pickle is a program: a plain `pickle.load` of a file from the
internet runs whatever it says. Here an unpickler that knows one name, `tiktoken.core.Encoding`, and maps it to a
stand-in that only records the state, reads the file; the state must be exactly what tiktoken pickles
(`name`, `pat_str`, `mergeable_ranks`, `special_tokens`, of the right types), and the `Encoding` is then built
from it here. Anything else in the pickle is refused before it can do anything.

Rendering follows nanochat's `render_conversation` and its chat server: `<|bos|>`, then alternating user and
assistant turns (`<|user_start|>text<|user_end|>`, `<|assistant_start|>text<|assistant_end|>`), a leading
system message merged into the first user turn as `system + "\\n\\n" + user`, and `<|assistant_start|>` to prime
the answer. User text is encoded as ordinary text: a special token typed by a user stays text.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import tiktoken

SPECIAL_TOKENS: Final = (
    "<|bos|>",
    "<|user_start|>",
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|python_start|>",
    "<|python_end|>",
    "<|output_start|>",
    "<|output_end|>",
)
_DELIMITERS: Final = {
    "user": ("<|user_start|>", "<|user_end|>"),
    "assistant": ("<|assistant_start|>", "<|assistant_end|>"),
}
# tiktoken.Encoding pickles itself as this class plus its state (`Encoding.__getstate__`).
_ENCODING_CLASS: Final = ("tiktoken.core", "Encoding")
_STATE_KEYS: Final = frozenset({"name", "pat_str", "mergeable_ranks", "special_tokens"})


class UnsafeTokenizer(ValueError):
    """`tokenizer.pkl` holds something other than a tiktoken Encoding's plain state."""


class _EncodingState:
    """Stands in for `tiktoken.core.Encoding` while unpickling: keeps the state, runs nothing."""

    state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _OnlyEncoding(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == _ENCODING_CLASS:
            return _EncodingState
        raise UnsafeTokenizer(
            f"refusing to load {module}.{name}: a nanochat tokenizer.pkl holds a tiktoken Encoding only"
        )


def _checked_state(state: object, origin: str) -> dict[str, Any]:
    if not isinstance(state, dict) or set(state) != _STATE_KEYS:
        raise UnsafeTokenizer(f"{origin}: not the state of a tiktoken Encoding ({type(state).__name__})")
    name, pattern, ranks, specials = (state[k] for k in ("name", "pat_str", "mergeable_ranks", "special_tokens"))
    if not isinstance(name, str) or not isinstance(pattern, str):
        raise UnsafeTokenizer(f"{origin}: the encoding's name and pattern must be strings")
    if not isinstance(ranks, dict) or not all(isinstance(k, bytes) and type(v) is int for k, v in ranks.items()):
        raise UnsafeTokenizer(f"{origin}: mergeable_ranks must map bytes to integers")
    if not isinstance(specials, dict) or not all(isinstance(k, str) and type(v) is int for k, v in specials.items()):
        raise UnsafeTokenizer(f"{origin}: special_tokens must map strings to integers")
    return {"name": name, "pat_str": pattern, "mergeable_ranks": ranks, "special_tokens": specials}


def load_encoding(path: Path) -> tiktoken.Encoding:
    """The tiktoken Encoding in `path`, read by the restricted unpickler (see the module docstring)."""
    try:
        loaded = _OnlyEncoding(io.BytesIO(path.read_bytes())).load()
    except UnsafeTokenizer as exc:
        raise UnsafeTokenizer(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError) as exc:
        raise UnsafeTokenizer(f"{path} is not a readable tokenizer pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, _EncodingState):
        raise UnsafeTokenizer(f"{path} holds a {type(loaded).__name__}, not a tiktoken Encoding")
    state = _checked_state(loaded.state, str(path))
    try:
        return tiktoken.Encoding(**state)
    except ValueError as exc:  # e.g. a pattern the regex engine rejects
        raise UnsafeTokenizer(f"{path}: tiktoken refused the encoding ({exc})") from None


class RenderError(ValueError):
    """A conversation nanochat's format cannot express; `param` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Turn:
    role: str  # system | user | assistant
    text: str


class Codec(Protocol):
    """What the tokenizer needs of a tokenizer library."""

    @property
    def vocab_size(self) -> int: ...

    def token_id(self, special: str) -> int | None: ...

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class TiktokenCodec:
    """The raw layout's `tokenizer.pkl` (a tiktoken Encoding)."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding

    @property
    def vocab_size(self) -> int:
        return int(self.encoding.n_vocab)

    def token_id(self, special: str) -> int | None:
        return int(self.encoding.encode_single_token(special)) if special in self.encoding.special_tokens_set else None

    def encode_ordinary(self, text: str) -> list[int]:
        return list(self.encoding.encode_ordinary(text))

    def decode(self, ids: list[int]) -> str:
        return str(self.encoding.decode(ids, errors="replace"))


class TokenizersCodec:
    """A Hugging Face `tokenizer.json` (how HF-layout nanochat repos ship the same tokenizer)."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer  # comes with transformers

        self.tokenizer = Tokenizer.from_file(str(path))
        # A special token's spelling in the text is encoded as ordinary text, as tiktoken's encode_ordinary does.
        self.tokenizer.encode_special_tokens = True

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def token_id(self, special: str) -> int | None:
        found = self.tokenizer.token_to_id(special)
        return None if found is None else int(found)

    def encode_ordinary(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))


class NanochatTokenizer:
    """Text ↔ token ids, the special tokens by name, and conversations rendered as nanochat renders them."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        ids = {name: codec.token_id(name) for name in SPECIAL_TOKENS}
        missing = [name for name, token in ids.items() if token is None]
        if missing:
            raise UnsafeTokenizer(f"the tokenizer lacks nanochat's special tokens {', '.join(missing)}")
        self.ids: Mapping[str, int] = {name: token for name, token in ids.items() if token is not None}

    @classmethod
    def from_file(cls, path: Path) -> NanochatTokenizer:
        """`tokenizer.pkl` (read by the restricted unpickler) or a `tokenizer.json`."""
        if path.suffix == ".json":
            return cls(TokenizersCodec(path))
        return cls(TiktokenCodec(load_encoding(path)))

    @property
    def vocab_size(self) -> int:
        return self.codec.vocab_size

    def special(self, name: str) -> int:
        return self.ids[name]

    def encode(self, text: str) -> list[int]:
        """Ordinary text: special-token spellings in it are text, never control tokens."""
        return self.codec.encode_ordinary(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text for `ids`, special tokens spelled out (as nanochat's chat server shows a calculator call)."""
        return self.codec.decode(list(ids))

    def render(self, turns: Sequence[Turn]) -> list[int]:
        """The prompt for the next assistant turn (see the module docstring for the rules)."""
        messages = list(turns)
        shift = 0  # where messages[i] was in the request (the system message merges into the next one)
        if messages and messages[0].role == "system":
            if len(messages) < 2 or messages[1].role != "user":
                raise RenderError("nanochat needs a user message right after the system message.", "messages")
            messages = [Turn("user", messages[0].text + "\n\n" + messages[1].text), *messages[2:]]
            shift = 1
        if not messages:
            raise RenderError("nanochat needs at least one user message.", "messages")
        ids = [self.ids["<|bos|>"]]
        for i, turn in enumerate(messages):
            expected = "user" if i % 2 == 0 else "assistant"
            if turn.role != expected:
                raise RenderError(
                    f"nanochat renders alternating user and assistant messages starting with the user (and one system "
                    f"message first at most); message {i + shift} is {turn.role!r} where {expected!r} belongs.",
                    f"messages[{i + shift}].role",
                )
            start, end = _DELIMITERS[expected]
            ids += [self.ids[start], *self.encode(turn.text), self.ids[end]]
        if messages[-1].role != "user":
            raise RenderError("nanochat answers a user message: the conversation must end with one.", "messages")
        ids.append(self.ids["<|assistant_start|>"])
        return ids
