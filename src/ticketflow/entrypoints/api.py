"""The HTTP API (DESIGN §1, §7), on the standard library's threading HTTP server.

Endpoints (JSON; times RFC 3339 UTC; hours decimal; field names as in the CLI queries):

- ``GET /v1/sla?as_of=&tenant=&status=&format=json|csv``: one row per ticket (R-SLA-10);
- ``GET /v1/billing/{tenant}?month=YYYY-MM``: tier changes and billed tiers (R-BILL-*);
- ``GET /v1/expertise/{tenant}?month=YYYY-MM``: expert hours of a month (R-EXP-*);
- ``POST /v1/events``: one structured CloudEvent or a JSON array of them; ``202`` with one
  outcome per event (accepted, duplicate, rejected); rejected events also go to the dead-letter
  file ``<data-dir>/deadletter/api.jsonl`` (R-IN-3);
- ``GET /v1/health`` and ``GET /openapi.json``.

Errors are ``{"error": {"code": ..., "message": ...}}``: 400 for a malformed request, 404 for an
unknown path or tenant, 405 for a wrong method, 411/413/415 for a body without a length, too
large, or not JSON by its content type, 500 (details in the server log only).

A server holds one :class:`~ticketflow.bootstrap.System`, used by one request at a time (the
SQLite connections are not shared safely between threads). In embedded mode the server keeps the
read models up to date itself: after applying events, and before answering a query (another
process, e.g. ``ticketflow ingest``, may have written to the event store). In Kafka mode
(``TICKETFLOW_MODE=kafka``) valid events are published to the inbound topic (outcome
``published``; the engine worker applies them and sends rejects to the dead-letter topic), and
the projection workers own the read models: the server only reads them.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.kafka import publish_inbound
from ticketflow.bootstrap import System
from ticketflow.contract import EVENT_TYPES, Priority, parse_event
from ticketflow.domain.billing import CHANGE_KINDS
from ticketflow.domain.catalog import Tier
from ticketflow.entrypoints import render
from ticketflow.errors import QueryError, TicketflowError
from ticketflow.service import queries
from ticketflow.service.submit import Candidate, Intake, Result
from ticketflow.settings import Settings

MAX_BODY_BYTES = 10 * 1024 * 1024
EVENT_CONTENT_TYPES = (
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "application/json",
)
DEAD_LETTER_FILE = Path("deadletter") / "api.jsonl"
DEAD_LETTER_ORIGIN = "POST /v1/events"
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
SLA_FORMATS = tuple(f for f in render.FORMATS if f != "table")


# -- errors and responses -----------------------------------------------------------------


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


@dataclass(frozen=True)
class Response:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any) -> Response:
    """``data`` as a JSON response."""
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def error_response(error: ApiError) -> Response:
    """The JSON error body of ``error``."""
    body = {"error": {"code": error.code, "message": error.message}}
    return Response(error.status, json.dumps(body).encode("utf-8"), headers=error.headers)


def query_error(exc: QueryError) -> ApiError:
    """404 for an unknown tenant, 400 for any other query that cannot be answered."""
    message = str(exc)
    if message.startswith("unknown tenant"):
        return ApiError(404, "unknown_tenant", message)
    return ApiError(400, "invalid_query", message)


# -- the system behind the API ------------------------------------------------------------


def _outcome(result: Result) -> dict[str, Any]:
    """One event's outcome as the API answers it."""
    rejection = result.rejection
    return {
        "id": result.id,
        "status": result.status,
        "reason": rejection.reason if rejection else None,
        "detail": rejection.detail if rejection else None,
        "rule": rejection.rule if rejection else None,
    }


