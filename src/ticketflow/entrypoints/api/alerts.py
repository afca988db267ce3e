"""The live SLA alerts on the API (R-ALERT-3), for analysts, within the key's tenants (R-ACC-3):

- ``GET /v1/alerts``: the alerts emitted, in emission order (``after`` a ``seq``), JSON or CSV;
- ``GET /v1/alerts/stream``: Server-Sent Events, one ``event`` per alert (``id`` = its ``seq``,
  ``event`` = its type, ``data`` = the CloudEvent as JSON); resumes after ``Last-Event-ID`` (or
  ``after``), else starts with the alerts emitted from now on; a comment line every
  :data:`KEEPALIVE_S` keeps proxies from closing it; it ends after ``max_seconds`` (0: send what
  is there and end), or when the key is revoked;
- ``GET /v1/alerts/deadletters``: webhook deliveries given up after their last retry
  (operators).

The alerts are emitted by the alerter (``ticketflow serve`` embedded, or ``ticketflow worker
alerts``); these routes only read ``sla_alerts``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from ticketflow.contract_events import alert_cloudevent
from ticketflow.entrypoints import render
from ticketflow.entrypoints.api.access import Caller, require_tenant
from ticketflow.entrypoints.api.backend import Backend
from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.service.access import ApiKey
from ticketflow.service.alerter import FIELDS, alerts, create_tables, dead_deliveries

POLL_S = 0.25
KEEPALIVE_S = 15.0
RECHECK_KEY_S = 5.0
STREAM_DEFAULT_S, STREAM_MAX_S = 3600, 24 * 3600
PAGE_DEFAULT, PAGE_MAX = 1000, 10_000
EVENT_STREAM = "text/event-stream"


SEQ_MAX = 2**63 - 1  # the largest seq a SQL integer column holds


class AlertRow(BaseModel):
    """One live SLA alert (R-ALERT-1)."""

    seq: int = Field(description="emission order, from 1 (the stream's event id)")
    alert_id: str = Field(description="<ticket>/<cycle>/<threshold> (R-ALERT-2)")
    type: Literal["sla.warning", "sla.at_risk", "sla.breached", "sla.stopped"]
    ticket: str
    tenant: str
    cycle: int
    tier: str
    gtr_minutes: int
    clock_started_at: str
    threshold_at: str = Field(description="when the threshold was crossed (stopped: the stop)")
    deadline: str
    breach_minutes: int | None = Field(description="sla.stopped: minutes past the deadline")
    stopped_by: str | None = Field(description="sla.stopped: restored, resolved, closed, cancelled")
    emitted_at: str
    late: bool = Field(description="emitted more than 5 s after threshold_at (R-ALERT-2)")


class DeadDelivery(BaseModel):
    """A webhook delivery given up after its last retry (R-ALERT-3)."""

    endpoint: str
    alert_id: str
    seq: int
    tenant: str
    state: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    updated_at: str


def _scope(key: ApiKey) -> tuple[str, ...] | None:
    return key.tenants if key.scoped else None


def _checked(params: dict[str, str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; expected: {', '.join(allowed)}",
        )


def _sse(row: dict[str, Any]) -> str:
    event = alert_cloudevent(row["type"].removeprefix("sla."), row)
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {row['seq']}\nevent: {row['type']}\ndata: {data}\n\n"


def register(app: FastAPI, backend: Backend) -> None:
    """Add the alert routes to ``app``."""
    with backend.guarded():
        create_tables(backend.system().readmodels)

    @app.get(
        "/v1/alerts",
        response_model=list[AlertRow],
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def list_alerts(
        request: Request,
        key: Caller,
        after: Annotated[
            int, Query(ge=0, le=SEQ_MAX, description="only alerts with a larger seq")
        ] = 0,
        tenant: str | None = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
        format: Literal["json", "csv"] = "json",
    ) -> Response:
        """The live SLA alerts emitted (R-ALERT-1), oldest first, within the key's tenants."""
        _checked(dict(request.query_params), ("after", "tenant", "limit", "format"))
        if tenant is not None:
            require_tenant(key, tenant, request)
        rows = backend.read(
            lambda store: alerts(
                store, after=after, tenants=_scope(key), tenant=tenant, limit=limit
            )
        )
        if format == "csv":
            text = render.rows(rows, ("seq", *FIELDS), "csv") + "\n"
            return Response(text, 200, media_type="text/csv; charset=utf-8")
        return Response(json.dumps(rows), 200, media_type="application/json")

    @app.get(
        "/v1/alerts/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}}},
    )
    async def stream_alerts(
        request: Request,
        key: Caller,
        after: Annotated[
            int | None,
            Query(ge=0, le=SEQ_MAX, description="resume after this seq (as Last-Event-ID)"),
        ] = None,
        tenant: str | None = None,
        max_seconds: Annotated[
            int,
            Query(ge=0, le=STREAM_MAX_S, description="end the stream after this long (0: now)"),
        ] = STREAM_DEFAULT_S,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Server-Sent Events: each alert as it is emitted, within the key's tenants."""
        _checked(dict(request.query_params), ("after", "tenant", "max_seconds"))
        if tenant is not None:
            require_tenant(key, tenant, request)
        start = after
        if last_event_id is not None:
            if not last_event_id.strip().isdigit() or int(last_event_id) > SEQ_MAX:
                raise ApiError(400, "invalid_header", "Last-Event-ID: not an id this stream gave")
            start = int(last_event_id)
        if start is None:
            start = await run_in_threadpool(backend.read, _last_seq)
        secret = request.headers.get("authorization", "").partition(" ")[2].strip()
        return StreamingResponse(
            _events(request, backend, key, secret, start, tenant, max_seconds),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/v1/alerts/deadletters", response_model=list[DeadDelivery])
    def alert_deadletters(request: Request, key: Caller) -> Response:
        """Webhook deliveries given up after their last retry, within the key's tenants."""
        _checked(dict(request.query_params), ())
        rows = backend.read(lambda store: dead_deliveries(store, _scope(key)))
        return Response(json.dumps(rows), 200, media_type="application/json")


def _page(
    backend: Backend, after: int, tenants: tuple[str, ...] | None, tenant: str | None
) -> list[dict[str, Any]]:
    return backend.read(
        lambda store: alerts(store, after=after, tenants=tenants, tenant=tenant, limit=500)
    )


def _last_seq(store: Any) -> int:
    with store.transaction() as c:
        c.execute("SELECT coalesce(max(seq), 0) FROM sla_alerts")
        return int(c.fetchone()[0])


async def _events(
    request: Request,
    backend: Backend,
    key: ApiKey,
    secret: str,
    last: int,
    tenant: str | None,
    max_seconds: int,
) -> AsyncIterator[str]:
    """The stream: ``retry`` first, then alerts as they come, keep-alive comments between."""
    ends = time.monotonic() + max_seconds
    quiet_since = checked_key = time.monotonic()
    yield "retry: 1000\n\n"
    while True:
        rows = await run_in_threadpool(_page, backend, last, _scope(key), tenant)
        for row in rows:
            yield _sse(row)
            last = row["seq"]
        now = time.monotonic()
        if rows:
            quiet_since = now
        elif now - quiet_since >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = now
        if now >= ends or await request.is_disconnected():
            return
        if now - checked_key >= RECHECK_KEY_S:
            checked_key = now
            if await run_in_threadpool(backend.authenticate, secret) is None:
                return  # revoked: the stream ends at once (R-ACC-1)
        if not rows:
            await asyncio.sleep(min(POLL_S, max(ends - now, 0)))
