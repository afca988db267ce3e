"""The HTTP API (DESIGN §1, §3, §7) as a FastAPI application; docs/api.md describes it.

Every route is declared here with its pydantic response model, so ``/openapi.json`` is
generated; its access rule is in :mod:`ticketflow.entrypoints.api.access`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from ticketflow.domain.calendar import Month
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.entrypoints import render
from ticketflow.entrypoints.api import alerts as alert_routes
from ticketflow.entrypoints.api import auditors, models
from ticketflow.entrypoints.api import events as posted
from ticketflow.entrypoints.api import log as log_routes
from ticketflow.entrypoints.api import report as report_page
from ticketflow.entrypoints.api import weather as weather_routes
from ticketflow.entrypoints.api.access import ACCESS, Caller, guard, require_tenant
from ticketflow.entrypoints.api.backend import Backend
from ticketflow.entrypoints.api.errors import ApiError, error_response, install
from ticketflow.entrypoints.api.metrics import Measured, Metrics
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.access import ApiKey
from ticketflow.service.engine import as_sender_sees
from ticketflow.service.history import history

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
PAGE_DEFAULT, PAGE_MAX = 1000, 10_000
MONTH_PATTERN = r"^\d{4}-\d{2}$"

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": models.ErrorBody, "description": text}
    for status, text in {
        400: "the request cannot be read (parameter, body or content type)",
        401: "no valid API key (R-ACC-4)",
        403: "outside the key's roles or tenants (R-ACC-4)",
        404: "no such path, tenant or id (or not the key's, R-ACC-3)",
        503: "a store or the broker cannot be used now",
    }.items()
}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status, media_type=JSON_TYPE)


def _params(request: Request, allowed: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take, or one given twice."""
    names = list(request.query_params.keys())
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; expected: {', '.join(allowed) or 'none'}",
        )
    repeated = sorted({n for n in names if len(request.query_params.getlist(n)) > 1})
    if repeated:
        raise ApiError(400, "invalid_query", f"query parameter {repeated[0]!r} is repeated")


def _instant(text: str | None) -> datetime | None:
    return queries.parse_instant(text) if text else None


def _month(text: str) -> Month:
    return queries.parse_month(text)


def _scope(key: ApiKey) -> tuple[str, ...] | None:
    return key.tenants if key.scoped else None


