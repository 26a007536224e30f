"""The fake as a test double: what a test can script, see and isolate (issue 10).

Everything here lives under one reserved path prefix, `PREFIX`, never reachable through the OpenAI routes and
guarded by the API key like them. A request may name its test with the `TEST_ID_HEADER` header; the journal,
the scripted rules, the fault state and the error-rate counter are kept per test id, so parallel tests (and
several CI jobs on one server) do not see each other. Requests without the header share the "" scope.

The modules, one concern each:

* `scope`: reading and checking the test id of a request.
* `journal`: the bounded request journal and its admin routes.
* `rules`: scripted answers: the rule format, loading and checking; `matching`: which rule answers a request,
  the per-test books of rules and their call counters; `rules_routes`: their admin routes.
* `cassettes`: record and replay.
"""

from openai_api_simulator.testdouble.scope import PREFIX, TEST_ID_HEADER, test_id

__all__ = ["PREFIX", "TEST_ID_HEADER", "test_id"]
