"""Errors and the OpenAI error envelope.

Exception tree::

    SimulatorError                 base of everything this package raises on purpose
    ├── APIError                   an HTTP answer in OpenAI's error shape (status, type, param, code)
    │   ├── InvalidRequest         400 invalid_request_error
    │   └── ModelNotFound          404 invalid_request_error / model_not_found
    └── StartupError               the server could not start (busy port, bad settings); names what to do

Every error the HTTP layer sends is built from an `APIError`, so clients always see
``{"error": {"message", "type", "param", "code"}}`` and never a traceback.
"""

from __future__ import annotations

import json
from typing import Any


class SimulatorError(Exception):
    """Base class of the errors this package raises on purpose."""


class APIError(SimulatorError):
    """An error answered to an HTTP client in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def json_bytes(self) -> bytes:
        return json.dumps(self.body(), allow_nan=False).encode()  # strict: never NaN, even in a bug


class InvalidRequest(APIError):
    """400: the request body or parameters are wrong; `param` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(400, message, type="invalid_request_error", param=param, code=code)


class ModelNotFound(APIError):
    """404 with OpenAI's wording for a model id nobody serves."""

    def __init__(self, model: str) -> None:
        super().__init__(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            type="invalid_request_error",
            param="model",
            code="model_not_found",
        )


class StartupError(SimulatorError):
    """The server cannot start; the message says why and what the user can do."""


def error_body(message: str, *, type: str, param: str | None = None, code: str | int | None = None) -> dict[str, Any]:
    """The OpenAI error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# Status → the `type` OpenAI uses for it; used for injected errors and generic HTTP errors.
ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


def for_status(status: int, message: str, *, param: str | None = None) -> APIError:
    """An APIError with the type and code OpenAI uses for `status`."""
    type_, code = ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return APIError(status, message, type=type_, param=param, code=code)