def _cursor(row: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{row['opened_at']}\n{row['ticket']}".encode()).decode()


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        opened, ticket = base64.urlsafe_b64decode(cursor.encode()).decode().split("\n", 1)
        return parse_rfc3339(opened), ticket
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_query", "cursor: not a cursor this API gave") from None


def create_app(backend: Backend) -> FastAPI:
    """The application over ``backend``."""
    app = FastAPI(
        title="ticketflow",
        version="1",
        summary="Support tickets and subscriptions: SLA breaches, billing effective dates, "
        "expert-hour usage. Times are RFC 3339 UTC; hours are decimal.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(guard)],
        responses=ERRORS,
    )
    app.state.backend = backend
    metrics = Metrics(backend)
    app.state.metrics = metrics
    install(app)
    alert_routes.register(app, backend)

    app.add_middleware(Measured, metrics=metrics)
    weather_routes.register(app)

    # -- operations -------------------------------------------------------------------------

    @app.get("/livez", response_model=models.Liveness, openapi_extra={"security": []})
    def livez(request: Request) -> Response:
        """Liveness: the process answers (no key needed)."""
        _params(request, ())
        return json_response({"status": "ok"})

    @app.get(
        "/readyz", response_model=models.Readiness, responses={503: {"model": models.Readiness}}
    )
    def readyz(request: Request, key: Caller) -> Response:
        """Readiness: the event store, the read models and, in Kafka mode, the broker answer.
        503 otherwise; an operator's key sees which part failed."""
        _params(request, ())
        checks = backend.checks()
        ready = all(ok for ok, _ in checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "unavailable"}
        if key.has_role("operator"):
            body["checks"] = {p: {"ok": ok, "detail": d} for p, (ok, d) in checks.items()}
        return json_response(body, 200 if ready else 503)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics_route(request: Request) -> Response:
        """Prometheus metrics (operators, unscoped keys)."""
        _params(request, ())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_route(request: Request) -> Response:
        _params(request, ())
        return json_response(app.openapi())

    # -- events -----------------------------------------------------------------------------

    @app.post(
        "/v1/events",
        response_model=models.Submission,
        status_code=202,
        responses={
            207: {"model": models.Submission, "description": "some events were rejected"},
            411: {"model": models.ErrorBody, "description": "no Content-Length"},
            413: {"model": models.ErrorBody, "description": "body over 10 MiB"},
            415: {"model": models.ErrorBody, "description": "not a CloudEvents content type"},
            422: {"model": models.Submission, "description": "every event was rejected"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    t: {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}}
                    for t in posted.EVENT_CONTENT_TYPES
                },
            }
        },
    )
    async def post_events(request: Request, key: Caller) -> Response:
        """Apply one CloudEvent (structured or binary mode) or a batch, in order (R-IN-7)."""
        _params(request, ())
        body = await posted.read_body(request)
        batch, documents = posted.candidates(request, body)
        posted.check_access(key, documents, request)
        results = await run_in_threadpool(backend.submit, batch)
        outcomes = [posted.outcome(c, r, key) for c, r in zip(batch, results, strict=True)]
        metrics.count_outcomes(outcomes)
        counts = {s: sum(o["status"] == s for o in outcomes) for s in posted.OUTCOME_STATUSES}
        return json_response({**counts, "outcomes": outcomes}, posted.status_of(outcomes))

    @app.get("/v1/events/{source:path}/{event_id}", response_model=models.EventOutcome)
    def event_outcome(request: Request, key: Caller, source: str, event_id: str) -> Response:
        """What became of an event posted here, by its ``(source, id)`` (R-IN-7): ``pending``
        until the engine decides it (Kafka mode), then ``accepted``, ``duplicate`` or
        ``rejected`` with reason and rule. An event of another tenant or source than the key's
        is not found, as one never posted (R-ACC-3)."""
        _params(request, ())
        found = backend.outcome(source, event_id)
        if (
            found is None
            or not key.may_publish_from(source)
            or (found.tenant is None and key.scoped)
            or (found.tenant is not None and not key.sees(found.tenant))
        ):
            raise ApiError(404, "not_found", f"no event {event_id!r} posted from {source!r}")
        return json_response(found.as_dict())

    # -- read models ------------------------------------------------------------------------

    @app.get(
        "/v1/sla",
        response_model=list[models.SlaRow],
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def sla(request: Request, key: Caller, query: Annotated[models.SlaQuery, Query()]) -> Response:
        """SLA status per ticket as of an instant (R-SLA-10), oldest opening first, a page at a
        time: the ``Link`` header (``rel="next"``) gives the next page."""
        _params(
            request,
            ("as_of", "tenant", "status", "tier", "priority", "month", "cursor", "limit", "format"),
        )
        tenant, status, tier, priority = query.tenant, query.status, query.tier, query.priority
        month, cursor, limit = query.month, query.cursor, query.limit
        if tenant is not None:
            require_tenant(key, tenant, request)
        instant = _instant(query.as_of) or backend.settings.clock.now()  # one instant for all pages
        window = None
        if month is not None:
            parsed = _month(month)
            window = (parsed.start(), parsed.end())
        after = _after(cursor) if cursor else None
        rows = backend.read(
            lambda store: queries.sla(
                store, as_of=instant, tenant=tenant, status=status, tenants=_scope(key)
            )
        )
        rows = [
            r
            for r in rows
            if (tier is None or r["tier"] == tier)
            and (priority is None or r["priority"] == priority)
            and (window is None or window[0] <= parse_rfc3339(r["opened_at"]) < window[1])
            and (after is None or (parse_rfc3339(r["opened_at"]), r["ticket"]) > after)
        ]
        page, more = rows[:limit], len(rows) > limit
        headers = {}
        if more:
            params = dict(request.query_params)
            params["cursor"] = _cursor(page[-1])
            params["as_of"] = rfc3339(instant)
            link = "&".join(f"{k}={_quote(v)}" for k, v in params.items())
            headers["Link"] = f'<{request.url.path}?{link}>; rel="next"'
        if query.format == "csv":
            text = render.rows(page, queries.SLA_FIELDS, "csv") + "\n"
            return Response(text, 200, headers=headers, media_type=CSV_TYPE)
        response = json_response(page)
        response.headers.update(headers)
        return response

    @app.get(
        "/v1/billing/{tenant}",
        response_model=models.Billing | models.BilledMonth,
    )
    def billing(
        request: Request,
        key: Caller,
        tenant: str,
        month: Annotated[
            str | None, Query(description="only the tier billed for this month")
        ] = None,
    ) -> Response:
        """Tier changes and the tier billed per month (R-BILL-*); with ``month``, that month's."""
        _params(request, ("month",))
        require_tenant(key, tenant, request)
        parsed = _month(month) if month else None
        return json_response(
            backend.read(lambda store: queries.billing(store, tenant=tenant, month=parsed))
        )

    @app.get("/v1/expertise", response_model=list[models.Expertise])
    def expertise_month(
        request: Request, key: Caller, month: Annotated[str, Query(description="YYYY-MM")]
    ) -> Response:
        """Expert hours of every tenant (of the key's) in a month (R-EXP-*)."""
        _params(request, ("month",))
        parsed = _month(month)

        def every(store: Any) -> list[dict[str, Any]]:
            tenants = [t for t in queries.expertise_tenants(store) if key.sees(t)]
            return [queries.expertise(store, tenant=t, month=parsed) for t in tenants]

        return json_response(backend.read(every))

    @app.get("/v1/expertise/{tenant}", response_model=models.Expertise)
    def expertise(
        request: Request,
        key: Caller,
        tenant: str,
        month: Annotated[str, Query(description="YYYY-MM")],
    ) -> Response:
        """Expert hours of a tenant in a month (R-EXP-*)."""
        _params(request, ("month",))
        require_tenant(key, tenant, request)
        parsed = _month(month)
        return json_response(
            backend.read(lambda store: queries.expertise(store, tenant=tenant, month=parsed))
        )

    # -- history (auditors) -----------------------------------------------------------------

    @app.get("/v1/history/tickets/{ticket}", response_model=models.TicketHistory)
    def ticket_history(request: Request, key: Caller, ticket: str) -> Response:
        """The recorded events of a ticket, oldest first."""
        _params(request, ())
        return json_response({"ticket": ticket, "events": _ticket_events(backend, key, ticket)})

    @app.get("/v1/history/tenants/{tenant}", response_model=models.TenantHistory)
    def tenant_history(request: Request, key: Caller, tenant: str) -> Response:
        """A tenant's subscription events and each of its tickets' events."""
        _params(request, ())
        require_tenant(key, tenant, request)
        tickets = backend.read(lambda store: queries.tenant_tickets(store, tenant))
        with backend.guarded():
            try:
                subscription = history(backend.system().engine, tenant=tenant)
            except QueryError:
                subscription = []
        if not subscription and not tickets:
            raise ApiError(404, "unknown_tenant", f"unknown tenant {tenant!r}: no fact recorded")
        return json_response(
            {
                "tenant": tenant,
                "subscription": subscription,
                "tickets": [
                    {"ticket": t, "events": _ticket_events(backend, key, t)} for t in tickets
                ],
            }
        )

    # -- dead letters (operators, read-only) --------------------------------------------------

    @app.get("/v1/deadletters", response_model=list[models.DeadLetter])
    def deadletters(
        request: Request, key: Caller, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100
    ) -> Response:
        """The latest rejected inputs, newest last; a scoped key sees its tenants' only."""
        _params(request, ("limit",))
        rows = [_dead_letter(r) for r in backend.dead_letters()]
        visible = [r for r in rows if not key.scoped or (r["tenant"] and key.sees(r["tenant"]))]
        if key.scoped:
            visible = [_as_sender_sees(r) for r in visible]
        return json_response(visible[-limit:])

    auditors.register(app, backend)
    log_routes.register(app, backend)
    report_page.register(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description="Access: `Authorization: Bearer <key>` (R-ACC-1); "
                "see docs/api.md for roles and scopes.",
                routes=app.routes,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _ticket_events(backend: Backend, key: ApiKey, ticket: str) -> list[dict[str, Any]]:
    """A ticket's history; a ticket of another tenant is not found, like one that does not
    exist (R-ACC-3)."""
    with backend.guarded():
        events = history(backend.system().engine, ticket=ticket)
    tenant = events[0]["facts"].get("tenant") if events else None
    if not isinstance(tenant, str) or not key.sees(tenant):
        raise ApiError(404, "not_found", f"no recorded events for ticket {ticket!r}")
    return events


def _dead_letter(record: dict[str, Any]) -> dict[str, Any]:
    original = record.get("original")
    tenant = record.get("tenant")
    if tenant is None and isinstance(original, str):
        try:
            event = json.loads(original)
        except ValueError:
            event = None
        if isinstance(event, dict) and isinstance(event.get("tenant"), str):
            tenant = event["tenant"]
    return {
        "line": int(record.get("line") or 0),
        "id": record.get("id"),
        "reason": str(record.get("reason", "")),
        "detail": str(record.get("detail", "")),
        "rule": record.get("rule"),
        "origin": record.get("origin"),
        "rejected_at": record.get("rejected_at"),
        "tenant": tenant,
        "original": original if isinstance(original, str) else None,
    }


def _as_sender_sees(row: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as a key scoped to its tenant may read it: a fact refused because the
    ticket is another tenant's reads as one about a ticket never opened (R-ACC-3)."""
    try:
        event = json.loads(row["original"]) if row["original"] else None
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return row
    type_, subject = event.get("type"), event.get("subject")
    if not isinstance(type_, str) or not isinstance(subject, str):
        return row
    reason, detail, rule = as_sender_sees(type_, subject, row["reason"], row["detail"], row["rule"])
    return {**row, "reason": reason, "detail": detail, "rule": rule}


def _quote(value: str) -> str:
    return quote(value, safe="")


__all__ = ["ACCESS", "create_app", "error_response"]
