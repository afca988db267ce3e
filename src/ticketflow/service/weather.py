"""The platform weather as of an instant (``ticketflow query weather``, R-PLAT-2, R-PLAT-3).

Read from the ``platform_weather`` read model; each service's state comes from
``ticketflow.domain.platform.service_states``, the linked tickets' SLA status and running
clocks from ``query sla``'s own functions (R-SLA-11). ``tenants`` is an API key's scope
(R-ACC-3): the services, incidents and windows concern every tenant and are always shown; the
linked tickets and affected tenants only for those tenants.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from projections.base import instant
from projections.storage import ReadModelStorage
from ticketflow.domain.instants import rfc3339
from ticketflow.domain.platform import (
    SERVICES,
    IncidentFact,
    Window,
    incident_as_of,
    service_states,
)
from ticketflow.service import queries

SERVICE_FIELDS = ("service", "state", "causes")
INCIDENT_FIELDS = (
    "incident",
    "state",
    "declared_at",
    "resolved_at",
    "services",
    "severity",
    "status",
    "summary",
    "tickets",
    "tenants",
    "running_p1_clocks",
)
MAINTENANCE_FIELDS = (
    "maintenance",
    "scope",
    "state",
    "announced_at",
    "starts_at",
    "ends_at",
    "cancelled_at",
    "in_time",
    "exempts",
    "summary",
)
LINK_FIELDS = (
    "incident",
    "ticket",
    "tenant",
    "linked_at",
    "priority",
    "sla_status",
    "clock_running",
    "deadline",
)


def _windows(store: ReadModelStorage) -> list[Window]:
    with store.transaction() as c:
        c.execute(
            """SELECT maintenance, starts_at, ends_at, scope, announced_at, cancelled_at, summary
            FROM weather_maintenances"""
        )
        rows = c.fetchall()
    return [
        Window(m, instant(s), instant(e), scope, instant(a), x and instant(x), summary)
        for m, s, e, scope, a, x, summary in rows
    ]


def _incidents(store: ReadModelStorage) -> dict[str, list[IncidentFact]]:
    with store.transaction() as c:
        c.execute(
            """SELECT incident, at, services, severity, status, summary
            FROM weather_incident_facts ORDER BY incident, seq"""
        )
        rows = c.fetchall()
    found: dict[str, list[IncidentFact]] = {}
    for incident, at, services, severity, status, summary in rows:
        listed = tuple(services.split(",")) if services else ()
        fact = IncidentFact(instant(at), listed, severity, status, summary)
        found.setdefault(str(incident), []).append(fact)
    return found


def _links(
    store: ReadModelStorage, as_of: datetime, tenants: Collection[str] | None
) -> list[dict[str, Any]]:
    with store.transaction() as c:
        c.execute("SELECT incident, ticket, tenant, linked_at FROM weather_links")
        rows = c.fetchall()
    links = [
        {"incident": i, "ticket": t, "tenant": n, "linked_at": rfc3339(instant(at))}
        for i, t, n, at in rows
        if instant(at) <= as_of and (tenants is None or n in tenants)
    ]
    tickets = {link["ticket"] for link in links}
    sla = {row["ticket"]: row for row in queries.sla(store, as_of=as_of, tickets=tickets)}
    running = queries.running_clocks(store, as_of=as_of, tickets=tickets)
    for link in links:
        row = sla.get(link["ticket"], {})
        link["priority"] = row.get("priority")
        link["sla_status"] = row.get("status")
        link["clock_running"] = link["ticket"] in running
        link["deadline"] = running.get(link["ticket"])
    return sorted(links, key=lambda link: (link["incident"], link["linked_at"], link["ticket"]))


def _maintenance_state(w: Window, as_of: datetime) -> str:
    """Where a window stands at ``as_of``: cancelled before it ran, scheduled, in progress,
    or over (its end is the cancellation when withdrawn while under way, R-PLAT-1)."""
    cancelled = w.cancelled_at if w.cancelled_at and w.cancelled_at <= as_of else None
    if cancelled is not None and cancelled <= w.starts_at:
        return "cancelled"
    if as_of < w.starts_at:
        return "scheduled"
    end = w.ends_at if cancelled is None else min(w.ends_at, cancelled)
    return "in_progress" if as_of < end else "over"


def weather(
    store: ReadModelStorage,
    *,
    as_of: datetime | None = None,
    tenants: Collection[str] | None = None,
) -> dict[str, Any]:
    """The platform weather as of ``as_of`` (default: now), as the customer space showed it
    then: facts dated after ``as_of`` are not known yet (R-PLAT-2, R-PLAT-3)."""
    as_of = as_of or datetime.now(UTC)
    windows = [w for w in _windows(store) if w.announced_at <= as_of]
    incidents = _incidents(store)
    states = service_states(as_of, windows, incidents)
    links = _links(store, as_of, tenants)
    incident_rows = []
    for incident, facts in sorted(incidents.items(), key=lambda i: (i[1][0].at, i[0])):
        if facts[0].at > as_of:
            continue
        current = incident_as_of(facts, as_of)
        stated = max((f for f in facts if f.at <= as_of and f.severity), key=lambda f: f.at)
        resolved = next((f.at for f in facts if f.severity is None and f.at <= as_of), None)
        linked = [link for link in links if link["incident"] == incident]
        incident_rows.append(
            {
                "incident": incident,
                "state": "open" if current is not None else "resolved",
                "declared_at": rfc3339(facts[0].at),
                "resolved_at": rfc3339(resolved) if resolved else None,
                "services": list(stated.services),
                "severity": stated.severity,
                "status": stated.status,
                "summary": stated.summary,
                "tickets": len(linked),
                "tenants": sorted({link["tenant"] for link in linked}),
                "running_p1_clocks": sum(1 for link in linked if link["clock_running"]),
            }
        )
    maintenance_rows = [
        {
            "maintenance": w.maintenance,
            "scope": w.scope,
            "state": _maintenance_state(w, as_of),
            "announced_at": rfc3339(w.announced_at),
            "starts_at": rfc3339(w.starts_at),
            "ends_at": rfc3339(w.ends_at),
            "cancelled_at": rfc3339(w.cancelled_at)
            if w.cancelled_at and w.cancelled_at <= as_of
            else None,
            "in_time": w.in_time,
            # R-PLAT-1: whether control-plane tickets opened inside it carry no SLA
            "exempts": w.scope == "control_plane"
            and w.in_time
            and _maintenance_state(w, as_of) != "cancelled",
            "summary": w.summary,
        }
        for w in sorted(windows, key=lambda w: (w.starts_at, w.maintenance))
    ]
    return {
        "as_of": rfc3339(as_of),
        "services": [
            {"service": s, "state": states[s].state, "causes": list(states[s].causes)}
            for s in SERVICES
        ],
        "incidents": incident_rows,
        "maintenances": maintenance_rows,
        "linked_tickets": links,
    }
