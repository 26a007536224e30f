"""JSON values that validate against a JSON Schema, drawn deterministically from a random stream.

The fake model answers tool calls (function ``parameters``) and ``response_format: json_schema``
requests with these values, so the one hard rule is: *the output validates*.  Every generated value is
checked against the schema with the ``jsonschema`` package, the library clients' test suites check it
with; a schema no value can be found for raises `SchemaError` instead of ever returning an invalid value.

Determinism: the output is a pure function of the schema, the hint and the `Rng` seed.  Each sub-part
draws from its own fork (``prop/<name>``, ``item/<i>``, ...) so that, for example, adding a property to
a schema does not change the values generated for the others.

The work is bounded by the request's `fake.budget.Budget`: the structure checks refuse schemas over the
limits of `openai_api_simulator.limits`, and generation counts its steps and characters (`costs`); running
out raises the budget's `BudgetExceeded`, never a `SchemaError` a fallback could retry around.

The modules, in the order a request meets them: `document` (structure checks, ``$ref``), `graph` (nesting
heights, expansion counts), `generator` (the walk), with `merge` (``allOf``), `regex` (``pattern``: parsing
and generating), `pattern` (matching without catastrophic backtracking), `formats`, `names` and `words`
(what strings look like), `validate` (the check), `costs` (the budget's counters) and `keywords` (reading
keyword values, shared by all).
"""

from openai_api_simulator.fake.schema.costs import recharge
from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.generator import generate, validate_schema_supported

__all__ = ["SchemaError", "generate", "recharge", "validate_schema_supported"]
