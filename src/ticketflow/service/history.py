"""The recorded events of one ticket or one tenant's subscription, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.storage import ReadModelStorage
from ticketflow.domain.ids import subscription_id, ticket_id
from ticketflow.domain.instants import rfc3339
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.engine import Engine

HISTORY_FIELDS = ("version", "event", "at", "recorded_at", "inbound", "sla_status", "facts")
_COMMON = {"originator_id", "originator_version", "originator_topic", "timestamp", "at", "inbound"}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def history(
    engine: Engine,
    *,
    ticket: str | None = None,
    tenant: str | None = None,
    store: ReadModelStorage | None = None,
) -> list[dict[str, Any]]:
    """Every recorded event of a ticket or of a tenant's subscription, oldest first. With the
    read models (``store``), a ticket's events carry its SLA status as of each one, from
    ``query sla`` itself (R-SLA-10)."""
    if (ticket is None) == (tenant is None):
        raise QueryError("give exactly one of --ticket or --tenant")
    aggregate_id = ticket_id(ticket) if ticket is not None else subscription_id(tenant or "")
    events = list(engine.events.get(aggregate_id))
    if not events:
        what = f"ticket {ticket!r}" if ticket is not None else f"tenant {tenant!r}"
        raise QueryError(f"no recorded events for {what}")
    rows = []
    for event in events:
        facts = {k: _iso(v) for k, v in vars(event).items() if k not in _COMMON}
        rows.append(
            {
                "version": event.originator_version,
                "event": type(event).__qualname__,
                "at": _iso(getattr(event, "at", None)),
                "recorded_at": _iso(getattr(event, "timestamp", None)),
                "inbound": getattr(event, "inbound", None),
                "sla_status": _status(store, ticket, getattr(event, "at", None)),
                "facts": facts,
            }
        )
    return rows


def _status(store: ReadModelStorage | None, ticket: str | None, at: datetime | None) -> Any:
    if store is None or ticket is None or at is None:
        return None
    rows = queries.sla(store, as_of=at, ticket=ticket)
    return rows[0]["status"] if rows else None
