"""String formats: making a value of a ``format`` within length bounds, and checking one.

Both directions live here so they agree.  The checks are registered in `FORMAT_CHECKER` for the
validator instead of using ``jsonschema``'s own: several of those exist only when optional packages are
installed (``rfc3339-validator`` for date-time and time, ``fqdn`` for hostname, ``rfc3987`` for uri), so
the verdicts, and with them the generated values, would depend on what else is installed.  Formats
without a check here are annotations, as JSON Schema 2020-12 makes them by default.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import jsonschema

from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema.words import FIRST_NAMES, LAST_NAMES, NOUNS

# (rng, minLength, maxLength) -> a value, or None when no value of the format fits the lengths.
FormatMaker = Callable[[Rng, int, int | None], str | None]


def _fixed(value: str, lo: int, hi: int | None) -> str | None:
    return value if len(value) >= lo and (hi is None or len(value) <= hi) else None


def _date(rng: Rng) -> str:
    # Day 1-28 is valid in every month, so no calendar arithmetic is needed.
    return f"{rng.between(2020, 2026):04d}-{rng.between(1, 12):02d}-{rng.between(1, 28):02d}"


def _time(rng: Rng) -> str:
    return f"{rng.between(0, 23):02d}:{rng.between(0, 59):02d}:{rng.between(0, 59):02d}Z"


def _make_date_time(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"{_date(rng)}T{_time(rng)}", lo, hi)


def _make_date(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(_date(rng), lo, hi)


def _make_time(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(_time(rng), lo, hi)


def _make_email(rng: Rng, lo: int, hi: int | None) -> str | None:
    local = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}".lower()
    domain = "@example.com"
    if len(local) + len(domain) < lo:
        local += "x" * (lo - len(local) - len(domain))
    if hi is not None and len(local) + len(domain) > hi:
        domain = "@x.io"
        room = hi - len(domain)
        if room < 1:
            return None
        local = local[:room]
        if local.endswith("."):
            local = local[:-1] + "x"
    return _fixed(local + domain, lo, hi)


def _make_uri(rng: Rng, lo: int, hi: int | None) -> str | None:
    value = f"https://example.com/{rng.choice(NOUNS)}/{rng.choice(NOUNS)}"
    if hi is not None and len(value) > hi:
        value = "urn:x"
    if len(value) < lo:
        value += "x" * (lo - len(value))
    return _fixed(value, lo, hi)


def _make_hostname(rng: Rng, lo: int, hi: int | None) -> str | None:
    value = f"{rng.choice(NOUNS)}.example.com"
    if hi is not None and len(value) > hi:
        value = value.split(".")[0][:hi]
    labels: list[str] = []  # prepended in turn, joined once (not a copy per label)
    length = len(value)
    while length < lo:
        labels.append("x" * min(63, max(1, lo - length - 1)))
        length += len(labels[-1]) + 1
    return _fixed(".".join([*reversed(labels), value]), lo, hi)


def _make_uuid(rng: Rng, lo: int, hi: int | None) -> str | None:
    h = rng.hex(32)
    # A version-4, RFC 4122 variant UUID, like uuid.uuid4() would give.
    h = h[:12] + "4" + h[13:16] + "89ab"[rng.below(4)] + h[17:]
    return _fixed(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", lo, hi)


def _make_ipv4(rng: Rng, lo: int, hi: int | None) -> str | None:
    parts = (rng.between(1, 223), rng.between(0, 255), rng.between(0, 255), rng.between(1, 254))
    return _fixed(".".join(str(p) for p in parts), lo, hi)


def _make_ipv6(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"2001:db8::{rng.hex(4)}:{rng.hex(4)}", lo, hi)


def _make_duration(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"P{rng.between(1, 30)}DT{rng.between(1, 23)}H", lo, hi)


def _make_json_pointer(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"/{rng.choice(NOUNS)}/{rng.between(0, 9)}", lo, hi)


def _make_relative_json_pointer(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"{rng.between(0, 3)}/{rng.choice(NOUNS)}", lo, hi)


def _make_uri_template(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(f"https://example.com/{rng.choice(NOUNS)}/{{id}}", lo, hi)


def _make_regex(rng: Rng, lo: int, hi: int | None) -> str | None:
    return _fixed(rng.choice(("^[a-z]+$", "^\\d{3}$", "[A-Z][a-z]*")), lo, hi)


MAKERS: Final[Mapping[str, FormatMaker]] = {
    "date-time": _make_date_time,
    "date": _make_date,
    "time": _make_time,
    "email": _make_email,
    "idn-email": _make_email,
    "uri": _make_uri,
    "iri": _make_uri,
    "uri-reference": _make_uri,
    "iri-reference": _make_uri,
    "hostname": _make_hostname,
    "idn-hostname": _make_hostname,
    "uuid": _make_uuid,
    "ipv4": _make_ipv4,
    "ipv6": _make_ipv6,
    "duration": _make_duration,
    "json-pointer": _make_json_pointer,
    "relative-json-pointer": _make_relative_json_pointer,
    "uri-template": _make_uri_template,
    "regex": _make_regex,
}

_DATE_RE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE: Final = re.compile(r"(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_URI_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S*")
_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_date(text: str) -> bool:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return False
    try:
        dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    match = _TIME_RE.fullmatch(text)
    return match is not None and int(match.group(1)) < 24 and int(match.group(2)) < 60 and int(match.group(3)) < 61


def _is_date_time(text: str) -> bool:
    return text[10:11] in ("T", "t") and _is_date(text[:10]) and _is_time(text[11:])


def _is_email(text: str) -> bool:
    return "@" in text


def _is_uuid(text: str) -> bool:
    return _UUID_RE.fullmatch(text) is not None


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_hostname(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in text.split("."))


def _is_uri(text: str) -> bool:
    return _URI_RE.fullmatch(text) is not None


_CHECKS: Final[Mapping[str, Callable[[str], bool]]] = {
    "date-time": _is_date_time,
    "date": _is_date,
    "time": _is_time,
    "email": _is_email,
    "idn-email": _is_email,
    "uuid": _is_uuid,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "hostname": _is_hostname,
    "idn-hostname": _is_hostname,
    "uri": _is_uri,
    "iri": _is_uri,
}


def _on_strings(check: Callable[[str], bool]) -> Callable[[object], bool]:
    # A format only constrains strings: a number under {"format": "date"} is valid.
    return lambda instance: not isinstance(instance, str) or check(instance)


def _format_checker() -> Any:
    checker = jsonschema.FormatChecker(formats=())  # none of the library's checks, see the module docstring
    for name, check in _CHECKS.items():
        checker.checks(name)(_on_strings(check))
    return checker


FORMAT_CHECKER: Final[Any] = _format_checker()
