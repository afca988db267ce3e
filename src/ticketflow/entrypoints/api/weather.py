"""The platform weather on the API (R-PLAT-2, R-PLAT-3): ``GET /v1/weather`` and
``GET /v1/weather/incidents/{incident}``, for analysts.

The services' states, the incidents and the maintenance windows concern every tenant: every
analyst key sees them. The linked tickets, and the tenants an incident affects, are tenants'
rows: a key scoped to tenants sees only its own (R-ACC-3); an incident it has no ticket in is
still shown, with none.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from ticketflow.entrypoints import render
from ticketflow.entrypoints.api.access import Caller
from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.service import queries
from ticketflow.service import weather as platform
from ticketflow.service.access import ApiKey

Service = Literal["compute", "network", "storage", "backup", "control_plane"]


class ServiceState(BaseModel):
    service: Service
    state: Literal["operational", "maintenance", "degraded", "outage"]
    causes: list[str] = Field(description="incident and maintenance ids behind the state")


class Incident(BaseModel):
    incident: str
    state: Literal["open", "resolved"]
    declared_at: str
    resolved_at: str | None
    services: list[Service]
    severity: Literal["degraded", "outage"] = Field(description="the latest stated severity")
    status: str | None
    summary: str | None
    tickets: int = Field(ge=0, description="linked tickets the key may see")
    tenants: list[str] = Field(description="affected tenants the key may see (R-PLAT-3)")
    running_p1_clocks: int = Field(ge=0, description="linked tickets whose GTR clock runs")


class Maintenance(BaseModel):
    maintenance: str
    scope: Literal["control_plane", "services"]
    state: Literal["scheduled", "in_progress", "over", "cancelled"]
    announced_at: str
    starts_at: str
    ends_at: str
    cancelled_at: str | None
    in_time: bool = Field(description="announced before it starts (R-PLAT-1)")
    exempts: bool = Field(description="control-plane tickets opened inside carry no SLA")
    summary: str | None


class LinkedTicket(BaseModel):
    incident: str
    ticket: str
    tenant: str
    linked_at: str
    priority: str | None
    sla_status: str | None
    clock_running: bool
    deadline: str | None = Field(description="deadline of the running clock (R-PLAT-3)")


class Weather(BaseModel):
    """The platform weather as of an instant (R-PLAT-2)."""

    as_of: str
    services: list[ServiceState]
    incidents: list[Incident]
    maintenances: list[Maintenance]
    linked_tickets: list[LinkedTicket]


class IncidentReport(Incident):
    """One incident as of an instant, with its linked tickets (R-PLAT-3)."""

    as_of: str
    linked_tickets: list[LinkedTicket]


AsOf = Annotated[
    str | None, Query(description="RFC 3339 with an offset; default now: the weather known then")
]


def _only(request: Request, allowed: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take, or one given twice: the rule every
    route applies (imported here, when called, since the application includes this module)."""
    from ticketflow.entrypoints.api.app import _params

    _params(request, allowed)


def _weather(request: Request, key: ApiKey, as_of: str | None) -> dict[str, Any]:
    instant = queries.parse_instant(as_of) if as_of else None
    scope = key.tenants if key.scoped else None
    backend = request.app.state.backend
    found: dict[str, Any] = backend.read(
        lambda store: platform.weather(store, as_of=instant, tenants=scope)
    )
    return found


def _json(data: Any) -> Response:
    return Response(render.to_json(data), 200, media_type="application/json")


def register(app: FastAPI) -> None:
    """Add the weather's routes to ``app`` (their access rules are in ``access.ACCESS``)."""

    @app.get(
        "/v1/weather",
        response_model=Weather,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def weather(
        request: Request, key: Caller, as_of: AsOf = None, format: Literal["json", "csv"] = "json"
    ) -> Response:
        """The platform weather as of an instant: each service's state, the incidents and the
        maintenance windows known then, and the linked tickets of the key's tenants with their
        running P1 clocks (R-PLAT-2, R-PLAT-3). CSV: one row per service."""
        _only(request, ("as_of", "format"))
        data = _weather(request, key, as_of)
        if format == "csv":
            rows = [{**s, "causes": " ".join(s["causes"])} for s in data["services"]]
            text = render.to_csv(rows, platform.SERVICE_FIELDS) + "\n"
            return Response(text, 200, media_type="text/csv; charset=utf-8")
        return _json(data)

    @app.get("/v1/weather/incidents/{incident}", response_model=IncidentReport)
    def incident(request: Request, key: Caller, incident: str, as_of: AsOf = None) -> Response:
        """One platform incident as of an instant, with the linked tickets of the key's tenants,
        the affected tenants and their running P1 clocks with deadlines (R-PLAT-3). 404 when it
        was not declared by then."""
        _only(request, ("as_of",))
        data = _weather(request, key, as_of)
        found = next((i for i in data["incidents"] if i["incident"] == incident), None)
        if found is None:
            raise ApiError(404, "not_found", f"no platform incident {incident!r} declared by then")
        links = [link for link in data["linked_tickets"] if link["incident"] == incident]
        return _json({**found, "as_of": data["as_of"], "linked_tickets": links})
