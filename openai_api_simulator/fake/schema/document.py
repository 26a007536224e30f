"""One schema document as a whole: its structure checks, local ``$ref`` resolution, and nesting heights.

These are the questions answered about the schema before (and while) generating from it: is it well
formed and free of obvious contradictions, where does a ``$ref`` point, which regexes does it use, and
how deep must its shallowest instance be.  The last one is what lets recursive schemas (trees, linked
lists) terminate: past a depth the generator takes the shallowest option, and a schema whose every
instance nests forever is rejected up front instead of recursing until the budget runs out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.keywords import (
    SCALARS,
    TYPE_NAMES,
    array_parts,
    as_list,
    as_mapping,
    bounds,
    contains_needed,
    count,
    integer_range,
    is_number,
    is_trivially_true,
    kind,
    pointer,
)

# Subschema keywords holding one schema each, walked by the structure check.
_SINGLE_SCHEMA_KEYS = (
    "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
    "unevaluatedProperties", "unevaluatedItems",
)  # fmt: skip


class Document:
    """One root schema and what is worked out about it once per generation (regexes, anchors, heights)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self._regexes: dict[str, re.Pattern[str]] = {}
        self._heights: dict[int, tuple[Any, float]] = {}
        self._anchors: dict[str, Any] | None = None

    # ---- references ------------------------------------------------------------------------------

    def resolve(self, ref: Any, where: str) -> tuple[Any, str]:
        """The schema a local ``$ref`` points to, and its pointer."""
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", where)
        root_id = self.root.get("$id") if isinstance(self.root, Mapping) else None
        if isinstance(root_id, str) and root_id and ref.startswith(root_id):
            ref = ref[len(root_id) :] or "#"
        if not ref.startswith("#"):
            raise SchemaError(
                f"$ref {ref!r} cannot be resolved: only local references ('#', '#/$defs/...') are supported",
                where,
            )
        fragment = ref[1:]
        node: Any = self.root
        if fragment and not fragment.startswith("/"):
            node = self._anchor_map().get(fragment)
            if node is None:
                raise SchemaError(f"$ref {ref!r} cannot be resolved: no $anchor {fragment!r}", where)
        elif fragment:
            for raw in fragment[1:].split("/"):
                token = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, Mapping) and token in node:
                    node = node[token]
                elif isinstance(node, (list, tuple)) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    raise SchemaError(f"$ref {ref!r} cannot be resolved", where)
        if not isinstance(node, (bool, Mapping)):
            raise SchemaError(f"$ref {ref!r} points to a {kind(node)}, not a schema", where)
        return node, ref

    def _anchor_map(self) -> dict[str, Any]:
        if self._anchors is None:
            anchors: dict[str, Any] = {}

            def walk(node: Any) -> None:
                if isinstance(node, Mapping):
                    if isinstance(node.get("$anchor"), str):
                        anchors.setdefault(node["$anchor"], node)
                    for value in node.values():
                        walk(value)
                elif isinstance(node, (list, tuple)):
                    for value in node:
                        walk(value)

            walk(self.root)
            self._anchors = anchors
        return self._anchors

    def regex(self, pattern: Any, where: str) -> re.Pattern[str]:
        if not isinstance(pattern, str):
            raise SchemaError(f"pattern must be a string, not {kind(pattern)}", where)
        compiled = self._regexes.get(pattern)
        if compiled is None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise SchemaError(f"pattern {pattern!r} is not a valid regular expression: {exc}", where) from None
            self._regexes[pattern] = compiled
        return compiled

    # ---- structure checks ------------------------------------------------------------------------

    def check(self) -> None:
        """Raise `SchemaError` for a malformed schema or one that visibly no value satisfies."""
        self._check(self.root, "#", 0)
        if math.isinf(self.min_height(self.root)):
            raise SchemaError(
                "no finite value satisfies this schema (it is false, contradictory, or requires endless nesting)"
            )

    def _check(self, schema: Any, path: str, nesting: int) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be a JSON object or a boolean, not {kind(schema)}", path)
        if nesting > 200:
            raise SchemaError("schema nests too deeply", path)
        if "$ref" in schema:
            self.resolve(schema["$ref"], path)
        self._check_keywords(schema, path)
        for key in _SINGLE_SCHEMA_KEYS:
            if key in schema:
                self._check(schema[key], pointer(path, key), nesting + 1)
        if "items" in schema:
            items = schema["items"]
            if isinstance(items, (list, tuple)):
                for i, sub in enumerate(items):
                    self._check(sub, pointer(path, "items", i), nesting + 1)
            else:
                self._check(items, pointer(path, "items"), nesting + 1)
        for key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            if key in schema:
                if not isinstance(schema[key], Mapping):
                    raise SchemaError(f"{key} must be an object", path)
                for name, sub in schema[key].items():
                    if key == "patternProperties":
                        self.regex(name, pointer(path, key, name))
                    self._check(sub, pointer(path, key, name), nesting + 1)
        for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            if key in schema:
                subs = schema[key]
                if not isinstance(subs, (list, tuple)) or (key != "prefixItems" and not subs):
                    raise SchemaError(f"{key} must be a non-empty array of schemas", path)
                for i, sub in enumerate(subs):
                    self._check(sub, pointer(path, key, i), nesting + 1)
        for name, sub in as_mapping(schema.get("dependencies")).items():
            if isinstance(sub, (bool, Mapping)):
                self._check(sub, pointer(path, "dependencies", name), nesting + 1)

    def _check_keywords(self, schema: Mapping[str, Any], path: str) -> None:
        """Malformed keyword values and contradictions visible in one schema object."""
        if "type" in schema:
            types = schema["type"]
            names = [types] if isinstance(types, str) else types
            if not isinstance(names, (list, tuple)) or not names:
                raise SchemaError("type must be a type name or a non-empty array of them", pointer(path, "type"))
            for name in names:
                if name not in TYPE_NAMES:
                    raise SchemaError(f"unknown type {name!r}", pointer(path, "type"))
        if "enum" in schema:
            if not isinstance(schema["enum"], (list, tuple)):
                raise SchemaError("enum must be an array", pointer(path, "enum"))
            if not schema["enum"]:
                raise SchemaError("enum is empty, so no value can match", pointer(path, "enum"))
        self._check_numbers(schema, path)
        for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"),
                          ("minProperties", "maxProperties"), ("minContains", "maxContains")):  # fmt: skip
            for key in (low, high):
                if key in schema and count(schema[key]) is None:
                    raise SchemaError(f"{key} must be a non-negative integer", pointer(path, key))
            lo_count, hi_count = count(schema.get(low)), count(schema.get(high))
            if lo_count is not None and hi_count is not None and lo_count > hi_count:
                raise SchemaError(f"{low} ({lo_count}) is greater than {high} ({hi_count})", path)
        if "required" in schema:
            required = schema["required"]
            if not isinstance(required, (list, tuple)) or not all(isinstance(r, str) for r in required):
                raise SchemaError("required must be an array of strings", pointer(path, "required"))
            most = count(schema.get("maxProperties"))
            if most is not None and len(set(required)) > most:
                raise SchemaError(f"{len(set(required))} required properties exceed maxProperties ({most})", path)
        if "pattern" in schema:
            self.regex(schema["pattern"], pointer(path, "pattern"))
        if "not" in schema and is_trivially_true(schema["not"]):
            raise SchemaError("'not' of a schema that accepts everything matches nothing", pointer(path, "not"))
        # jsonschema and its reference resolution fail with a TypeError or AttributeError on these when malformed.
        for key in ("format", "$id", "$schema", "$dynamicRef"):
            if key in schema and not isinstance(schema[key], str):
                raise SchemaError(f"{key} must be a string, not {kind(schema[key])}", pointer(path, key))
        for key in ("dependentRequired", "dependencies"):
            if key in schema and not isinstance(schema[key], Mapping):
                raise SchemaError(f"{key} must be an object", pointer(path, key))
        for name, deps in as_mapping(schema.get("dependentRequired")).items():
            if not _is_names(deps):
                raise SchemaError(
                    "dependentRequired values must be arrays of strings", pointer(path, "dependentRequired", name)
                )
        for name, dependency in as_mapping(schema.get("dependencies")).items():
            if not _is_names(dependency) and not isinstance(dependency, (bool, Mapping)):
                raise SchemaError(
                    "dependencies values must be arrays of property names or schemas",
                    pointer(path, "dependencies", name),
                )

    @staticmethod
    def _check_numbers(schema: Mapping[str, Any], path: str) -> None:
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            value: Any = schema.get(key)
            if key not in schema or (isinstance(value, bool) and key.startswith("exclusive")):
                continue
            if not is_number(value) or not math.isfinite(value):
                raise SchemaError(f"{key} must be a number", pointer(path, key))
        if "multipleOf" in schema and schema["multipleOf"] <= 0:
            raise SchemaError("multipleOf must be greater than 0", pointer(path, "multipleOf"))
        limits = bounds(schema)
        if limits.lo is None or limits.hi is None:
            return
        if limits.lo > limits.hi or (limits.lo == limits.hi and (limits.lo_exclusive or limits.hi_exclusive)):
            lo_name = "exclusiveMinimum" if limits.lo_exclusive else "minimum"
            hi_name = "exclusiveMaximum" if limits.hi_exclusive else "maximum"
            raise SchemaError(f"{lo_name} ({limits.lo}) is not below {hi_name} ({limits.hi}): no number fits", path)
        if schema.get("type") == "integer":
            lo, hi = integer_range(limits)
            if lo is not None and hi is not None and lo > hi:
                raise SchemaError(f"no integer lies between {limits.lo} and {limits.hi}", path)

    # ---- minimum nesting (for terminating recursion) ---------------------------------------------

    def min_height(self, schema: Any) -> float:
        """How many containers deep the shallowest instance must be; infinity when none is finite."""
        return self._height(schema, ())[0]

    def _height(self, schema: Any, stack: tuple[int, ...]) -> tuple[float, bool]:
        """(height, whether a cycle was cut).  Only cycle-free results are memoised: the others depend
        on where the walk entered the cycle."""
        if schema is True:
            return 0.0, False
        if not isinstance(schema, Mapping):
            return math.inf, False
        memo = self._heights.get(id(schema))
        if memo is not None and memo[0] is schema:
            return memo[1], False
        if id(schema) in stack:
            return math.inf, True
        inner = (*stack, id(schema))
        cyclic = False

        def sub(node: Any) -> float:
            nonlocal cyclic
            height, cut = self._height(node, inner)
            cyclic = cyclic or cut
            return height

        result = 0.0
        if "$ref" in schema:
            result = max(result, sub(self.resolve(schema["$ref"], "#")[0]))
        for part in as_list(schema.get("allOf")):
            result = max(result, sub(part))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                result = max(result, min([sub(branch) for branch in as_list(schema[key])], default=math.inf))
        if "const" not in schema and "enum" not in schema:
            result = max(result, self._own_height(schema, sub))
        if not cyclic:
            self._heights[id(schema)] = (schema, result)
        return result, cyclic

    @staticmethod
    def _own_height(schema: Mapping[str, Any], sub: Callable[[Any], float]) -> float:
        declared = schema.get("type")
        if declared is None:
            return 0.0  # any type is allowed, scalars included
        best = math.inf
        for name in [declared] if isinstance(declared, str) else as_list(declared):
            if name in SCALARS:
                return 0.0
            if name == "object":
                props = as_mapping(schema.get("properties"))
                needed = [sub(props[r]) for r in as_list(schema.get("required")) if r in props]
                best = min(best, 1.0 + max(needed, default=0.0))
            elif name == "array":
                prefix, items, _ = array_parts(schema)
                lo = max(count(schema.get("minItems")) or 0, contains_needed(schema))
                if lo == 0:
                    best = min(best, 1.0)
                else:
                    heights = [sub(prefix[i] if i < len(prefix) else items) for i in range(min(lo, len(prefix) + 1))]
                    best = min(best, 1.0 + max(heights))
        return best


def _is_names(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value)
