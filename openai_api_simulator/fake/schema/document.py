"""One schema document as a whole: its structure checks, local ``$ref`` resolution, and nesting heights.

These are the questions answered about the schema before (and while) generating from it: is it well
formed and free of obvious contradictions, is it within the simulator's limits (`limits`: size, depth,
expansion, lengths), where does a ``$ref`` point, which regexes does it use, and how deep must its
shallowest instance be.  The last one is what lets recursive schemas (trees, linked lists) terminate:
past a depth the generator takes the shallowest option, and a schema whose every instance nests forever
is rejected up front instead of recursing until the budget runs out.  Heights and expansion counts are
questions about the graph of subschemas, answered in `graph`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.graph import Graph
from openai_api_simulator.fake.schema.keywords import (
    TYPE_NAMES,
    as_mapping,
    bounds,
    count,
    integer_range,
    is_number,
    is_trivially_true,
    kind,
    pointer,
)
from openai_api_simulator.fake.schema.pattern import SafePattern, UnsafePattern, safe_pattern
from openai_api_simulator.fake.schema.validate import Checker

# Subschema keywords holding one schema each, walked by the structure check.
_SINGLE_SCHEMA_KEYS = (
    "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
    "unevaluatedProperties", "unevaluatedItems",
)  # fmt: skip
NODES: Final = "schema nodes"  # the budget counter of subschemas read, over all the request's schemas
# Counts whose minimum is generated item by item, and the largest minimum accepted.
_COUNT_CAPS: Final = (
    ("minLength", limits.MAX_STRING_CHARS, "characters"),
    ("minItems", limits.MAX_SCHEMA_COUNT, "items"),
    ("minProperties", limits.MAX_SCHEMA_COUNT, "properties"),
    ("minContains", limits.MAX_SCHEMA_COUNT, "items"),
)
# Generated property names that no schema spells out (drawn from patternProperties) are at most this long.
_GENERATED_KEY_CHARS: Final = 24


class Document:
    """One root schema and what is worked out about it once per generation (regexes, anchors, heights)."""

    def __init__(self, root: Any, budget: Budget | None = None, *, count_nodes: bool = False) -> None:
        self.root = root
        self.budget = budget if budget is not None else Budget()
        self._count_nodes = count_nodes  # count the subschemas against the request's `MAX_SCHEMA_NODES`
        self._regexes: dict[str, SafePattern] = {}
        self._anchors: dict[str, Any] | None = None
        self._graph: Graph | None = None
        self._checker: Checker | None = None
        # Learnt by the structure check: whether a $ref makes the subschemas more than a tree, how many
        # there are, and what the rule on unevaluatedProperties needs (see `_check_key_patterns`).
        self._refs = False
        self._size = 0
        self._unevaluated = False
        self._key_patterns: dict[str, str] = {}  # patternProperties pattern -> its pointer
        self._longest_key = _GENERATED_KEY_CHARS

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
            # Depth first in document order (the first of two equal anchors wins), without recursion: the walk
            # goes through const and default values too, which nest as deep as the JSON parser allows.
            stack: list[Any] = [self.root]
            while stack:
                node = stack.pop()
                if isinstance(node, Mapping):
                    if isinstance(node.get("$anchor"), str):
                        anchors.setdefault(node["$anchor"], node)
                    stack.extend(reversed(list(node.values())))
                elif isinstance(node, (list, tuple)):
                    stack.extend(reversed(node))
            self._anchors = anchors
        return self._anchors

    def regex(self, pattern: Any, where: str) -> SafePattern:
        if not isinstance(pattern, str):
            raise SchemaError(f"pattern must be a string, not {kind(pattern)}", where)
        compiled = self._regexes.get(pattern)
        if compiled is None:
            try:
                compiled = safe_pattern(pattern)
            except re.error as exc:
                raise SchemaError(f"pattern {pattern!r} is not a valid regular expression: {exc}", where) from None
            except RecursionError:
                raise SchemaError(f"pattern {pattern[:80]!r}... nests its groups too deeply", where) from None
            except UnsafePattern as exc:
                raise SchemaError(str(exc), where) from None
            self._regexes[pattern] = compiled
        return compiled

    def checker(self) -> Checker:
        """The validator for this root, built on first use (after `check`: it takes any well-formed schema)."""
        if self._checker is None:
            self._checker = Checker(self.root)
        return self._checker

    def graph(self) -> Graph:
        """The subschemas and their heights, worked out on first use (after `check`, which resolves every ref)."""
        if self._graph is None:
            # Before `check` has run (a caller asking heights directly) assume the worst: refs.
            refs = self._refs or not self._size
            self._graph = Graph(self.root, self.resolve, self.budget, refs=refs)
        return self._graph

    def min_height(self, schema: Any) -> float:
        """How many containers deep the shallowest instance must be; infinity when none is finite."""
        return self.graph().min_height(schema)

    # ---- structure checks ------------------------------------------------------------------------

    def check(self) -> None:
        """Raise `SchemaError` for a malformed schema, one over the limits, or one that visibly no value satisfies."""
        self._check(self.root, "#", 0)
        self._check_key_patterns()
        # Without a $ref a value meets each subschema at most once: a tree within the limit needs no count.
        if self._refs or self._size > limits.MAX_SCHEMA_EXPANSION:
            self.graph().check_expansion()
        if math.isinf(self.min_height(self.root)):
            raise SchemaError(
                "no finite value satisfies this schema (it is false, contradictory, or requires endless nesting)"
            )

    def _check(self, schema: Any, path: str, nesting: int) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be a JSON object or a boolean, not {kind(schema)}", path)
        if nesting > limits.MAX_SCHEMA_DEPTH:
            raise SchemaError(
                f"schema nests more than {limits.MAX_SCHEMA_DEPTH} levels deep, the simulator's limit", path
            )
        self._count(schema, path)
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
                        self._key_patterns.setdefault(name, pointer(path, key, name))
                    elif key == "properties":
                        self._longest_key = max(self._longest_key, len(name))
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

    def _count(self, schema: Mapping[str, Any], path: str) -> None:
        """Count one subschema (and its enum values and required names) against the request's limit."""
        size = 1
        for key in ("enum", "required"):
            value = schema.get(key)
            size += len(value) if isinstance(value, (list, tuple)) else 0
        if self._count_nodes and self.budget.add(NODES, size) > limits.MAX_SCHEMA_NODES:
            raise SchemaError(
                f"the request's schemas have more than {limits.MAX_SCHEMA_NODES:,} subschemas (enum values and "
                "required names included), the simulator's limit",
                path,
            )
        self.budget.check()
        self._size += 1
        self._refs = self._refs or "$ref" in schema
        if "unevaluatedProperties" in schema:
            self._unevaluated = True
        if "required" in schema or "dependentRequired" in schema:
            for names in (schema.get("required"), *as_mapping(schema.get("dependentRequired")).values()):
                for name in names if isinstance(names, (list, tuple)) else ():
                    self._longest_key = max(self._longest_key, len(name) if isinstance(name, str) else 0)

    def _check_key_patterns(self) -> None:
        """With ``unevaluatedProperties``, the validator matches ``patternProperties`` with Python's `re`.

        Its search for the properties a subschema evaluated is the validator library's own, so there the
        patterns meet property names without the linear-time matcher; they must be cheap for `re` on the
        longest name the generated objects can have (those the schema spells out, or short generated ones).
        """
        if not self._unevaluated:
            return
        for pattern, where in self._key_patterns.items():
            if self.regex(pattern, where).longest_safe < self._longest_key:
                raise SchemaError(
                    f"patternProperties pattern {pattern!r} could backtrack for too long on property names of "
                    f"{self._longest_key} characters, which the validator matches with Python's re when the "
                    "schema uses unevaluatedProperties; simplify the pattern so that each repeated part matches "
                    "its text one way only, or drop unevaluatedProperties",
                    where,
                )

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
        for key, cap, unit in _COUNT_CAPS:
            least = count(schema.get(key))
            if least is not None and least > cap:
                shown = f"{least:,}" if least < 10**15 else f"{least:.3g}"
                raise SchemaError(
                    f"{key} ({shown}) is above the simulator's limit of {cap:,} {unit}", pointer(path, key)
                )
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
            # An integer past a float's range (JSON allows 400 digits) would overflow the float arithmetic.
            if not is_number(value) or abs(value) > sys.float_info.max or not math.isfinite(value):
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


def _is_names(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value)
