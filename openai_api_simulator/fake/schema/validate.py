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
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import jsonschema
import referencing
import referencing.exceptions

from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.formats import FORMAT_CHECKER
from openai_api_simulator.fake.schema.keywords import is_number, pointer

_DRAFT: Final[Any] = jsonschema.Draft202012Validator
_KEYWORDS: Final[Mapping[str, Any]] = _DRAFT.VALIDATORS


def _items(validator: Any, items: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not isinstance(items, (list, tuple)):
        yield from _KEYWORDS["items"](validator, items, instance, schema) or ()
        return
    if validator.is_type(instance, "array"):  # draft 4-7: one schema per position
        # Items past the last position schema are for additionalItems; fewer items than positions is fine.
        for index, (item, sub) in enumerate(zip(instance, items, strict=False)):
            yield from validator.descend(item, sub, path=index, schema_path=index)


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
        "items": _items,
        "additionalItems": _additional_items,
        "dependencies": _dependencies,
        "exclusiveMinimum": _draft4_exclusive("exclusiveMinimum", "minimum"),
        "exclusiveMaximum": _draft4_exclusive("exclusiveMaximum", "maximum"),
    },
)
# No remote retrieval: a reference the schema itself cannot resolve is the schema's error, never a fetch.
_REGISTRY: Final[referencing.Registry[Any]] = referencing.Registry()


def _key(root: Any) -> str:
    return json.dumps(root, separators=(",", ":"), ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=256)
def _validator_from_text(text: str) -> Any:
    # Built from the JSON text, not the caller's object: a cached validator must not change when a caller
    # later mutates the dict it passed.
    root = json.loads(text)
    if isinstance(root, dict):
        root.pop("$schema", None)  # see the module docstring: one set of rules for every schema
    return _Validator(root, format_checker=FORMAT_CHECKER, registry=_REGISTRY)


def root_validator(root: Any) -> Any:
    """The (cached) ``jsonschema`` validator for a root schema."""
    return _validator_from_text(_key(root))


class Checker:
    """Checks values against a root schema and its subschemas, resolving ``$ref``s against the root.

    Subschemas may be ones the generator made (an ``allOf`` merge, an ``enum``'s siblings): any schema
    whose references point into the root works.
    """

    def __init__(self, root: Any) -> None:
        self._root = root
        self._validator = root_validator(root)
        # Evolved validators by schema id; the schema is kept alongside so the id cannot be reused.
        self._evolved: dict[int, tuple[Any, Any]] = {}

    def error(self, value: Any, schema: Any, path: str) -> str | None:
        """Why `value` does not validate against `schema` (None when it does), as ``"<pointer>: <reason>"``."""
        found = self._first_error(value, schema, path)
        if found is None:
            return None
        return f"{pointer(path, *found.relative_schema_path)}: {found.message}"

    def is_valid(self, value: Any, schema: Any) -> bool:
        return self._first_error(value, schema, "#") is None

    def _first_error(self, value: Any, schema: Any, path: str) -> Any:
        try:
            return next(self._validator_for(schema).iter_errors(value), None)
        except referencing.exceptions.Unresolvable as exc:
            raise SchemaError(f"a reference cannot be resolved ({exc})", path) from None
        except RecursionError:
            # A $ref cycle that consumes none of the value, e.g. {"anyOf": [{"$ref": "#"}, ...]}.
            raise SchemaError("$ref chain does not terminate (circular reference)", path) from None

    def _validator_for(self, schema: Any) -> Any:
        if schema is self._root:
            return self._validator
        hit = self._evolved.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        sub = schema
        if isinstance(sub, Mapping) and "$schema" in sub:
            sub = {key: value for key, value in sub.items() if key != "$schema"}
        validator = self._validator.evolve(schema=sub)
        self._evolved[id(schema)] = (schema, validator)
        return validator
