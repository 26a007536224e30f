"""The vocabulary of generated strings, and plain strings built from it and the prompt's topic words.

A string without a format, pattern or telling property name still reads as a word or two (``"quiet
harbor"``) and sometimes repeats a word of the prompt, so a tool call looks related to what was asked.
The word lists are shared with `formats.py` (email local parts, URL paths) and `names.py`.
"""

from __future__ import annotations

from typing import Final

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.text import sentence, topic_words

ADJECTIVES: Final = (
    "quiet", "bright", "simple", "green", "rapid", "gentle", "silver", "early", "clear", "solid",
    "warm", "bold", "calm", "fresh", "lucky", "amber", "steady", "north", "little", "open",
)  # fmt: skip
NOUNS: Final = (
    "river", "garden", "signal", "harbor", "engine", "meadow", "lantern", "bridge", "orbit", "forest",
    "canvas", "pixel", "falcon", "summit", "ember", "maple", "anchor", "comet", "valley", "record",
)  # fmt: skip
FIRST_NAMES: Final = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia",
)  # fmt: skip
LAST_NAMES: Final = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Perlman",
)  # fmt: skip
CITIES: Final = ("Lisbon", "Oslo", "Kyoto", "Denver", "Nairobi", "Montreal", "Porto", "Tallinn", "Auckland")
COUNTRIES: Final = ("Portugal", "Norway", "Japan", "Canada", "Kenya", "Estonia", "New Zealand", "Chile")
COLORS: Final = ("red", "blue", "green", "teal", "orange", "purple", "yellow", "gray")
LANGUAGES: Final = ("English", "Portuguese", "Japanese", "Spanish", "French", "German")
CURRENCIES: Final = ("USD", "EUR", "JPY", "GBP", "CAD", "CHF")
STATUSES: Final = ("active", "pending", "completed", "archived")


class Words:
    """Words for one generation: the fixed vocabulary plus the content words of the hint (the prompt)."""

    def __init__(self, hint: str) -> None:
        self.topics = topic_words(hint) if hint else []

    def word(self, rng: Rng, last: bool) -> str:
        """A topic word now and then, else an adjective (a noun when `last`, to end a phrase)."""
        if self.topics and rng.chance(0.3):
            return rng.choice(self.topics)
        return rng.choice(NOUNS if last else ADJECTIVES)

    def phrase(self, rng: Rng, lo: int, hi: int, label: str) -> str:
        """`lo` to `hi` words, the last one a noun; word i is drawn from ``rng.fork(label, i)``."""
        n = rng.between(lo, hi)
        return " ".join(self.word(rng.fork(label, i), i == n - 1) for i in range(n))

    def sentence(self, rng: Rng) -> str:
        return sentence(rng, self.topics)

    def plain_string(self, rng: Rng, lo: int, hi: int | None) -> str:
        """One to three lowercase words, stretched or cut to the length bounds."""
        parts = [self.phrase(rng, 1, 3, "word")]
        length = len(parts[0])
        # Joined once at the end: appending to one string would copy it for every part (quadratic in minLength).
        while length < lo:
            i = len(parts) - 1
            filler = self.word(rng.fork("pad", i), True) if lo - length < 40 else self.sentence(rng.fork("pad", i))
            parts.append(filler)
            length += 1 + len(filler)
        text = " ".join(parts)
        if hi is not None and len(text) > hi:
            text = text[:hi].rstrip()
        if len(text) < lo:  # the cut landed on a space
            text += "x" * (lo - len(text))
        return text
