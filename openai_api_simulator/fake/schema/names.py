"""Values that fit a property's name: ``email`` gets an address, ``age`` 18-90, ``latitude`` -90..90.

Only used where the schema leaves the choice open (no format, pattern, enum or bounds), so a name never
overrides a constraint; it makes arguments look like what a model would send (``"city": "Oslo"``
rather than ``"city": "quiet harbor"``).
"""

from __future__ import annotations

import re
from typing import Final

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.formats import MAKERS
from openai_api_simulator.fake.schema.words import (
    ADJECTIVES,
    CITIES,
    COLORS,
    COUNTRIES,
    CURRENCIES,
    FIRST_NAMES,
    LANGUAGES,
    LAST_NAMES,
    NOUNS,
    STATUSES,
    Words,
)

_PROSE_NAMES: Final = frozenset(
    {
        "description", "summary", "text", "content", "message", "body", "comment", "reason",
        "explanation", "answer", "notes", "note", "details", "bio", "review", "feedback", "response",
        "instructions", "reasoning", "thought", "thoughts", "analysis", "justification", "rationale",
    }
)  # fmt: skip
_WORD_NAMES: Final = frozenset(
    {"tag", "tags", "keyword", "keywords", "category", "categories", "topic", "topics", "label", "labels"}
)
_INT_RANGES: Final = (
    ({"age"}, (18, 90)),
    ({"year"}, (1990, 2030)),
    ({"count", "quantity", "qty", "num"}, (1, 20)),
    ({"rating", "stars"}, (1, 5)),
    ({"percent", "percentage"}, (0, 100)),
    ({"port"}, (1024, 65535)),
)
_FLOAT_RANGES: Final = (
    ({"latitude", "lat"}, (-90.0, 90.0)),
    ({"longitude", "lon", "lng"}, (-180.0, 180.0)),
    ({"probability", "confidence", "score", "ratio"}, (0.0, 1.0)),
    ({"price", "amount", "cost", "total"}, (1.0, 500.0)),
    ({"temperature", "temp"}, (-10.0, 35.0)),
)


def name_tokens(name: str) -> list[str]:
    """``createdAt`` / ``created-at`` / ``created_at`` -> ``["created", "at"]``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return [token for token in re.split(r"[^a-z0-9]+", snake) if token]


def named_int_range(name: str) -> tuple[int, int] | None:
    words = set(name_tokens(name))
    return next((limits for names, limits in _INT_RANGES if words & names), None)


def named_float_range(name: str) -> tuple[float, float] | None:
    words = set(name_tokens(name))
    return next((limits for names, limits in _FLOAT_RANGES if words & names), None)


def named_string(name: str, rng: Rng, words: Words) -> str | None:
    """A value that fits the property's name (``email``, ``city``, ``created_at``...), if the name says."""
    tokens = name_tokens(name)
    if not tokens:
        return None
    found = set(tokens)
    joined = "_".join(tokens)

    def fmt(format_name: str) -> str | None:
        return MAKERS[format_name](rng, 0, None)

    if "email" in found or joined.endswith("email"):
        return fmt("email")
    if found & {"url", "uri", "link", "website", "homepage", "href"}:
        return fmt("uri")
    if found & {"uuid", "guid"}:
        return fmt("uuid")
    if tokens[-1] == "id":
        return rng.hex(12)
    if found & {"timestamp", "datetime"} or (len(tokens) > 1 and tokens[-1] == "at"):
        return fmt("date-time")
    if found & {"date", "birthday", "dob", "deadline"}:
        return fmt("date")
    if "time" in found:
        return f"{rng.between(0, 23):02d}:{rng.between(0, 59):02d}"
    if "name" in found and found & {"first", "given"}:
        return rng.choice(FIRST_NAMES)
    if found & {"surname"} or ("name" in found and found & {"last", "family"}):
        return rng.choice(LAST_NAMES)
    if joined in ("username", "user_name", "login", "handle"):
        return f"{rng.choice(FIRST_NAMES)}_{rng.choice(LAST_NAMES)}".lower()
    if joined in ("name", "full_name", "fullname", "author", "owner", "person", "customer_name", "contact_name"):
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    if found & {"city", "town", "location"}:
        return rng.choice(CITIES)
    if "country" in found:
        return rng.choice(COUNTRIES)
    if found & {"phone", "telephone", "mobile"}:
        return f"+1-555-01{rng.between(0, 99):02d}"  # 555-01xx is reserved for fiction
    if found & {"color", "colour"}:
        return rng.choice(COLORS)
    if found & {"address", "street"}:
        return f"{rng.between(1, 999)} {rng.choice(NOUNS).title()} Street"
    if found & {"zip", "zipcode", "postcode", "postal"}:
        return f"{rng.between(10000, 99999)}"
    if found & {"language", "lang"}:
        return rng.choice(LANGUAGES)
    if "currency" in found:
        return rng.choice(CURRENCIES)
    if "status" in found:
        return rng.choice(STATUSES)
    if "version" in found:
        return f"{rng.between(0, 3)}.{rng.between(0, 20)}.{rng.between(0, 9)}"
    if "ip" in found:
        return fmt("ipv4")
    if found & {"host", "hostname", "domain"}:
        return fmt("hostname")
    if found & {"title", "headline", "subject", "heading"}:
        return words.phrase(rng, 2, 4, "title").title()
    if found & _PROSE_NAMES:
        return words.sentence(rng)
    if "slug" in found:
        return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
    if found & _WORD_NAMES:
        return words.word(rng, True)
    return None
