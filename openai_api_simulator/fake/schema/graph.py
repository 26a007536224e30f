"""The schema as a graph of subschemas: how deep its shallowest instance nests, and how much one check costs.

Nesting heights are what lets recursive schemas (trees, linked lists) terminate: past a depth the
generator takes the shallowest option, and a schema whose every instance nests forever is refused up
front. A height is defined by the subschemas it depends on (the deepest of ``allOf``, the shallowest of
``anyOf``, one more for a container), and through ``$ref`` those dependencies form cycles. Walking them
depth-first, as this module once did, visits every simple path of the cycles: seconds for a few kilobytes
of mutually recursive ``$defs``. Instead every height starts at infinity and is lowered until nothing
changes (a worklist over the subschemas of the document, children first), which visits each subschema
once plus once more per change below it. The result is the same: the height of the shallowest finite
instance, the one a walk that cuts cycles finds from the top.

The expansion count is the other cost a schema can hide: a value is checked against every subschema that
``$ref``, ``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else`` and ``dependentSchemas`` lead
to without descending into the value, and an ``allOf`` of two ``$ref``s that each do the same doubles that
number at every level. It is counted once per subschema, and over `limits.MAX_SCHEMA_EXPANSION` the schema
is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.keywords import (
    SCALARS,
    array_parts,
    as_list,
    as_mapping,
    contains_needed,
    count,
    pointer,
)

# Keywords holding one subschema, and those holding a map or a list of them.
_SINGLE = (
    "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else",
    "unevaluatedProperties", "unevaluatedItems",
)  # fmt: skip
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
# Keywords whose subschemas check the same value, not a part of it: what an expansion count follows.
_IN_PLACE_SINGLE = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_EVALUATIONS_PER_NODE = 8


_HOLDS: Final = {
    **{key: "one" for key in _SINGLE},
    **{key: "map" for key in _MAPS},
    **{key: "list" for key in _LISTS},
    "items": "one or list",
}


def _subschemas(schema: Mapping[str, Any]) -> Iterator[tuple[Any, tuple[object, ...]]]:
    """The subschemas written inside `schema`, with the pointer tokens that lead to each.

    Read off the keys the schema has (a few), not looked up for every keyword there is (two dozen).
    """
    for key, value in schema.items():
        holds = _HOLDS.get(key)
        if holds is None:
            continue
        if holds == "map":
            for name, sub in as_mapping(value).items():
                if isinstance(sub, (bool, Mapping)):
                    yield sub, (key, name)
        elif isinstance(value, (list, tuple)) and holds != "one":
            for i, sub in enumerate(value):
                yield sub, (key, i)
        elif isinstance(value, (bool, Mapping)) and holds != "list":
            yield value, (key,)


class Graph:
    """Every subschema of a root reachable through schema keywords and ``$ref``, and what is known of them.

    `refs` says whether the document has any ``$ref``. Without one the subschemas form a tree: heights are
    worked out as they are asked for (no cycle can form), and a value is checked against at most as many
    subschemas as the document has, so the graph is only walked when a question needs it.
    """

    def __init__(
        self, root: Any, resolve: Callable[[Any, str], tuple[Any, str]], budget: Budget, *, refs: bool = True
    ) -> None:
        self._root = root
        self._resolve = resolve
        self._budget = budget
        self._refs = refs
        self._targets: dict[int, Any] = {}  # id(schema with $ref) -> the schema it points to
        # id -> (the schema above, pointer tokens from it), or (None, the whole pointer) for the root and ref
        # targets: pointers are only spelled out for an error message.
        self._where: dict[int, tuple[Any, tuple[object, ...]]] = {}
        self._nodes: list[Mapping[str, Any]] | None = None  # children before parents where the tree allows
        self._heights: dict[int, list[Any]] = {}  # id -> [schema, height]: the worklist's results
        self._loose: dict[int, tuple[Any, float]] = {}  # heights of schemas made later (merges)
        self._solved = False

    def _pointer(self, schema: Any) -> str:
        tokens: list[object] = []
        above, steps = self._where.get(id(schema), (None, ("#",)))
        while above is not None:
            tokens[:0] = steps
            above, steps = self._where.get(id(above), (None, ("#",)))
        return pointer(str(steps[0]), *steps[1:], *tokens)

    def _collected(self) -> list[Mapping[str, Any]]:
        if self._nodes is not None:
            return self._nodes
        nodes: list[Mapping[str, Any]] = []
        self._nodes = nodes
        root = self._root
        if not isinstance(root, Mapping):
            return nodes
        self._where[id(root)] = (None, ("#",))
        stack: list[tuple[Mapping[str, Any], bool]] = [(root, False)]
        while stack:
            schema, expanded = stack.pop()
            if expanded:
                nodes.append(schema)  # post-order: after everything below it
                continue
            stack.append((schema, True))
            children: list[tuple[Any, Any, tuple[object, ...]]] = [
                (sub, schema, tokens) for sub, tokens in _subschemas(schema)
            ]
            if "$ref" in schema:
                target, target_path = self._resolve(schema["$ref"], "#")
                self._targets[id(schema)] = target
                children.append((target, None, (target_path,)))
            for child, above, tokens in reversed(children):
                if isinstance(child, Mapping) and id(child) not in self._where:
                    self._where[id(child)] = (above, tokens)
                    stack.append((child, False))
        return nodes

    # ---- nesting heights -------------------------------------------------------------------------

    def min_height(self, schema: Any) -> float:
        """How many containers deep the shallowest instance must be; infinity when none is finite."""
        if self._refs and not self._solved:
            self._solve()
        return self._height_of(schema, ())[0]

    def _formula(self, schema: Mapping[str, Any], sub: Callable[[Any], float]) -> float:
        result = 0.0
        if "$ref" in schema:
            target = self._targets.get(id(schema))
            if target is None:
                target = self._resolve(schema["$ref"], "#")[0]
            result = max(result, sub(target))
        for part in as_list(schema.get("allOf")):
            result = max(result, sub(part))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                result = max(result, min([sub(branch) for branch in as_list(schema[key])], default=math.inf))
        if "const" not in schema and "enum" not in schema:
            result = max(result, _own_height(schema, sub))
        return result

    def _dependencies(self, schema: Mapping[str, Any]) -> Iterator[Any]:
        """What `_formula` may read: a height changing below a schema may change the schema's."""
        if id(schema) in self._targets:
            yield self._targets[id(schema)]
        for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            yield from as_list(schema.get(key))
        yield from as_mapping(schema.get("properties")).values()
        yield from (schema.get("items"), schema.get("additionalItems"))

    def _solve(self) -> None:
        self._solved = True
        nodes = self._collected()
        heights = self._heights
        for schema in nodes:
            heights[id(schema)] = [schema, math.inf]
        parents: dict[int, list[Mapping[str, Any]]] = {}
        for schema in nodes:
            for dependency in self._dependencies(schema):
                if isinstance(dependency, Mapping) and id(dependency) in heights:
                    parents.setdefault(id(dependency), []).append(schema)
        evaluated: set[int] = set()

        def current(node: Any) -> float:
            if node is True:
                return 0.0
            entry = heights.get(id(node)) if isinstance(node, Mapping) else None
            return entry[1] if entry is not None else math.inf

        # Children first, then whatever a lowered height may lower in turn. A parent not evaluated yet is
        # left to its turn in the first pass, so a schema without cycles costs one evaluation per subschema.
        queue = list(reversed(nodes))
        queued = {id(schema) for schema in nodes}
        # Real schemas settle in one or two evaluations a subschema; a graph built to keep lowering its
        # heights one level at a time is refused rather than followed.
        allowed = _EVALUATIONS_PER_NODE * len(nodes) + 1000
        while queue:
            schema = queue.pop()
            queued.discard(id(schema))
            evaluated.add(id(schema))
            allowed -= 1
            if allowed < 0:
                raise SchemaError(
                    "working out how deeply this schema's values must nest takes too long (its $refs form "
                    "too many cycles)",
                    self._pointer(schema),
                )
            if allowed % 256 == 0:
                self._budget.check()
            entry = heights[id(schema)]
            value = self._formula(schema, current)
            if value < entry[1]:
                entry[1] = value
                for parent in parents.get(id(schema), ()):
                    if id(parent) in evaluated and id(parent) not in queued:
                        queue.append(parent)
                        queued.add(id(parent))

    def _height_of(self, schema: Any, stack: tuple[int, ...]) -> tuple[float, bool]:
        """(height, whether a cycle was cut), for any schema: the solved ones are looked up.

        Schemas the generator made (merges of ``allOf`` parts) are not in the graph; they are worked out from
        their parts, which are, with the cycle cut among themselves. Only cycle-free results are memoised:
        the others depend on where the walk entered the cycle.
        """
        if schema is True:
            return 0.0, False
        if not isinstance(schema, Mapping):
            return math.inf, False
        solved = self._heights.get(id(schema))
        if solved is not None and solved[0] is schema:
            return solved[1], False
        memo = self._loose.get(id(schema))
        if memo is not None and memo[0] is schema:
            return memo[1], False
        if id(schema) in stack:
            return math.inf, True
        inner = (*stack, id(schema))
        cyclic = False

        def sub(node: Any) -> float:
            nonlocal cyclic
            height, cut = self._height_of(node, inner)
            cyclic = cyclic or cut
            return height

        result = self._formula(schema, sub)
        if not cyclic:
            self._loose[id(schema)] = (schema, result)
        return result, cyclic

    # ---- expansion -------------------------------------------------------------------------------

    def _in_place(self, schema: Mapping[str, Any]) -> list[Any]:
        found = [self._targets[id(schema)]] if id(schema) in self._targets else []
        found += [schema[key] for key in _IN_PLACE_SINGLE if key in schema]
        for key in _IN_PLACE_LISTS:
            found += as_list(schema.get(key))
        found += as_mapping(schema.get("dependentSchemas")).values()
        found += [sub for sub in as_mapping(schema.get("dependencies")).values() if isinstance(sub, Mapping)]
        return [sub for sub in found if isinstance(sub, Mapping)]

    def check_expansion(self) -> None:
        """Refuse a schema where one value would be checked against more than `MAX_SCHEMA_EXPANSION` subschemas.

        Counted as paths: a subschema reached twice costs twice. A cycle is cut where it closes; the validator
        meets it as a recursion that ends in an error, not as an explosion.
        """
        nodes = self._collected()
        in_place: dict[int, list[Any]] = {}

        def below(schema: Mapping[str, Any]) -> list[Any]:
            found = in_place.get(id(schema))
            if found is None:
                found = in_place[id(schema)] = self._in_place(schema)
            return found

        done: dict[int, int] = {}
        for root in nodes:
            if id(root) in done:
                continue
            on_path = {id(root)}
            stack: list[tuple[Mapping[str, Any], Iterator[Any]]] = [(root, iter(below(root)))]
            while stack:
                schema, pending = stack[-1]
                child = next(pending, None)
                if child is not None:
                    if id(child) not in done and id(child) not in on_path:
                        on_path.add(id(child))
                        stack.append((child, iter(below(child))))
                    continue
                stack.pop()
                on_path.discard(id(schema))
                total = 1 + sum(done.get(id(sub), 0) for sub in below(schema))
                if total > limits.MAX_SCHEMA_EXPANSION:
                    raise SchemaError(
                        f"a value is checked against more than {limits.MAX_SCHEMA_EXPANSION:,} subschemas here "
                        "once $ref, allOf, anyOf and oneOf are expanded, the simulator's limit (an allOf or anyOf "
                        "of $refs that do the same doubles the count at every level)",
                        self._pointer(schema),
                    )
                done[id(schema)] = total
            self._budget.check()


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