class Service:
    """The one :class:`System` of a server, used by one request at a time."""

    def __init__(self, system: System, *, project_read_models: bool) -> None:
        self.system = system
        self.project_read_models = project_read_models
        self.lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise ApiError(503, "unavailable", "the server is shutting down")

    def _refresh(self) -> None:
        self._check_open()
        if self.project_read_models:
            self.system.project()

    def sla(
        self, *, as_of: str | None, tenant: str | None, status: str | None
    ) -> list[dict[str, Any]]:
        """SLA rows as ``ticketflow query sla`` gives them."""
        instant = queries.parse_instant(as_of) if as_of else None
        with self.lock:
            self._refresh()
            return queries.sla(self.system.readmodels, as_of=instant, tenant=tenant, status=status)

    def billing(self, *, tenant: str, month: str | None) -> dict[str, Any]:
        """Billing of ``tenant`` as ``ticketflow query billing`` gives it."""
        parsed = queries.parse_month(month) if month else None
        with self.lock:
            self._refresh()
            return queries.billing(self.system.readmodels, tenant=tenant, month=parsed)

    def expertise(self, *, tenant: str, month: str) -> dict[str, Any]:
        """Expert hours of ``tenant`` in ``month`` as ``ticketflow query expertise``."""
        parsed = queries.parse_month(month)
        with self.lock:
            self._refresh()
            return queries.expertise(self.system.readmodels, tenant=tenant, month=parsed)

    def submit(self, originals: Sequence[str]) -> list[dict[str, Any]]:
        """Validate and apply events (JSON texts) in order; one outcome per event."""
        batch = [
            Candidate.of(index, original, parse_event, original)
            for index, original in enumerate(originals, start=1)
        ]
        dead = DeadLetterFile(self.system.settings.data_dir / DEAD_LETTER_FILE, DEAD_LETTER_ORIGIN)
        intake = Intake(dead, self.system.engine)
        try:
            if not self.project_read_models:  # Kafka mode: the engine worker decides
                settings = self.system.settings
                results = intake.publish(batch, lambda keyed: publish_inbound(settings, keyed))
            else:
                with self.lock:
                    self._check_open()
                    size = self.system.settings.batch_size
                    results = [
                        result
                        for start in range(0, len(batch), size)
                        for result in intake.submit(batch[start : start + size])
                    ]
                    self.system.project()
        finally:
            dead.close()
        return [_outcome(result) for result in results]

    def close(self) -> None:
        """Close the system once the request in progress, if any, is done."""
        with self.lock:
            if not self._closed:
                self._closed = True
                self.system.close()


# -- requests and routes ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What a route needs of an HTTP request."""

    method: str
    path: str
    params: dict[str, str]
    path_args: dict[str, str]
    headers: dict[str, str]
    body: bytes


def _params(request: Request, allowed: Sequence[str]) -> dict[str, str]:
    unknown = sorted(set(request.params) - set(allowed))
    if unknown:
        expected = ", ".join(allowed) or "none"
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; expected: {expected}",
        )
    return {k: v for k, v in request.params.items() if v != ""}


def get_sla(service: Service, request: Request) -> Response:
    """``GET /v1/sla``."""
    params = _params(request, ("as_of", "tenant", "status", "format"))
    fmt = params.get("format", "json")
    if fmt not in SLA_FORMATS:
        raise ApiError(400, "invalid_query", f"format {fmt!r}: expected json or csv")
    rows = service.sla(
        as_of=params.get("as_of"), tenant=params.get("tenant"), status=params.get("status")
    )
    if fmt == "csv":
        text = render.rows(rows, queries.SLA_FIELDS, "csv") + "\n"
        return Response(200, text.encode("utf-8"), CSV_TYPE)
    return json_response(200, rows)


def get_billing(service: Service, request: Request) -> Response:
    """``GET /v1/billing/{tenant}``."""
    params = _params(request, ("month",))
    return json_response(
        200, service.billing(tenant=request.path_args["tenant"], month=params.get("month"))
    )


def get_expertise(service: Service, request: Request) -> Response:
    """``GET /v1/expertise/{tenant}``."""
    params = _params(request, ("month",))
    if "month" not in params:
        raise ApiError(400, "invalid_query", "month is required (YYYY-MM, e.g. 2026-05)")
    return json_response(
        200, service.expertise(tenant=request.path_args["tenant"], month=params["month"])
    )


def post_events(service: Service, request: Request) -> Response:
    """``POST /v1/events``."""
    _params(request, ())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in EVENT_CONTENT_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type!r}: send {' or '.join(EVENT_CONTENT_TYPES)}",
        )
    originals = _event_texts(request.body)
    outcomes = service.submit(originals)
    kinds = ("accepted", "duplicate", "published", "rejected")
    counts = {s: sum(o["status"] == s for o in outcomes) for s in kinds}
    return json_response(202, {**counts, "outcomes": outcomes})


