"""Deterministic prose: sentences built from a small grammar, sized by what the prompt asks for.

The text is meant to *look* like an answer in a UI or a log (capitalised sentences, commas, paragraphs,
topic words taken from the prompt) while staying a pure function of the random stream it is given.
"""

from __future__ import annotations

import re

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.tokens import count_tokens

_DETERMINERS = ("the", "a", "each", "every", "this", "that", "one", "another")
_ADJECTIVES = tuple(
    """
    quiet simple careful steady bright modest clear useful small large early recent practical gentle
    familiar reliable subtle patient honest curious distant local common rare formal rough precise
    warm open
    """.split()
)
_NOUNS = tuple(
    """
    model answer system question river garden library engine signal pattern record method window
    harbor process request letter project teacher city network result detail journey idea story
    market bridge device season reader table message option practice lesson village measure history
    plan
    """.split()
)
_VERBS = tuple(
    """
    explains follows shapes supports describes improves reaches changes holds returns finds builds
    guides keeps shows connects measures carries meets answers tests reflects balances opens records
    joins covers prepares
    """.split()
)
_PREPOSITIONS = ("with", "near", "behind", "under", "across", "beyond", "around", "through", "before", "after")
_ADVERBS = (
    "Usually",
    "Often",
    "In practice",
    "At first",
    "Later",
    "Sometimes",
    "In short",
    "Meanwhile",
    "For example",
    "Still",
    "Overall",
    "In most cases",
    "Even so",
    "As a rule",
)
_CONJUNCTIONS = ("and", "but", "so", "while", "because", "although")
_STOPWORDS = frozenset(
    """
    about above after again against all also among and any are because been before being below
    between both but can could did does doing down during each few from further had has have having
    here how into its itself just more most other over own same should some such than that the their
    theirs them then there these they this those through under until very was were what when where
    which while who whom why will with would your yours you please tell give write explain describe
    short brief long words sentence sentences answer reply respond make list word once upon time
    like know think want need
    """.split()
)
_WORD = re.compile(r"[A-Za-z]{4,}")


def topic_words(prompt: str, limit: int = 6) -> list[str]:
    """Distinct content words of the prompt, in order of appearance, to weave into the answer."""
    seen: list[str] = []
    for word in _WORD.findall(prompt):
        lower = word.lower()
        if lower not in _STOPWORDS and lower not in seen:
            seen.append(lower)
            if len(seen) == limit:
                break
    return seen


_LENGTH_RULES: tuple[tuple[re.Pattern[str], tuple[int, int]], ...] = (
    (re.compile(r"\b(one|single|1)[- ]word\b|\byes or no\b", re.I), (1, 3)),
    (re.compile(r"\b(one|single|1)[- ]sentence\b|\btl;?dr\b", re.I), (8, 18)),
    (re.compile(r"\b(brief(ly)?|short|concise(ly)?|quick(ly)?|summari[sz]e)\b", re.I), (15, 35)),
    (re.compile(r"\b(detail(ed)?|in depth|essay|elaborate|thorough(ly)?|step[- ]by[- ]step|long)\b", re.I), (160, 320)),
)


def target_tokens(prompt: str, rng: Rng) -> int:
    """How long the answer should be: what the prompt asks for, else 40–90 tokens growing with the prompt."""
    for pattern, (lo, hi) in _LENGTH_RULES:
        if pattern.search(prompt):
            return rng.between(lo, hi)
    grow = min(len(prompt) // 40, 60)
    return rng.between(40, 90) + grow


def _noun(rng: Rng, topics: list[str]) -> str:
    if topics and rng.chance(0.3):
        return rng.choice(topics)
    return rng.choice(_NOUNS)


def _phrase(rng: Rng, topics: list[str]) -> list[str]:
    words = [rng.choice(_DETERMINERS)]
    if rng.chance(0.5):
        adjective = rng.choice(_ADJECTIVES)
        if words[0] == "a" and adjective[0] in "aeiou":
            words[0] = "an"
        words.append(adjective)
    noun = _noun(rng, topics)
    if words[-1] == "a" and noun[0] in "aeiou":
        words[-1] = "an"
    words.append(noun)
    return words


def _clause(rng: Rng, topics: list[str]) -> list[str]:
    words = [*_phrase(rng, topics), rng.choice(_VERBS), *_phrase(rng, topics)]
    if rng.chance(0.4):
        words += [rng.choice(_PREPOSITIONS), *_phrase(rng, topics)]
    return words


def sentence(rng: Rng, topics: list[str]) -> str:
    parts: list[str] = []
    if rng.chance(0.25):
        parts.append(rng.choice(_ADVERBS) + ",")
    parts.extend(_clause(rng, topics))
    if rng.chance(0.35):
        parts[-1] += ","
        parts.append(rng.choice(_CONJUNCTIONS))
        parts.extend(_clause(rng, topics))
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


def generate_text(rng: Rng, prompt: str, target: int | None = None) -> str:
    """Prose of about `target` tokens (chosen from the prompt when None), ending on a full sentence."""
    if target is None:
        target = target_tokens(prompt, rng.fork("length"))
    topics = topic_words(prompt)
    if target <= 3:  # a one-word answer
        word = topics[0] if topics and rng.chance(0.5) else rng.choice(("Yes", "No", "Maybe", "Certainly"))
        return word[0].upper() + word[1:] + "."
    paragraphs: list[str] = []
    current: list[str] = []
    used = 0
    # One stream for the whole answer: seeding a generator costs more than drawing a sentence from it.
    draws = rng.fork("sentences")
    while used < target:
        s = sentence(draws, topics)
        current.append(s)
        used += count_tokens(s) + 1
        # A paragraph break every three to five sentences keeps long answers readable.
        if len(current) >= 3 + draws.below(3):
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)
