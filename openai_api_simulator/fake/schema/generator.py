"""The generator: a value for a schema, drawn from a random stream, checked before it is returned.

It walks the schema top-down.  At each node it resolves ``$ref`` and merges ``allOf`` (`merge.py`), picks
a type, and builds the value from the keywords; a node's value is then checked against the node's schema
(`validate.py`), and a draw that misses a best-effort keyword (``pattern``, ``oneOf``, ``not``,
``uniqueItems``, ``contains``...) is redrawn from a forked stream, up to `_ATTEMPTS` times.  A schema no
value can be found for raises `SchemaError`; an invalid value is never returned.

Recursive schemas terminate because past a depth (`_MINIMAL_DEPTH` containers or `_MINIMAL_REFS` ``$ref``
expansions on one path) every choice takes its shallowest option.  The request's `Budget` bounds the total
work: every node drawn and every ``$ref``/``allOf`` flattening is a step (`limits.MAX_SCHEMA_STEPS` per
request), and generated strings count their characters (`limits.MAX_GENERATED_CHARS`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any, Final, NamedTuple

from openai_api_simulator import limits
from openai_api_simulator.fake.budget import Budget
from openai_api_simulator.fake.rng import Rng
from openai_api_simulator.fake.schema import costs
from openai_api_simulator.fake.schema.document import Document
from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.formats import MAKERS
from openai_api_simulator.fake.schema.keywords import (
    SCALARS,
    Bounds,
    array_parts,
    as_list,
    as_mapping,
    bounds,
    contains_needed,
    count,
    fraction,
    integer_range,
    is_multiple,
    json_key,
    pointer,
)
from openai_api_simulator.fake.schema.merge import merge
from openai_api_simulator.fake.schema.names import named_float_range, named_int_range, named_string
from openai_api_simulator.fake.schema.regex import matching_string
from openai_api_simulator.fake.schema.words import NOUNS, Words

# Beyond this many `$ref` expansions (or nested containers) on one path, recursion winds down: optional
# properties are dropped, arrays shrink to minItems and anyOf takes its shallowest branch.
_MINIMAL_REFS: Final = 4
_MINIMAL_DEPTH: Final = 8
# A safety net for schemas whose every instance nests forever (caught statically in most cases).
_HARD_DEPTH: Final = 48
# Redraws after a best-effort miss; only mismatching draws pay for them, so be generous.
_ATTEMPTS: Final = 16
_OPTIONAL_P: Final = 0.6

# Keywords that tell an untyped schema's intended type.
_OBJECT_KEYS: Final = frozenset(
    {
        "properties", "required", "additionalProperties", "patternProperties", "minProperties",
        "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
    }
)  # fmt: skip
_ARRAY_KEYS: Final = frozenset(
    {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"}
)
_STRING_KEYS: Final = frozenset({"minLength", "maxLength", "pattern", "format"})
_NUMBER_KEYS: Final = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
# When a schema allows anything, prefer readable scalars over deep structures.
_ANY_WEIGHTS: Final = {"string": 4, "integer": 2, "number": 1, "boolean": 2, "null": 1}


def generate(schema: Mapping[str, Any] | bool, rng: Rng, *, hint: str = "", budget: Budget | None = None) -> Any:
    """A JSON value (dicts, lists, str, int, float, bool, None) that validates against `schema`.

    `hint` is free text (typically the user's prompt); its content words may appear in string values.
    Raises `SchemaError` for the schemas `validate_schema_supported` rejects and for any schema no
    value can be generated for, and the budget's exceptions (`fake.budget`) when `budget` (the request's;
    a fresh one by default) runs out.
    """
    generator = _Generator(schema, hint, budget if budget is not None else Budget())
    generator.check()
    return generator.generate(rng)


def validate_schema_supported(schema: Any, budget: Budget | None = None) -> None:
    """Raise `SchemaError` unless `generate` can produce values for `schema`.

    Checks the structure (objects or booleans all the way down, well-formed keywords, local ``$ref``s
    that resolve, regexes that compile), rejects obvious contradictions anywhere in the schema
    (``enum: []``, ``minimum > maximum``, ``minItems > maxItems``, ``not: {}``...) and finally does a
    trial generation, which catches what only shows up when generating (e.g. an unmatchable pattern).
    """
    # The request's schemas are counted here, where the API checks them: generating from one later reads
    # the same schema again, which is not a second schema.
    generator = _Generator(schema, "", budget if budget is not None else Budget(), count_nodes=True)
    generator.check()
    generator.generate(Rng("validate_schema_supported"))


class _Unlucky(Exception):
    """A draw failed a best-effort keyword; a draw from another stream may succeed."""

    def __init__(self, reason: str, pointer: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pointer = pointer


class _State(NamedTuple):
    depth: int  # nested containers above this value
    refs: int  # $ref expansions on the path to this value

    @property
    def minimal(self) -> bool:
        """Past the recursion threshold: take the shortest, least nested option everywhere."""
        return self.refs > _MINIMAL_REFS or self.depth > _MINIMAL_DEPTH


class _Generator:
    def __init__(self, root: Any, hint: str, budget: Budget, *, count_nodes: bool = False) -> None:
        self.budget = budget
        # A schema the request has already had checked (the API checks every schema, then generates from
        # the one it answers with) comes with what was worked out about it: heights, patterns, validator.
        known = budget.memo.get(("schema", id(root)))
        if isinstance(known, tuple) and known[0] is root and isinstance(known[1], Document):
            self.doc, self._checked = known[1], True
        else:
            self.doc, self._checked = Document(root, budget, count_nodes=count_nodes), False
        self.words = Words(hint)
        # Flattened schemas by id (holding the schema, so the id is not reused): an allOf of $refs shared
        # across the document is merged once, not once per path that reaches it.
        self._flat: dict[int, tuple[Any, Any, int]] = {}

    def check(self) -> None:
        if not self._checked:
            self.doc.check()
            self.budget.memo[("schema", id(self.doc.root))] = (self.doc.root, self.doc)
            self._checked = True

    def generate(self, rng: Rng) -> Any:
        # Built only now: the structure check has made sure the schema is one the validator can take.
        self.checker = self.doc.checker()
        return self._gen_node(self.doc.root, rng, _State(0, 0), "#", "")

    def _step(self, path: str) -> None:
        costs.step(self.budget, path)

    # ---- flattening ------------------------------------------------------------------------------

    def _flatten(self, schema: Any, path: str, hops: int = 0) -> tuple[Any, int]:
        """Resolve ``$ref`` and merge ``allOf`` into one schema; also returns how many refs were followed."""
        if not isinstance(schema, Mapping) or ("$ref" not in schema and "allOf" not in schema):
            return schema, 0
        known = self._flat.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1], known[2]
        if hops > 32:
            raise SchemaError("$ref/allOf chain does not terminate (circular reference)", path)
        self._step(path)
        parts: list[Any] = []
        refs = 0
        if "$ref" in schema:
            target, target_path = self.doc.resolve(schema["$ref"], path)
            flat, followed = self._flatten(target, target_path, hops + 1)
            parts.append(flat)
            refs += 1 + followed
        for i, sub in enumerate(as_list(schema.get("allOf"))):
            flat, followed = self._flatten(sub, pointer(path, "allOf", i), hops + 1)
            parts.append(flat)
            refs += followed
        # The referenced/base parts come first so their property order leads in the output.
        merged: Any = True
        for part in [*parts, {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}]:
            merged = merge(merged, part)
        self._flat[id(schema)] = (schema, merged, refs)
        return merged, refs

    # ---- one node --------------------------------------------------------------------------------

    def _gen_node(self, schema: Any, rng: Rng, state: _State, path: str, name: str) -> Any:
        """A value for `schema`, checked against it; best-effort misses are redrawn from forked streams."""
        self._step(path)
        if state.depth > _HARD_DEPTH:
            raise SchemaError(f"values nest deeper than {_HARD_DEPTH} levels (endless recursion?)", path)
        flat, refs = self._flatten(schema, path)
        if flat is False:
            raise SchemaError("no value satisfies this schema (false, or contradicting allOf/$ref parts)", path)
        flat_map: Mapping[str, Any] = flat if isinstance(flat, Mapping) else {}
        state = state._replace(refs=state.refs + refs)
        failure = _Unlucky("no attempt was made", path)
        for attempt in range(_ATTEMPTS):
            draw = rng if attempt == 0 else rng.fork("again", attempt)
            try:
                value = self._gen_flat(flat_map, draw, state, path, name)
            except _Unlucky as exc:
                failure = exc
                continue
            error = self.checker.error(value, schema, path)
            if error is None:
                return value
            failure = _Unlucky(error, path)
        raise SchemaError(f"could not generate a value satisfying every keyword ({failure.reason})", failure.pointer)

    def _gen_flat(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        if "const" in flat:
            rest = {k: v for k, v in flat.items() if k != "const"}
            if not self.checker.is_valid(flat["const"], rest):
                raise SchemaError("the const value does not satisfy the schema's other keywords", path)
            return copy.deepcopy(flat["const"])
        if "enum" in flat:
            rest = {k: v for k, v in flat.items() if k != "enum"}
            options = [option for option in as_list(flat["enum"]) if self.checker.is_valid(option, rest)]
            if not options:
                raise SchemaError("no enum value satisfies the schema's other keywords", pointer(path, "enum"))
            return copy.deepcopy(rng.choice(options))
        if "anyOf" in flat or "oneOf" in flat:
            return self._gen_choice(flat, rng, state, path, name)
        if "if" in flat and ("then" in flat or "else" in flat):
            return self._gen_conditional(flat, rng, state, path, name)
        kind = self._pick_type(self._types(flat, state), rng.fork("type"), state)
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.chance(0.5)
        if kind == "integer":
            return self._gen_integer(flat, rng, path, name)
        if kind == "number":
            return self._gen_number(flat, rng, path, name)
        if kind == "string":
            return self._gen_string(flat, rng, path, name)
        if kind == "array":
            return self._gen_array(flat, rng, state, path, name)
        return self._gen_object(flat, rng, state, path)

    def _types(self, flat: Mapping[str, Any], state: _State) -> list[str]:
        declared = flat.get("type")
        if declared is not None:
            return list(dict.fromkeys([declared] if isinstance(declared, str) else as_list(declared)))
        # Untyped: any type is valid, but the keywords say what the author had in mind.
        kinds: list[str] = []
        if any(key in flat for key in _OBJECT_KEYS):
            kinds.append("object")
        if any(key in flat for key in _ARRAY_KEYS):
            kinds.append("array")
        if any(key in flat for key in _STRING_KEYS):
            kinds.append("string")
        if any(key in flat for key in _NUMBER_KEYS):
            numbers = [flat[key] for key in _NUMBER_KEYS if key in flat]
            kinds.append("number" if any(isinstance(n, float) and not n.is_integer() for n in numbers) else "integer")
        if state.minimal and not any(kind in SCALARS for kind in kinds):
            # Matches the nesting heights, which count untyped schemas as satisfiable by a scalar.
            return ["null"]
        return kinds or list(_ANY_WEIGHTS)

    @staticmethod
    def _pick_type(types: list[str], rng: Rng, state: _State) -> str:
        if len(types) == 1:
            return types[0]
        if state.minimal:
            for kind in ("null", "boolean", "integer", "number", "string"):
                if kind in types:
                    return kind
        # null is the dull option of a nullable type: draw it less often than the others.
        return rng.weighted(types, _ANY_WEIGHTS if set(types) <= set(_ANY_WEIGHTS) else {"null": 1})

    # ---- combinators -----------------------------------------------------------------------------

    def _branch_order(self, branches: list[Any], rng: Rng, state: _State) -> list[int]:
        order = rng.permutation(len(branches))
        heights = [self.doc.min_height(branch) for branch in branches]
        if state.minimal:
            return sorted(order, key=lambda i: heights[i])  # stable: ties keep the random order
        return sorted(order, key=lambda i: math.isinf(heights[i]))

    def _gen_choice(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        """anyOf/oneOf: generate from one branch (merged with the sibling keywords), fall back to others."""
        key = "anyOf" if "anyOf" in flat else "oneOf"
        branches = as_list(flat[key])
        rest = {k: v for k, v in flat.items() if k != key}
        unlucky = False
        last: SchemaError | None = None
        for i in self._branch_order(branches, rng.fork(key), state):
            branch_path = pointer(path, key, i)
            branch, refs = self._flatten(branches[i], branch_path)
            merged = merge(rest, branch)
            if merged is False:
                continue
            try:
                value = self._gen_node(
                    merged, rng.fork(key, i), state._replace(refs=state.refs + refs), branch_path, name
                )
            except SchemaError as exc:
                last = exc
                continue
            if key == "oneOf" and sum(self.checker.is_valid(value, b) for b in branches) != 1:
                unlucky = True  # the value also fits another branch; another draw may not
                continue
            return value
        if unlucky:
            raise _Unlucky(f"every {key} value drawn matched more than one branch", path)
        raise SchemaError(f"no {key} branch can be satisfied" + (f" ({last.reason})" if last else ""), path)

    def _gen_conditional(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> Any:
        """if/then/else (best effort): aim for one side; the final check enforces the real semantics."""
        rest = {k: v for k, v in flat.items() if k not in ("if", "then", "else")}
        condition, _ = self._flatten(flat["if"], pointer(path, "if"))
        then, _ = self._flatten(flat.get("then", True), pointer(path, "then"))
        otherwise, _ = self._flatten(flat.get("else", True), pointer(path, "else"))
        options = [merge(merge(rest, condition), then), merge(rest, otherwise)]
        last: SchemaError | None = None
        for i in rng.fork("if").permutation(2):
            if options[i] is False:
                continue
            try:
                return self._gen_node(options[i], rng.fork("if", i), state, path, name)
            except SchemaError as exc:
                last = exc
        raise last or SchemaError("neither the then nor the else side of if can be satisfied", path)

    # ---- scalars ---------------------------------------------------------------------------------

    def _gen_integer(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> int:
        lo, hi = integer_range(bounds(flat))
        divisor = flat.get("multipleOf")
        # The integer multiples of p/q (in lowest terms) are exactly the multiples of p.
        step = 1 if divisor is None else fraction(divisor).numerator
        if lo is None and hi is None:
            lo, hi = named_int_range(name) or (0, 100 * step)
        elif lo is None:
            lo = hi - 100 * step  # type: ignore[operator]
        elif hi is None:
            hi = lo + 100 * step
        assert lo is not None and hi is not None
        if lo > hi:
            raise SchemaError(f"no integer lies within the bounds ({lo} > {hi})", path)
        k_lo, k_hi = -(-lo // step), hi // step
        if k_lo > k_hi:
            raise SchemaError(f"no multiple of {divisor} lies within the bounds", path)
        for attempt in range(40):
            k = (k_lo, k_hi)[attempt - 38] if attempt >= 38 else rng.between(k_lo, k_hi)
            value = k * step
            if divisor is None or is_multiple(value, divisor):
                return value
        raise SchemaError(f"found no integer that is a multiple of {divisor} within the bounds", path)

    def _gen_number(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> int | float:
        limits = bounds(flat)
        lo, hi = limits.lo, limits.hi
        if lo is None and hi is None:
            lo, hi = named_float_range(name) or (0, 100)
        elif lo is None:
            lo = hi - 100  # type: ignore[operator]
        elif hi is None:
            hi = lo + 100
        assert lo is not None and hi is not None
        limits = Bounds(lo, limits.lo_exclusive, hi, limits.hi_exclusive)
        if lo > hi or (lo == hi and (limits.lo_exclusive or limits.hi_exclusive)):
            raise SchemaError(f"no number lies within the bounds ({lo}, {hi})", path)
        divisor = flat.get("multipleOf")
        if divisor is not None:
            step = fraction(divisor)
            k_lo, k_hi = math.ceil(Fraction(lo) / step), math.floor(Fraction(hi) / step)
            if limits.lo_exclusive and k_lo * step == lo:
                k_lo += 1
            if limits.hi_exclusive and k_hi * step == hi:
                k_hi -= 1
            if k_lo > k_hi:
                raise SchemaError(f"no multiple of {divisor} lies within the bounds", path)
            for attempt in range(40):
                k = (k_lo, k_hi)[attempt - 38] if attempt >= 38 else rng.between(k_lo, k_hi)
                exact = k * step
                value: int | float = int(exact) if exact.denominator == 1 else float(exact)
                if limits.contains(value) and is_multiple(value, divisor):
                    return value
            raise SchemaError(f"found no multiple of {divisor} within the bounds", path)
        r = rng.random()
        x = lo * (1 - r) + hi * r  # not lo + (hi - lo) * r: the difference may overflow
        candidates = [round(x, 2), round(x, 4), x, lo / 2 + hi / 2, math.nextafter(lo, hi), math.nextafter(hi, lo)]
        for candidate in candidates:
            if math.isfinite(candidate) and limits.contains(candidate):
                return float(candidate) + 0.0  # + 0.0 turns -0.0 into 0.0
        raise SchemaError(f"no number lies within the bounds ({lo}, {hi})", path)

    def _gen_string(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> str:
        value = self._draw_string(flat, rng, path, name)
        costs.characters(self.budget, len(value), path)
        return value

    def _draw_string(self, flat: Mapping[str, Any], rng: Rng, path: str, name: str) -> str:
        lo = count(flat.get("minLength")) or 0
        hi = count(flat.get("maxLength"))
        if hi is not None and lo > hi:
            raise SchemaError(f"minLength ({lo}) is greater than maxLength ({hi})", path)
        if hi is not None:
            # A pattern's renderer aims at a length up to the maximum: no further than the budget allows.
            hi = min(hi, max(lo, limits.MAX_STRING_CHARS))
        pattern = flat.get("pattern")
        fmt = flat.get("format")
        maker = MAKERS.get(fmt) if isinstance(fmt, str) else None
        if maker is not None:
            value = maker(rng.fork("format"), lo, hi)
            if value is not None and (pattern is None or self.doc.regex(pattern, path).search(value)):
                return value
            if pattern is None:
                raise SchemaError(f"no {fmt} string has a length between {lo} and {hi}", path)
        if pattern is not None:
            # When a format is present too, the final check tells whether the match also fits it.
            return self._pattern_string(pattern, lo, hi, rng.fork("pattern"), path)
        named = named_string(name, rng.fork("named"), self.words)
        if named is not None and len(named) >= lo and (hi is None or len(named) <= hi):
            return named
        # Unbounded, a plain string overshoots its minimum by a word or two: never past the budget.
        most = hi if hi is not None else max(lo, limits.MAX_STRING_CHARS)
        return self.words.plain_string(rng.fork("plain"), lo, most)

    def _pattern_string(self, pattern: str, lo: int, hi: int | None, rng: Rng, path: str) -> str:
        """A string the pattern's `search` accepts, within the length bounds."""
        compiled = self.doc.regex(pattern, path)

        def plain() -> list[str]:
            return [self.words.plain_string(rng.fork("stock", i), lo, hi) for i in range(4)]

        text = matching_string(pattern, compiled, lo, hi, rng, plain)
        if text is None:
            lengths = f" with length {lo}..{'' if hi is None else hi}" if lo or hi is not None else ""
            raise SchemaError(f"cannot generate a string matching pattern {pattern!r}{lengths}", path)
        return text

    # ---- containers ------------------------------------------------------------------------------

    def _gen_array(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str, name: str) -> list[Any]:
        prefix, items, items_key = array_parts(flat)
        items_path = pointer(path, items_key)
        lo = count(flat.get("minItems")) or 0
        hi = count(flat.get("maxItems"))
        contains = flat.get("contains")
        needed = contains_needed(flat)
        lo = max(lo, needed)
        if math.isinf(self.doc.min_height(items)):
            # Items past the prefix are impossible (items: false, or unsatisfiable): stop at the prefix.
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        if hi is not None and lo > hi:
            raise SchemaError(f"the array needs at least {lo} items but at most {hi} are possible", path)
        if state.minimal:
            n = lo
        elif prefix:
            n = max(lo, len(prefix))
        else:
            # Shorter arrays deeper down keep recursive structures (trees) small.
            spread = 3 if state.depth < 2 else 2 if state.depth < 4 else 1
            n = max(lo, 1) + rng.fork("length").below(spread)
        if hi is not None:
            n = min(n, hi)
        positions = set(rng.fork("contains").permutation(n)[:needed]) if contains is not None else set()
        unique = flat.get("uniqueItems") is True
        child = state._replace(depth=state.depth + 1)
        out: list[Any] = []
        seen: set[Hashable] = set()  # json_key of each item, when unique: a lookup, not a pass over the items
        for i in range(n):
            sub, sub_path = (prefix[i], pointer(path, "prefixItems", i)) if i < len(prefix) else (items, items_path)
            if i in positions:
                sub = {"allOf": [sub, contains]}
            value, found = None, False
            for k in range(12 if unique else 1):
                try:
                    value = self._gen_node(sub, rng.fork("item", i, k), child, sub_path, name)
                except SchemaError:
                    if i < lo:
                        raise
                    break
                if not (unique and json_key(value) in seen):
                    found = True
                    break
            if not found:
                if i >= lo:
                    break  # a shorter array is still valid
                raise _Unlucky(f"found only {i} distinct items for uniqueItems (minItems {lo})", path)
            out.append(value)
            if unique:
                seen.add(json_key(value))
        return out

    def _property_schema(self, flat: Mapping[str, Any], key: str, path: str) -> tuple[Any, str] | None:
        """The schema(s) a property must satisfy, or None when the object may not have it."""
        subs: list[Any] = []
        sub_path = ""
        props = as_mapping(flat.get("properties"))
        if key in props:
            subs.append(props[key])
            sub_path = pointer(path, "properties", key)
        for pattern, sub in as_mapping(flat.get("patternProperties")).items():
            if self.doc.regex(pattern, path).search(key):
                subs.append(sub)
                sub_path = sub_path or pointer(path, "patternProperties", pattern)
        if not subs:
            additional = flat.get("additionalProperties", True)
            if additional is False:
                return None
            return additional, pointer(path, "additionalProperties")
        return (subs[0] if len(subs) == 1 else {"allOf": subs}), sub_path

    def _gen_object(self, flat: Mapping[str, Any], rng: Rng, state: _State, path: str) -> dict[str, Any]:
        props = as_mapping(flat.get("properties"))
        required = list(dict.fromkeys(as_list(flat.get("required"))))
        least = count(flat.get("minProperties")) or 0
        most = count(flat.get("maxProperties"))
        if most is not None and len(required) > most:
            raise SchemaError(f"{len(required)} required properties exceed maxProperties ({most})", path)
        forced = set(required)
        room = None if most is None else most - len(required)
        chosen: list[str] = []
        for key, sub in props.items():
            if key in forced:
                chosen.append(key)
            elif (
                not state.minimal
                and room != 0
                and rng.fork("optional", key).chance(_OPTIONAL_P)
                and not math.isinf(self.doc.min_height(sub))
            ):
                chosen.append(key)
                room = None if room is None else room - 1
        chosen += [key for key in required if key not in props]
        # dependentRequired: a present property pulls its dependencies in.
        dependencies = {**as_mapping(flat.get("dependencies")), **as_mapping(flat.get("dependentRequired"))}
        i = 0
        while i < len(chosen):
            dependency = dependencies.get(chosen[i])
            for other in dependency if isinstance(dependency, (list, tuple)) else ():
                if other not in chosen:
                    chosen.append(other)
                    forced.add(other)
            i += 1
        child = state._replace(depth=state.depth + 1)
        out: dict[str, Any] = {}
        for key in chosen:
            found = self._property_schema(flat, key, path)
            if found is None:
                if key in forced:
                    raise SchemaError(f"required property {key!r} is not allowed by additionalProperties", path)
                continue
            try:
                out[key] = self._gen_node(found[0], rng.fork("prop", key), child, found[1], key)
            except SchemaError:
                if key in forced:
                    raise
        if len(out) < least:
            self._fill_properties(flat, out, least, rng, child, path)
        return out

    def _fill_properties(
        self, flat: Mapping[str, Any], out: dict[str, Any], least: int, rng: Rng, child: _State, path: str
    ) -> None:
        """minProperties: add optional properties, then keys matching patternProperties or extra keys."""
        candidates = [key for key in as_mapping(flat.get("properties")) if key not in out]
        patterns = list(as_mapping(flat.get("patternProperties")))
        for i in range(len(candidates) + 4 * least + 8):
            if len(out) >= least:
                return
            self._step(path)  # a candidate drawn, kept or not
            draw = rng.fork("extra", i)
            if i < len(candidates):
                key = candidates[i]
            elif patterns and (flat.get("additionalProperties", True) is False or draw.chance(0.5)):
                pattern = draw.choice(patterns)
                try:
                    key = self._pattern_string(pattern, 1, 24, draw.fork("key"), pointer(path, "patternProperties"))
                except SchemaError:
                    continue
            else:
                key = f"{draw.choice(NOUNS)}_{i}"
            found = self._property_schema(flat, key, path)
            if key in out or found is None:
                continue
            try:
                out[key] = self._gen_node(found[0], draw.fork("value"), child, found[1], key)
            except SchemaError:
                continue
        if len(out) < least:
            raise SchemaError(f"could not reach minProperties ({least}) with allowed properties", path)
