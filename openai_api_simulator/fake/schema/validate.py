"""Checking values against a schema with the ``jsonschema`` package (draft 2020-12), as clients' tests do.

Every generated value passes through here before it is returned, and the generator also asks it which
``enum``/``const`` options fit, whether a ``oneOf`` value matches exactly one branch, and whether a draw
must be redrawn.  Using the library that client test suites validate with means a value accepted here is
accepted there, with no second implementation of the keywords to drift.

Beyond draft 2020-12 the validator knows the older spellings the generator accepts: array-form
``items`` with ``additionalItems``, ``dependencies``, and draft 4's boolean ``exclusiveMinimum``/
``exclusiveMaximum``.  None of them means anything else in 2020-12, so a value that passes is also valid
for the draft the spelling comes from.  ``$schema`` is not consulted: every schema gets these rules.

Validators are cached per root schema (by its JSON text), so the requests of a test suite, which send the
same tool schemas over and over, build each one once.  Subschemas are checked by evolving the root's
validator, which keeps the root's ``$ref`` resolution.

The generator checks every node, so a container's check would walk again the subtrees its children's checks
just passed: quadratic in the depth.  A `Checker` remembers the (value, subschema) pairs it found valid and
its ``properties``/``prefixItems``/``items`` skip them, since descending again cannot change the verdict.
Where a verdict can depend on the path to a subschema (an embedded ``$id`` or ``$schema``, ``$dynamicRef``),
nothing is skipped.

``pattern``, ``patternProperties`` and the ``additionalProperties`` that depends on them match through
`pattern.safe_pattern` instead of `re.search`: the library's own would backtrack for as long as the pattern
and the string ask (``^(a+)+$``), holding the interpreter all along.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, NamedTuple

import jsonschema
import referencing
import referencing.exceptions

from openai_api_simulator.config import DEFAULT_CACHE_MB, cache_bytes
from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.formats import FORMAT_CHECKER
from openai_api_simulator.fake.schema.keywords import as_mapping, is_number, pointer
from openai_api_simulator.fake.schema.pattern import UnsafePattern, safe_pattern
from openai_api_simulator.lru import LRU

_DRAFT: Final[Any] = jsonschema.Draft202012Validator
_KEYWORDS: Final[Mapping[str, Any]] = _DRAFT.VALIDATORS
# The pairs the running check may skip (see the module docstring); None outside a `Checker`'s check.
_VERIFIED: Final[ContextVar[Mapping[tuple[int, int], object] | None]] = ContextVar("verified", default=None)


def _verified(instance: Any, schema: Any) -> bool:
    verified = _VERIFIED.get()
    return verified is not None and (id(instance), id(schema)) in verified


def _properties(validator: Any, properties: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if _VERIFIED.get() is not None and isinstance(instance, dict):
        properties = {
            name: True if name in instance and _verified(instance[name], sub) else sub
            for name, sub in properties.items()
        }
    yield from _KEYWORDS["properties"](validator, properties, instance, schema) or ()


def _prefix_items(validator: Any, prefix: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if _VERIFIED.get() is not None and isinstance(instance, list):
        prefix = [True if i < len(instance) and _verified(instance[i], sub) else sub for i, sub in enumerate(prefix)]
    yield from _KEYWORDS["prefixItems"](validator, prefix, instance, schema) or ()


def _items(validator: Any, items: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "array"):
        return
    if isinstance(items, (list, tuple)):  # draft 4-7: one schema per position
        # Items past the last position schema are for additionalItems; fewer items than positions is fine.
        for index, (item, sub) in enumerate(zip(instance, items, strict=False)):
            if not _verified(item, sub):
                yield from validator.descend(item, sub, path=index, schema_path=index)
    elif items is False or _VERIFIED.get() is None:
        yield from _KEYWORDS["items"](validator, items, instance, schema) or ()
    else:
        for index in range(len(schema.get("prefixItems", ())), len(instance)):
            if not _verified(instance[index], items):
                yield from validator.descend(instance[index], items, path=index)


def _additional_items(validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    items = schema.get("items")
    if not isinstance(items, (list, tuple)) or not validator.is_type(instance, "array"):
        return  # only the array form of items leaves positions for additionalItems
    for index in range(len(items), len(instance)):
        yield from validator.descend(instance[index], additional, path=index)


def _dependencies(validator: Any, dependencies: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for name, dependency in dependencies.items():
        if name not in instance:
            continue
        if isinstance(dependency, (list, tuple)):
            for missing in [other for other in dependency if other not in instance]:
                yield jsonschema.ValidationError(f"{missing!r} is a dependency of {name!r}")
        else:
            yield from validator.descend(instance, dependency, schema_path=name)


def _search(pattern: str, text: str) -> bool:
    try:
        return safe_pattern(pattern).search(text)
    except UnsafePattern as exc:
        raise SchemaError(str(exc)) from None


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield jsonschema.ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, sub in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from validator.descend(value, sub, path=name, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    patterns = as_mapping(schema.get("patternProperties"))
    if not patterns:
        yield from _KEYWORDS["additionalProperties"](validator, additional, instance, schema) or ()
        return
    if not validator.is_type(instance, "object"):
        return
    named = as_mapping(schema.get("properties"))
    extras = [
        name for name in instance if name not in named and not any(_search(pattern, name) for pattern in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        names = ", ".join(_short(name) for name in sorted(extras))
        yield jsonschema.ValidationError(f"{names} match none of the regexes {', '.join(map(repr, patterns))}")


def _draft4_exclusive(keyword: str, bound: str) -> Any:
    """``exclusiveMinimum``/``exclusiveMaximum``: a number as in 2020-12, or draft 4's flag on the bound."""
    below = keyword == "exclusiveMinimum"

    def check(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if not isinstance(value, bool):
            yield from _KEYWORDS[keyword](validator, value, instance, schema) or ()
            return
        limit = schema.get(bound)
        if not value or not is_number(limit) or not validator.is_type(instance, "number"):
            return
        if instance == limit or (instance < limit if below else instance > limit):
            side = "less" if below else "greater"
            yield jsonschema.ValidationError(f"{instance!r} is {side} than or equal to the {bound} of {limit!r}")

    return check


_Validator: Final[Any] = jsonschema.validators.extend(
    _DRAFT,
    validators={
        "properties": _properties,
        "prefixItems": _prefix_items,
        "items": _items,
        "additionalItems": _additional_items,
        "dependencies": _dependencies,
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "exclusiveMinimum": _draft4_exclusive("exclusiveMinimum", "minimum"),
        "exclusiveMaximum": _draft4_exclusive("exclusiveMaximum", "maximum"),
    },
)
# No remote retrieval: a reference the schema itself cannot resolve is the schema's error, never a fetch.
_REGISTRY: Final[referencing.Registry[Any]] = referencing.Registry()


def _key(root: Any) -> str:
    return json.dumps(root, separators=(",", ":"), ensure_ascii=False, default=str)


def _depends_on_place(text: str, root: Any) -> bool:
    """Whether a subschema's verdict may depend on where it sits: an embedded $id/$schema, a $dynamicRef.

    Read off the schema's JSON text, which is much cheaper than a walk; a false alarm (such a key in a
    property name or a const) only turns the skipping off.
    """
    if '"$dynamicRef":' in text or '"$recursiveRef":' in text:
        return True
    top = root if isinstance(root, Mapping) else {}
    return text.count('"$id":') > ("$id" in top) or text.count('"$schema":') > ("$schema" in top)


class _Root(NamedTuple):
    validator: Any
    skips_safely: bool


# Validators by schema text. One holds the text, the parsed schema and jsonschema's state: about 4-6 bytes per
# byte of text (measured with tracemalloc and a server's RSS), so the cache is bounded by that estimate;
# process-wide, sized by `fake.caches` from --cache-mb.
VALIDATORS: LRU[str, _Root] = LRU(cache_bytes(DEFAULT_CACHE_MB, "validators"))
_VALIDATOR_BYTES_PER_TEXT_BYTE: Final = 8


def _root_from_text(text: str) -> _Root:
    hit = VALIDATORS.get(text)
    if hit is not None:
        return hit
    # Built from the JSON text, not the caller's object: a cached validator must not change when a caller
    # later mutates the dict it passed.
    root = json.loads(text)
    skips_safely = not _depends_on_place(text, root)
    if isinstance(root, dict):
        root.pop("$schema", None)  # see the module docstring: one set of rules for every schema
    built = _Root(_Validator(root, format_checker=FORMAT_CHECKER, registry=_REGISTRY), skips_safely)
    VALIDATORS.put(text, built, _VALIDATOR_BYTES_PER_TEXT_BYTE * sys.getsizeof(text))
    return built


def root_validator(root: Any) -> Any:
    """The (cached) ``jsonschema`` validator for a root schema."""
    return _root_from_text(_key(root)).validator


class Checker:
    """Checks values against a root schema and its subschemas, resolving ``$ref``s against the root.

    Subschemas may be ones the generator made (an ``allOf`` merge, an ``enum``'s siblings): any schema
    whose references point into the root works.
    """

    def __init__(self, root: Any) -> None:
        cached = _root_from_text(_key(root))
        self._validator = cached.validator
        # Both map ids to entries that hold the objects themselves, so an id cannot be reused meanwhile.
        self._evolved: dict[int, tuple[Any, Any]] = {}
        self._verified: dict[tuple[int, int], object] | None = {} if cached.skips_safely else None

    def error(self, value: Any, schema: Any, path: str) -> str | None:
        """Why `value` does not validate against `schema` (None when it does), as ``"<pointer>: <reason>"``."""
        found = self._first_error(value, schema, path)
        if found is None:
            return None
        return f"{pointer(path, *found.relative_schema_path)}: {found.message}"

    def is_valid(self, value: Any, schema: Any) -> bool:
        return self._first_error(value, schema, "#") is None

    def _first_error(self, value: Any, schema: Any, path: str) -> Any:
        token = _VERIFIED.set(self._verified)
        try:
            found = next(self._validator_for(schema).iter_errors(value), None)
        except referencing.exceptions.Unresolvable as exc:
            raise SchemaError(f"a reference cannot be resolved ({exc})", path) from None
        except RecursionError:
            # A $ref cycle that consumes none of the value, e.g. {"anyOf": [{"$ref": "#"}, ...]}.
            raise SchemaError("$ref chain does not terminate (circular reference)", path) from None
        finally:
            _VERIFIED.reset(token)
        if found is None and self._verified is not None:
            self._verified[(id(value), id(schema))] = (value, schema)
        return found

    def _validator_for(self, schema: Any) -> Any:
        # The root too is checked through an evolved validator: its descents then reach the caller's subschema
        # objects, the ones the children were checked against (the cached validator holds a copy).
        hit = self._evolved.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        sub = schema
        if isinstance(sub, Mapping) and "$schema" in sub:
            sub = {key: value for key, value in sub.items() if key != "$schema"}
        validator = self._validator.evolve(schema=sub)
        self._evolved[id(schema)] = (schema, validator)
        return validator