def _event_texts(body: bytes) -> list[str]:
    """The JSON text of each event of a body: one object, or an array of them."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise ApiError(400, "not_json", f"the body is not JSON: {exc}") from None
    if isinstance(document, dict):
        return [body.decode("utf-8", errors="replace")]
    if isinstance(document, list):
        return [json.dumps(item, ensure_ascii=False) for item in document]
    raise ApiError(
        400, "not_an_object", "the body must be a CloudEvent (JSON object) or an array of them"
    )


def get_health(service: Service, request: Request) -> Response:
    """``GET /v1/health``."""
    _params(request, ())
    return json_response(200, {"status": "ok"})


def get_openapi(service: Service, request: Request) -> Response:
    """``GET /openapi.json``."""
    _params(request, ())
    return json_response(200, openapi())


Route = tuple[str, re.Pattern[str], Callable[[Service, Request], Response]]
ROUTES: tuple[Route, ...] = (
    ("GET", re.compile(r"/v1/sla"), get_sla),
    ("GET", re.compile(r"/v1/billing/(?P<tenant>[^/]+)"), get_billing),
    ("GET", re.compile(r"/v1/expertise/(?P<tenant>[^/]+)"), get_expertise),
    ("POST", re.compile(r"/v1/events"), post_events),
    ("GET", re.compile(r"/v1/health"), get_health),
    ("GET", re.compile(r"/openapi\.json"), get_openapi),
)


def route(method: str, path: str) -> tuple[Callable[[Service, Request], Response], dict[str, str]]:
    """The handler of ``method`` on ``path`` (still percent-encoded) and its path arguments."""
    matches = [(m, p.fullmatch(path), h) for m, p, h in ROUTES]
    found = [(m, match, h) for m, match, h in matches if match is not None]
    if not found:
        raise ApiError(404, "not_found", f"no such resource: {path}; see /openapi.json")
    for route_method, match, handler in found:
        if route_method == method:
            return handler, {k: unquote(v) for k, v in match.groupdict().items()}
    allowed = ", ".join(sorted({m for m, _, _ in found}))
    raise ApiError(
        405,
        "method_not_allowed",
        f"{method} is not allowed on {path}; use {allowed}",
        {"Allow": allowed},
    )


def _query_params(query: str) -> dict[str, str]:
    parsed = parse_qs(query, keep_blank_values=True)
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise ApiError(400, "invalid_query", f"query parameter {repeated[0]!r} is repeated")
    return {name: values[0] for name, values in parsed.items()}


# -- the HTTP server ----------------------------------------------------------------------


class ApiHandler(BaseHTTPRequestHandler):
    """Turns HTTP requests into route calls and responses into HTTP."""

    server: ApiServer
    server_version = "ticketflow"
    timeout = 60  # seconds a client may take to send its request

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("GET", send_body=False)

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _handle(self, method: str, send_body: bool = True) -> None:
        try:
            response = self._respond(method)
        except ApiError as exc:
            response = error_response(exc)
        except QueryError as exc:
            response = error_response(query_error(exc))
        except Exception:
            print(f"ticketflow api: error on {method} {self.path}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            error = ApiError(500, "internal_error", "internal error; the server log has details")
            response = error_response(error)
        self._send(response, send_body)

    def _respond(self, method: str) -> Response:
        url = urlsplit(self.path)
        handler, path_args = route(method, url.path)
        request = Request(
            method=method,
            path=url.path,
            params=_query_params(url.query),
            path_args=path_args,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._body() if method == "POST" else b"",
        )
        return handler(self.server.service, request)

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.close_connection = True
            raise ApiError(411, "length_required", "send the body with a Content-Length header")
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise ApiError(400, "bad_request", f"Content-Length {raw!r} is not a byte count")
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(
                413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes; split it"
            )
        return self.rfile.read(length)

    def _send(self, response: Response, send_body: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)


class ApiServer(ThreadingHTTPServer):
    """The API's HTTP server; closing it closes its system."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        super().__init__(address, ApiHandler)

    @property
    def url(self) -> str:
        """The base URL the server listens on."""
        host, port = self.server_address[0], self.server_address[1]
        shown = f"[{host!s}]" if self.address_family == socket.AF_INET6 else str(host)
        return f"http://{shown}:{port}"

    def server_close(self) -> None:
        super().server_close()
        self.service.close()


