"""The platform weather (R-PLAT-2, R-PLAT-3): maintenance windows, incidents and their linked
tickets.

Reads ``ticketflow.platform.maintenance_announced.v1``, ``….maintenance_cancelled.v1``,
``ticketflow.platform.incident_declared.v1``, ``….incident_updated.v1``,
``….incident_resolved.v1`` and ``ticketflow.ticket.linked_to_incident.v1``. Writes
``weather_maintenances``, ``weather_incidents``, ``weather_incident_facts`` and
``weather_links``. Every row is keyed by its own subject, so the rows are the same whatever
order the platform's and the tenants' partitions were consumed in (R-PLAT-4): a ticket may be
linked before its incident is known. Service states as of an instant are derived at query time
by ``ticketflow.domain.platform.service_states`` from these facts (``service/weather.py``).
"""

from __future__ import annotations

from projections.base import Cursor, Projection
from ticketflow.contract_events import Published

DDL = (
    """CREATE TABLE IF NOT EXISTS weather_maintenances (
        maintenance TEXT PRIMARY KEY,
        announced_at {instant} NOT NULL,
        starts_at {instant} NOT NULL,
        ends_at {instant} NOT NULL,
        scope TEXT NOT NULL,
        in_time {flag} NOT NULL,
        cancelled_at {instant},
        summary TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS weather_maintenances_starts_at ON weather_maintenances (starts_at)",
    """CREATE TABLE IF NOT EXISTS weather_incidents (
        incident TEXT PRIMARY KEY,
        declared_at {instant} NOT NULL,
        resolved_at {instant},
        services TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT,
        summary TEXT,
        updated_at {instant} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS weather_incidents_declared_at ON weather_incidents (declared_at)",
    """CREATE TABLE IF NOT EXISTS weather_incident_facts (
        incident TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at {instant} NOT NULL,
        kind TEXT NOT NULL,
        services TEXT,
        severity TEXT,
        status TEXT,
        summary TEXT,
        PRIMARY KEY (incident, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS weather_links (
        incident TEXT NOT NULL,
        ticket TEXT NOT NULL,
        tenant TEXT NOT NULL,
        linked_at {instant} NOT NULL,
        PRIMARY KEY (incident, ticket)
    )""",
    "CREATE INDEX IF NOT EXISTS weather_links_tenant ON weather_links (tenant)",
)


def _services(services: list[str]) -> str:
    return ",".join(services)


def maintenance_announced(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "weather_maintenances",
        {"maintenance": e.subject},
        {
            "announced_at": e.time,
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "scope": d["scope"],
            "in_time": d["in_time"],
            "cancelled_at": None,
            "summary": d["summary"],
        },
    )


def maintenance_cancelled(c: Cursor, e: Published) -> None:
    c.update("weather_maintenances", {"maintenance": e.subject}, {"cancelled_at": e.time})


def _fact(c: Cursor, e: Published, kind: str) -> None:
    d = e.data
    services = d.get("services")
    c.insert(
        "weather_incident_facts",
        {"incident": e.subject, "seq": e.version},
        {
            "at": e.time,
            "kind": kind,
            "services": None if services is None else _services(services),
            "severity": d.get("severity"),
            "status": d.get("status"),
            "summary": d.get("summary"),
        },
    )


def incident_declared(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "weather_incidents",
        {"incident": e.subject},
        {
            "declared_at": e.time,
            "resolved_at": None,
            "services": _services(d["services"]),
            "severity": d["severity"],
            "status": d["status"],
            "summary": d["summary"],
            "updated_at": e.time,
        },
    )
    _fact(c, e, "declared")


def incident_updated(c: Cursor, e: Published) -> None:
    d = e.data
    c.update(
        "weather_incidents",
        {"incident": e.subject},
        {
            "services": _services(d["services"]),
            "severity": d["severity"],
            "status": d["status"],
            "summary": d["summary"],
            "updated_at": e.time,
        },
    )
    _fact(c, e, "updated")


def incident_resolved(c: Cursor, e: Published) -> None:
    c.update(
        "weather_incidents",
        {"incident": e.subject},
        {"resolved_at": e.time, "updated_at": e.time},
    )
    _fact(c, e, "resolved")


def linked_to_incident(c: Cursor, e: Published) -> None:
    c.insert(
        "weather_links",
        {"incident": e.data["platform_incident"], "ticket": e.subject},
        {"tenant": e.tenant, "linked_at": e.time},
    )


COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "weather_maintenances": (
        "One row per exceptional maintenance announced (R-PLAT-1, R-PLAT-2).",
        {
            "maintenance": "upstream maintenance id",
            "announced_at": "business time of platform.maintenance_announced",
            "starts_at": "announced start of the window",
            "ends_at": "announced end of the window",
            "scope": "control_plane (portal and APIs) or services (compute, network, storage, "
            "backup)",
            "in_time": "announced before it starts: a control_plane one exempts control-plane "
            "tickets opened inside it (R-PLAT-1)",
            "cancelled_at": "when it was withdrawn: before its start it never ran, after it the "
            "window stopped then; NULL if not",
            "summary": "what the announcement said",
        },
    ),
    "weather_incidents": (
        "One row per platform incident, as it stands now (R-PLAT-2); as of an instant: "
        "weather_incident_facts.",
        {
            "incident": "upstream incident id",
            "declared_at": "business time of platform.incident_declared",
            "resolved_at": "business time of platform.incident_resolved; NULL while open",
            "services": "services affected, comma-separated (compute, network, storage, "
            "backup, control_plane)",
            "severity": "degraded or outage",
            "status": "the operators' word for where it stands",
            "summary": "what the latest declaration or update said",
            "updated_at": "business time of the incident's latest fact",
        },
    ),
    "weather_incident_facts": (
        "Every declared, updated and resolved fact of each incident, for the weather as of any "
        "instant (R-PLAT-2).",
        {
            "incident": "upstream incident id",
            "seq": "the fact's version within its incident, from 1",
            "at": "business time of the fact",
            "kind": "declared, updated or resolved",
            "services": "services affected from then, comma-separated; NULL when resolved",
            "severity": "degraded or outage from then; NULL when resolved",
            "status": "the operators' word for where it stood",
            "summary": "what the fact said",
        },
    ),
    "weather_links": (
        "One row per ticket linked to a platform incident (R-PLAT-3): whom the mail campaign "
        "must reach; the incident may not be known yet (R-PLAT-4).",
        {
            "incident": "upstream incident id",
            "ticket": "upstream ticket id",
            "tenant": "the ticket's customer",
            "linked_at": "business time of the link (ticket.opened or ticket.linked_to_incident)",
        },
    ),
}

PROJECTION = Projection(
    comments=COMMENTS,
    name="platform_weather",
    tables=("weather_maintenances", "weather_incidents", "weather_incident_facts", "weather_links"),
    ddl=DDL,
    handlers={
        "ticketflow.platform.maintenance_announced.v1": maintenance_announced,
        "ticketflow.platform.maintenance_cancelled.v1": maintenance_cancelled,
        "ticketflow.platform.incident_declared.v1": incident_declared,
        "ticketflow.platform.incident_updated.v1": incident_updated,
        "ticketflow.platform.incident_resolved.v1": incident_resolved,
        "ticketflow.ticket.linked_to_incident.v1": linked_to_incident,
    },
)
