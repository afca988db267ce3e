"""Auditors' endpoints (R-ACC-2: the auditor role): the receipts behind a ticket's SLA
figures, a billed month and a month of expert hours (``ticketflow explain``), and a proposed
catalog edition tried on past facts (``ticketflow whatif``).

Scope (R-ACC-3): a tenant outside the key's scope is 403 whether it exists or not; a ticket of
another tenant is 404, word for word the answer for a ticket that does not exist. A what-if
covers every tenant: it needs an unscoped key. It runs while the request waits, one at a time
per process (another gets 429), and only on a log of at most :data:`WHATIF_MAX_EVENTS` events
(413 beyond: the command line has no bound).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import Response

from ticketflow.bootstrap import whatif
from ticketflow.domain.catalog import DEFAULT_CATALOG
from ticketflow.entrypoints.api.access import Caller, require_tenant
from ticketflow.entrypoints.api.backend import Backend
from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.entrypoints.api.models import ErrorBody
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.access import ApiKey
from ticketflow.service.explain import explain_billing, explain_expertise, explain_ticket
from ticketflow.service.whatif import default_window, proposed_catalog, read_edition

# Measured: 13,480 events decided again and compared in 7 s on a busy 2-core machine; this
# many take one to two minutes there.
WHATIF_MAX_EVENTS = 200_000
MONTH_PATTERN = r"^\d{4}-\d{2}$"


class Fact(BaseModel):
    """A stored event a figure rests on, with its place in the verifiable log."""

    position: int = Field(description="store position (audit verify, audit prove)")
    digest: str = Field(description="the audit chain's digest at that position")
    aggregate: str
    version: int
    event: str
    at: str | None = Field(description="business time of the fact")
    inbound: str | None = Field(description="the upstream `source id` of the fact")


class RuleApplied(BaseModel):
    cycle: int | None = Field(description="the ticket's cycle, for SLA rules")
    rule: str = Field(description="rule id of the design (R-…)")
    decision: str
    values: str = Field(description="the values the rule used")


class Receipt(BaseModel):
    """A figure, as the query gives it, and the facts and rules behind it."""

    ticket: str | None = None
    tenant: str | None = None
    month: str | None = None
    as_of: str | None = None
    figures: dict[str, Any]
    facts: list[Fact]
    rules: list[RuleApplied]
    time_zone_data: str = Field(description="version of the IANA time-zone data used")


class Change(BaseModel):
    ticket: str | None = None
    tenant: str
    month: str | None = None
    field: str
    live: Any
    proposed: Any


class WhatIfReport(BaseModel):
    """What would change with the proposed edition in the catalog (R-TIER-1)."""

    edition: dict[str, str]
    window: dict[str, str | None]
    tickets: list[Change]
    expertise: list[Change]
    billing: list[Change]
    tables: list[dict[str, Any]] = Field(description="rows differing per read-model table")
    totals: dict[str, float]
    log: dict[str, Any] = Field(description="facts decided again, up to which log position")


class _Busy:
    """One what-if at a time per process: it holds a scratch store and the CPU for a while."""

    lock = threading.Lock()


def register(app: FastAPI, backend: Backend) -> None:
    """The auditors' routes of ``app``."""
    from ticketflow.entrypoints.api.app import _params, json_response

    def tenant_month(
        request: Request, key: ApiKey, tenant: str, month: str, explain: Any
    ) -> Response:
        """The receipt ``explain(engine, store, tenant, month)`` of a tenant's month."""
        _params(request, ("month",))
        require_tenant(key, tenant, request)
        parsed = queries.parse_month(month)
        return json_response(
            backend.read(lambda store: explain(backend.system().engine, store, tenant, parsed))
        )

    @app.get("/v1/explain/tickets/{ticket}", response_model=Receipt)
    def explain_ticket_route(
        request: Request,
        key: Caller,
        ticket: str,
        as_of: Annotated[
            str | None, Query(description="RFC 3339 with an offset; default now")
        ] = None,
    ) -> Response:
        """A ticket's SLA figures (as ``/v1/sla`` gives them) and the receipt behind them:
        each fact with its store position and audit digest, each rule with its values."""
        _params(request, ("as_of",))
        at = queries.parse_instant(as_of) if as_of else None
        unknown = ApiError(
            404, "not_found", f"no ticket {ticket!r}" + (f" opened by {as_of}" if as_of else "")
        )

        def receipt(store: Any) -> dict[str, Any]:
            try:
                return explain_ticket(backend.system().engine, store, ticket, at)
            except QueryError:
                raise unknown from None

        found = backend.read(receipt)
        if not key.sees(found["figures"]["tenant"]):
            raise unknown  # another tenant's ticket is not found, as one never opened
        return json_response(found)

    @app.get("/v1/explain/billing/{tenant}", response_model=Receipt)
    def explain_billing_route(
        request: Request,
        key: Caller,
        tenant: str,
        month: Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM (Paris)")],
    ) -> Response:
        """The tier billed to a tenant for a month, and the tier changes and rules behind it."""
        return tenant_month(request, key, tenant, month, explain_billing)

    @app.get("/v1/explain/expertise/{tenant}", response_model=Receipt)
    def explain_expertise_route(
        request: Request,
        key: Caller,
        tenant: str,
        month: Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM (Paris)")],
    ) -> Response:
        """A tenant's expert hours of a month, consumption by consumption and how each was
        funded."""
        return tenant_month(request, key, tenant, month, explain_expertise)

    @app.post(
        "/v1/whatif",
        response_model=WhatIfReport,
        responses={
            413: {"model": ErrorBody, "description": "the log is too long to try here"},
            429: {"model": ErrorBody, "description": "another what-if is running"},
        },
    )
    async def whatif_route(
        request: Request,
        key: Caller,
        edition: Annotated[
            dict[str, Any],
            Body(
                description="one catalog edition, as an entry of the catalog's `editions` "
                "(`id`, `effective_from`, `tiers`)"
            ),
        ],
        start: Annotated[
            str | None,
            Query(alias="from", description="report tickets opened and months from here"),
        ] = None,
        end: Annotated[
            str | None, Query(alias="to", description="statuses as of here (default now)")
        ] = None,
    ) -> Response:
        """History decided again with a proposed edition in a scratch store, and what would
        change against the live read models: tickets, tenants and months, with totals.
        Nothing live is written. Unscoped keys only (it covers every tenant)."""
        _params(request, ("from", "to"))  # a scoped key never gets here (ACCESS: unscoped)
        window = default_window(
            queries.parse_instant(start) if start else None,
            queries.parse_instant(end) if end else None,
            datetime.now(UTC),
        )
        proposal = read_edition(edition)
        proposed_catalog(DEFAULT_CATALOG, proposal, "the proposed edition")
        if not _Busy.lock.acquire(blocking=False):
            raise ApiError(
                429, "busy", "another what-if is running; retry shortly", {"Retry-After": "5"}
            )
        try:
            report = await run_in_threadpool(_run, backend, proposal, window)
        finally:
            _Busy.lock.release()
        return json_response(report)


def _run(backend: Backend, proposal: Any, window: Any) -> dict[str, Any]:
    with backend.guarded():
        system = backend.system()
        size = system.engine.recorder.max_notification_id() or 0
        if size > WHATIF_MAX_EVENTS:
            raise ApiError(
                413,
                "whatif_too_large",
                f"the log holds {size} events, more than the API decides again "
                f"({WHATIF_MAX_EVENTS}): run `ticketflow whatif --catalog FILE`",
            )

        def run(store: Any) -> dict[str, Any]:
            return whatif(backend.settings, system.engine, store, proposal, window)[1]

        return backend.read(run)


__all__ = ["WHATIF_MAX_EVENTS", "register"]