def make_server(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> ApiServer:
    """A server bound to ``host:port`` (0: any free port), not yet serving."""
    system = System.open(settings)
    service = Service(system, project_read_models=settings.mode == "embedded")
    try:
        return ApiServer((host, port), service)
    except BaseException:
        service.close()
        raise


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (``KeyboardInterrupt`` propagates once the server is closed)."""
    server = make_server(settings, host, port)
    try:
        if announce is not None:
            announce(server.url)
        server.serve_forever()
    finally:
        server.server_close()


# -- the OpenAPI document -----------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _object(properties: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


def _ok(description: str, schema: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {str(status): {"description": description, "content": {JSON_TYPE: {"schema": schema}}}}


MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$", "examples": ["2026-05"]}
INSTANT = {"type": "string", "format": "date-time"}
HOURS = {"type": "number", "description": "decimal hours, to the hundredth (R-EXP-6)"}
TIER = {"type": "string", "enum": [tier.value for tier in Tier]}
EXPERTISE_HOURS = (
    "included_hours",
    "consumed_hours",
    "from_allowance_hours",
    "from_packs_hours",
    "overage_hours",
    "unfunded_hours",
    "pack_balance_hours",
)
TENANT_PATH = {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}


def _schemas() -> dict[str, Any]:
    outcome_status = {
        "type": "string",
        "enum": ["accepted", "duplicate", "published", "rejected"],
    }
    return {
        "Error": _object(
            {"error": _object({"code": {"type": "string"}, "message": {"type": "string"}})}
        ),
        "SlaRow": _object(
            {
                "ticket": {"type": "string"},
                "tenant": {"type": "string"},
                "priority": {"type": "string", "enum": list(get_args(Priority))},
                "tier": TIER,
                "category": {"type": "string"},
                "status": {"type": "string", "enum": list(queries.STATUSES)},
                "reason": _nullable("string", description="rule id when not_applicable"),
                "opened_at": INSTANT,
                "clock_started_at": _nullable("string", format="date-time"),
                "deadline": _nullable("string", format="date-time"),
                "restored_at": _nullable("string", format="date-time"),
                "breach_minutes": {"type": "integer", "minimum": 0},
                "cycles": {"type": "integer", "minimum": 1},
            }
        ),
        "BillingChange": _object(
            {
                "from_tier": TIER,
                "to_tier": TIER,
                "kind": {"type": "string", "enum": list(CHANGE_KINDS)},
                "service_effective_at": INSTANT,
                "billing_effective_at": INSTANT,
                "rule": {"type": "string", "description": "rule of the billing date (R-BILL-5)"},
            }
        ),
        "Billing": _object(
            {
                "tenant": {"type": "string"},
                "current_tier": TIER,
                "changes": {"type": "array", "items": _ref("BillingChange")},
                "months": {
                    "type": "array",
                    "items": _object({"month": MONTH, "billed_tier": TIER}),
                },
            }
        ),
        "BilledMonth": _object(
            {
                "tenant": {"type": "string"},
                "month": MONTH,
                "billed_tier": TIER,
                "rule": {"type": "string"},
            }
        ),
        "Expertise": _object(
            {
                "tenant": {"type": "string"},
                "month": MONTH,
                **dict.fromkeys(EXPERTISE_HOURS, HOURS),
            }
        ),
        "CloudEvent": {
            **_object(
                {
                    "specversion": {"const": "1.0"},
                    "id": {"type": "string", "minLength": 1},
                    "source": {"type": "string", "minLength": 1},
                    "type": {"type": "string", "enum": list(EVENT_TYPES)},
                    "subject": {"type": "string", "minLength": 1},
                    "time": {**INSTANT, "description": "RFC 3339 with an offset (R-IN-2)"},
                    "tenant": {"type": "string", "minLength": 1},
                    "data": {"type": "object", "description": "by type: see schemas/*.json"},
                }
            ),
            "description": "A CloudEvents 1.0 event in structured mode (DESIGN §3); "
            "(source, id) is the idempotency key (R-IN-1).",
        },
        "Outcome": _object(
            {
                "id": _nullable("string"),
                "status": outcome_status,
                "reason": _nullable("string", description="reason code when rejected"),
                "detail": _nullable("string"),
                "rule": _nullable("string"),
            }
        ),
        "Submission": _object(
            {
                "accepted": {"type": "integer"},
                "duplicate": {"type": "integer"},
                "published": {"type": "integer", "description": "Kafka mode: sent to inbound"},
                "rejected": {"type": "integer"},
                "outcomes": {
                    "type": "array",
                    "items": _ref("Outcome"),
                    "description": "one per event, in the order sent",
                },
            }
        ),
    }


def _responses() -> dict[str, Any]:
    texts = {
        400: "malformed request (bad month, instant, status, format, parameter or body)",
        404: "unknown path or unknown tenant",
        405: "method not allowed on this path",
        411: "body without Content-Length",
        413: f"body larger than {MAX_BODY_BYTES} bytes",
        415: "content type other than JSON",
        500: "internal error",
        503: "the server is shutting down",
    }
    return {
        f"E{status}": {
            "description": text,
            "content": {JSON_TYPE: {"schema": _ref("Error")}},
        }
        for status, text in texts.items()
    }


def _paths() -> dict[str, Any]:
    month_query = {"name": "month", "in": "query", "schema": MONTH}
    sla_ok = _ok("one row per ticket", {"type": "array", "items": _ref("SlaRow")})
    sla_ok["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    events = {"type": "array", "items": _ref("CloudEvent")}
    body_types = {
        t: {"schema": {"oneOf": [_ref("CloudEvent"), events]}} for t in EVENT_CONTENT_TYPES
    }
    return {
        "/v1/sla": {
            "get": {
                "summary": "SLA status per ticket as of an instant (R-SLA-10)",
                "parameters": [
                    {
                        "name": "as_of",
                        "in": "query",
                        "schema": INSTANT,
                        "description": "RFC 3339 with an offset; default now",
                    },
                    {"name": "tenant", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(queries.STATUSES)},
                    },
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(SLA_FORMATS), "default": "json"},
                    },
                ],
                "responses": {**sla_ok, **_errors(400, 404, 500, 503)},
            }
        },
        "/v1/billing/{tenant}": {
            "get": {
                "summary": "tier changes and billed tier per month (R-BILL-*)",
                "parameters": [
                    TENANT_PATH,
                    {**month_query, "description": "only the tier billed for this month"},
                ],
                "responses": {
                    **_ok(
                        "without month: Billing; with month: BilledMonth",
                        {"oneOf": [_ref("Billing"), _ref("BilledMonth")]},
                    ),
                    **_errors(400, 404, 500, 503),
                },
            }
        },
        "/v1/expertise/{tenant}": {
            "get": {
                "summary": "expert hours of a month (R-EXP-*)",
                "parameters": [TENANT_PATH, {**month_query, "required": True}],
                "responses": {
                    **_ok("hours of the month", _ref("Expertise")),
                    **_errors(400, 404, 500, 503),
                },
            }
        },
        "/v1/events": {
            "post": {
                "summary": "apply one CloudEvent or a batch, in order",
                "description": "Rejected events are also written to the dead-letter file "
                "<data-dir>/deadletter/api.jsonl (R-IN-3).",
                "requestBody": {"required": True, "content": body_types},
                "responses": {
                    **_ok("one outcome per event", _ref("Submission"), status=202),
                    **_errors(400, 411, 413, 415, 500, 503),
                },
            }
        },
        "/v1/health": {
            "get": {
                "summary": "liveness",
                "responses": _ok("up", _object({"status": {"const": "ok"}})),
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": _ok("OpenAPI 3.1", {"type": "object"}),
            }
        },
    }


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ticketflow",
            "version": "1",
            "description": "Support tickets and subscriptions: SLA breaches, billing effective "
            "dates, expert-hour usage. Times are RFC 3339 UTC; hours are decimal.",
        },
        "paths": _paths(),
        "components": {"schemas": _schemas(), "responses": _responses()},
    }


__all__ = ["ApiServer", "make_server", "openapi", "serve"]
