"""The API's one error shape, ``{"error": {"code", "message"}}``, and how each error becomes it.

400 or 422, decided once: **400** is a request the API cannot read (a query parameter that is
unknown, repeated or malformed, a body that is not JSON or not a CloudEvent object or array, a
content type it does not take); **422** answers a readable submission all of whose events were
rejected (R-IN-7), with each event's reason and rule. 401/403 come from access control, 404 for
a path, tenant or id that does not exist (or is not the key's, R-ACC-3), 503 while a store or
the broker cannot be used, 500 for anything else (details in the server log only).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ticketflow.errors import QueryError, TicketflowError, UnavailableError

log = logging.getLogger("ticketflow.api")


class ApiError(TicketflowError):
    """An error answered as ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)
    return Response(body, status, headers=headers, media_type="application/json")


def query_error(exc: QueryError) -> ApiError:
    """404 for an unknown tenant, 400 for any other query that cannot be answered."""
    message = str(exc)
    if message.startswith("unknown tenant"):
        return ApiError(404, "unknown_tenant", message)
    if message.startswith("no recorded events"):
        return ApiError(404, "not_found", message)
    return ApiError(400, "invalid_query", message)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def install(app: FastAPI) -> None:
    """Every error of ``app`` in the one shape."""

    @app.exception_handler(ApiError)
    def _api(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(QueryError)
    def _query(request: Request, exc: QueryError) -> Response:
        error = query_error(exc)
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(UnavailableError)
    def _unavailable(request: Request, exc: UnavailableError) -> Response:
        log.error("%s %s: %s (%s)", request.method, request.url.path, exc, exc.hint)
        return error_response(503, "unavailable", f"{exc}".splitlines()[0][:300])

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "bad_request")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such resource: {request.url.path}; see /openapi.json"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        return error_response(exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "invalid_query", _describe(exc.errors()))

    @app.exception_handler(Exception)
    def _internal(request: Request, exc: Exception) -> Response:
        log.error("error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal error; the server log has details")


def _describe(errors: Any) -> str:
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
    return f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
