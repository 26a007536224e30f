"""JSON values that validate against a JSON Schema, drawn deterministically from a random stream.

The fake model answers tool calls (function ``parameters``) and ``response_format: json_schema``
requests with these values, so the one hard rule is: *the output validates*.  Every generated value is
checked against the schema with the ``jsonschema`` package, the library clients' test suites check it
with; a schema no value can be found for raises `SchemaError` instead of ever returning an invalid value.

Determinism: the output is a pure function of the schema, the hint and the `Rng` seed.  Each sub-part
draws from its own fork (``prop/<name>``, ``item/<i>``, ...) so that, for example, adding a property to
a schema does not change the values generated for the others.

The modules, in the order a request meets them: `document` (structure checks, ``$ref``, nesting
heights), `generator` (the walk), with `merge` (``allOf``), `regex` (``pattern``), `formats`,
`names` and `words` (what strings look like), `validate` (the check) and `keywords` (reading keyword
values, shared by all).
"""

from openai_api_simulator.fake.schema.errors import SchemaError
from openai_api_simulator.fake.schema.generator import generate, recharge, validate_schema_supported

__all__ = ["SchemaError", "generate", "recharge", "validate_schema_supported"]
