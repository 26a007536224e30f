"""The admin routes of scripted answers, each acting on the caller's scope (its `X-Simulator-Test-Id`)::

    POST   /_simulator/rules        add rules: {"rules": [...]} or one rule → {"rules": [{"id": ...}]}
    GET    /_simulator/rules        the rules that apply, in matching order, with the calls each answered
    DELETE /_simulator/rules        drop the scope's rules and its call counters
    DELETE /_simulator/rules/{id}   drop one of the scope's rules

Invalid rules are a 400 in OpenAI's shape with `param` naming the place (``rules[0].answer.tool_calls``). The
API key guards these routes like every other (`api.auth`). `POST /_simulator/reset` resets the scope's rules
too (`RuleBook.reset` is registered with the app's `Resets`).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from openai_api_simulator.api.http import JSONBytes, parse_json, read_body
from openai_api_simulator.errors import APIError, InvalidRequest
from openai_api_simulator.testdouble.matching import RuleBook
from openai_api_simulator.testdouble.rules import RuleError
from openai_api_simulator.testdouble.scope import PREFIX, test_id

# Far above any test's script (a thousand rules of a few hundred bytes), far below what would weigh on memory.
MAX_RULES_BODY_BYTES: Final = 4 * 1024 * 1024


def routes(book: RuleBook) -> list[BaseRoute]:
    async def rules(request: Request) -> Response:
        scope = test_id(request.headers.raw)
        if request.method == "GET":
            return JSONBytes({"object": "list", "test_id": scope, "rules": book.listing(scope)})
        if request.method == "DELETE":
            return JSONBytes({"deleted": book.reset(scope)})
        doc = parse_json(await read_body(request, MAX_RULES_BODY_BYTES))
        try:
            added = book.add(scope, doc)
        except RuleError as exc:
            raise InvalidRequest(f"Invalid rules: {exc}", param=exc.path or None, code="invalid_rules") from None
        return JSONBytes({"rules": [{"id": rule.id} for rule in added]})

    async def one_rule(request: Request) -> Response:
        scope = test_id(request.headers.raw)
        rule_id = request.path_params["rule_id"]
        if book.delete(scope, rule_id):
            return JSONBytes({"id": rule_id, "deleted": True})
        if book.is_server_rule(rule_id):
            raise InvalidRequest(
                f"Rule '{rule_id}' comes from the server's --rules file; it cannot be deleted at run time.",
                param="id",
            )
        raise APIError(404, f"No rule '{rule_id}' in this test's rules.", param="id", code="not_found")

    return [
        Route(PREFIX + "/rules", rules, methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "/rules/{rule_id}", one_rule, methods=["DELETE"]),
    ]
