"""``GET /v1/report``: the analyst's report as one self-contained HTML page (analyst role).

The page holds the figures of the key's tenants only (R-ACC-3): ``tenant`` outside them is 403,
like on every route that names a tenant. Its links to ticket histories are this API's paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from starlette.responses import Response

from ticketflow.entrypoints.api.access import Caller, require_tenant
from ticketflow.entrypoints.report import page_of
from ticketflow.service.queries import parse_instant

HTML_TYPE = "text/html; charset=utf-8"
PARAMETERS = ("as_of", "tenant")


def register(app: FastAPI) -> None:
    """Add the route to ``app`` (its access rule: ``ACCESS[("GET", "/v1/report")]``)."""
    app.add_api_route(
        "/v1/report",
        report,
        methods=["GET"],
        response_class=Response,
        responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    )


def report(
    request: Request,
    key: Caller,
    as_of: Annotated[str | None, Query(description="RFC 3339 with an offset; default now")] = None,
    tenant: Annotated[str | None, Query(description="one tenant's figures only")] = None,
) -> Response:
    """The analyst's report as of an instant: SLA compliance per tier and month, breached
    tickets, running and at-risk clocks, worst tenants, expert hours, billing, the platform
    weather and the alerts emitted by then; the figures of ``query sla|billing|expertise|weather``
    and ``GET /v1/alerts`` (R-SLA-11), of the key's tenants (R-ACC-3)."""
    from ticketflow.entrypoints.api.app import _params

    _params(request, PARAMETERS)
    if tenant is not None:
        require_tenant(key, tenant, request)
    backend: Any = request.app.state.backend
    instant = parse_instant(as_of) if as_of else backend.settings.clock.now()
    scope = key.tenants if key.scoped else None

    def page(store: Any) -> str:
        return page_of(store, instant, tenant=tenant, scope=scope, live=True, live_platform=True)

    return Response(backend.read(page), 200, media_type=HTML_TYPE)
