"""`errors`: the exception tree, OpenAI's error envelope, and the type/code used for each HTTP status."""

from __future__ import annotations

import json

import pytest

from openai_api_simulator.errors import (
    APIError,
    InvalidRequest,
    ModelNotFound,
    SimulatorError,
    StartupError,
    error_body,
    for_status,
)


@pytest.mark.parametrize(
    ("status", "type_", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "authentication_error", "invalid_api_key"),
        (403, "permission_error", None),
        (404, "invalid_request_error", "not_found"),
        (413, "invalid_request_error", "request_too_large"),
        (429, "rate_limit_error", "rate_limit_exceeded"),
        (500, "server_error", None),
        (503, "server_error", "service_unavailable"),
        (504, "server_error", "timeout"),
        # Statuses without an entry: a server error from 500 up, else an invalid request.
        (418, "invalid_request_error", None),
        (507, "server_error", None),
    ],
)
def test_for_status_uses_openais_type_and_code(status: int, type_: str, code: str | None) -> None:
    error = for_status(status, "boom")
    assert (error.status, error.type, error.code, error.message, error.param) == (status, type_, code, "boom", None)
    assert str(error) == "boom"


def test_for_status_passes_the_param_through() -> None:
    assert for_status(400, "bad", param="messages[0]").param == "messages[0]"


def test_body_is_the_openai_error_envelope() -> None:
    error = APIError(409, "Conflict.", type="invalid_request_error", param="id", code="conflict")
    expected = {"error": {"message": "Conflict.", "type": "invalid_request_error", "param": "id", "code": "conflict"}}
    assert error.body() == expected
    assert json.loads(error.json_bytes()) == expected
    assert error.headers == {}
    assert error_body("x", type="server_error") == {
        "error": {"message": "x", "type": "server_error", "param": None, "code": None}
    }


def test_headers_are_kept_per_error() -> None:
    a = APIError(429, "slow down", headers={"Retry-After": "2"})
    b = APIError(429, "slow down")
    b.headers["Retry-After"] = "9"
    assert a.headers == {"Retry-After": "2"}
    assert APIError(429, "again").headers == {}


def test_invalid_request_is_a_400() -> None:
    error = InvalidRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    assert (error.status, error.type) == (400, "invalid_request_error")
    assert error.body()["error"]["param"] == "model"
    assert error.body()["error"]["code"] == "missing_required_parameter"


def test_model_not_found_uses_openais_wording() -> None:
    error = ModelNotFound("gpt-9")
    assert error.status == 404
    assert error.body() == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_the_exception_tree() -> None:
    assert issubclass(InvalidRequest, APIError) and issubclass(ModelNotFound, APIError)
    assert issubclass(APIError, SimulatorError) and issubclass(StartupError, SimulatorError)
    assert not issubclass(StartupError, APIError)
