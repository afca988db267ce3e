"""SLA breaches (R-SLA-*): one row per ticket and one per clock cycle.

Reads ``Ticket.Opened``, ``Ticket.Escalated``, ``Ticket.PriorityChanged``,
``Ticket.ServiceRestored``, ``Ticket.Resolved``, ``Ticket.Closed``, ``Ticket.Reopened``.
Writes ``sla_tickets`` and ``sla_cycles``. Every clock fact (start, GTR, tier, edition, or the
rule saying why there is none) comes from the event. The instants derived from a clock
(deadline, 50 % and 75 %) and a settled cycle's ``outcome`` and ``breach_minutes`` come from the
functions of ``ticketflow.domain.sla`` that the query uses too (R-SLA-11); status as of an
instant is derived by ``ticketflow.domain.sla.cycle_status`` at query time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.base import OWNERS, Cursor, Projection
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.sla import AT_RISK, WARNING, deadline_at, settle, threshold_at

DDL = (
    """CREATE TABLE IF NOT EXISTS sla_tickets (
        ticket TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        priority TEXT NOT NULL,
        opening_tier TEXT NOT NULL,
        category TEXT NOT NULL,
        channel TEXT NOT NULL,
        language TEXT NOT NULL,
        beta_feature INTEGER NOT NULL,
        in_planned_window INTEGER NOT NULL,
        opened_at TEXT NOT NULL,
        state TEXT NOT NULL,
        level TEXT NOT NULL,
        cycles INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sla_tickets_tenant ON sla_tickets (tenant)",
    """CREATE TABLE IF NOT EXISTS sla_cycles (
        ticket TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        clock_started_at TEXT,
        clock_tier TEXT,
        gtr_minutes INTEGER,
        edition TEXT,
        deadline TEXT,
        warn_50_at TEXT,
        warn_75_at TEXT,
        no_clock_rule TEXT,
        no_clock_detail TEXT,
        cancelled_at TEXT,
        stopped_at TEXT,
        stopped_by TEXT,
        outcome TEXT,
        breach_minutes INTEGER,
        PRIMARY KEY (ticket, cycle)
    )""",
    "CREATE INDEX IF NOT EXISTS sla_cycles_tenant ON sla_cycles (tenant)",
)


CLOCK_COLUMNS = (
    "clock_started_at",
    "clock_tier",
    "gtr_minutes",
    "edition",
    "deadline",
    "warn_50_at",
    "warn_75_at",
    "no_clock_rule",
    "no_clock_detail",
)


def _clock_values(event: Any) -> dict[str, Any]:
    start = event.clock_started_at
    if start is None:
        values: tuple[Any, ...] = (None,) * 7 + (event.no_clock_rule, event.no_clock_detail)
    else:
        gtr = event.gtr_minutes
        values = (
            rfc3339(start),
            event.clock_tier,
            gtr,
            event.edition,
            rfc3339(deadline_at(start, gtr)),
            rfc3339(threshold_at(start, gtr, WARNING)),
            rfc3339(threshold_at(start, gtr, AT_RISK)),
            None,
            None,
        )
    return dict(zip(CLOCK_COLUMNS, values, strict=True))


def _new_cycle(c: Cursor, ticket: str, cycle: int, tenant: str, e: Any) -> None:
    c.insert(
        "sla_cycles",
        {"ticket": ticket, "cycle": cycle},
        {"tenant": tenant, "opened_at": rfc3339(e.at), **_clock_values(e)},
    )


def opened(c: Cursor, e: Any) -> None:
    OWNERS.learn(e.originator_id, e.ticket, e.tenant)
    at = rfc3339(e.at)
    c.insert(
        "sla_tickets",
        {"ticket": e.ticket},
        {
            "id": str(e.originator_id),
            "tenant": e.tenant,
            "priority": e.priority,
            "opening_tier": e.tier,
            "category": e.category,
            "channel": e.channel,
            "language": e.language,
            "beta_feature": int(e.beta_feature),
            "in_planned_window": int(e.in_planned_window),
            "opened_at": at,
            "state": "open",
            "level": "L1",
            "cycles": 1,
            "updated_at": at,
        },
    )
    _new_cycle(c, e.ticket, 1, e.tenant, e)


OWNER_SQL = "SELECT ticket, tenant FROM sla_tickets WHERE id = ?"


def _ticket_of(c: Cursor, e: Any) -> tuple[str, str]:
    # Events after Opened carry the aggregate id; the ticket and tenant are kept per id.
    return OWNERS.get(c, e.originator_id, OWNER_SQL)


def _ticket(c: Cursor, e: Any, **values: Any) -> str:
    """Set columns of the event's ticket row (and ``updated_at``); returns the ticket."""
    ticket = _ticket_of(c, e)[0]
    c.update("sla_tickets", {"ticket": ticket}, {**values, "updated_at": rfc3339(e.at)})
    return ticket


def escalated(c: Cursor, e: Any) -> None:
    _ticket(c, e, level=e.level)


def priority_changed(c: Cursor, e: Any) -> None:
    ticket = _ticket(c, e, priority=e.priority, cycles=e.cycle)
    cycle = {"ticket": ticket, "cycle": e.cycle}
    if e.clock_effect == "cancelled":
        _settle(c, ticket, e.cycle, None, e.at, cancelled_at=rfc3339(e.at))
    elif e.clock_effect == "started" and e.new_cycle:
        _new_cycle(c, ticket, e.cycle, _ticket_of(c, e)[1], e)
    elif e.clock_effect == "started":
        c.update("sla_cycles", cycle, _clock_values(e))
    elif e.no_clock_rule is not None:
        c.execute(
            """UPDATE sla_cycles SET no_clock_rule = ?, no_clock_detail = ?
            WHERE ticket = ? AND cycle = ? AND clock_started_at IS NULL""",
            (e.no_clock_rule, e.no_clock_detail, ticket, e.cycle),
        )


def _settle(
    c: Cursor,
    ticket: str,
    cycle: int,
    deadline: datetime | None,
    at: datetime,
    **columns: str | None,
) -> None:
    """Record how the cycle's clock ended: its ``outcome`` and ``breach_minutes`` come from
    ``ticketflow.domain.sla.settle``, the function the query uses too (R-SLA-10, R-SLA-11)."""
    if deadline is None:  # a cancellation, or a stop recorded before stops carried it (v1)
        c.execute("SELECT deadline FROM sla_cycles WHERE ticket = ? AND cycle = ?", (ticket, cycle))
        deadline = parse_rfc3339(c.fetchone()[0])
    settled = settle(deadline, at, cancelled="cancelled_at" in columns)
    c.update(
        "sla_cycles",
        {"ticket": ticket, "cycle": cycle},
        {**columns, "outcome": settled.outcome, "breach_minutes": settled.breach_minutes},
    )


def _stopped(state: str) -> Any:
    def handle(c: Cursor, e: Any) -> None:
        ticket = _ticket(c, e, state=state)
        if e.stopped_clock:
            _settle(
                c, ticket, e.cycle, e.deadline, e.at, stopped_at=rfc3339(e.at), stopped_by=state
            )

    return handle


def reopened(c: Cursor, e: Any) -> None:
    ticket, tenant = _ticket_of(c, e)
    _ticket(c, e, state="open", cycles=e.cycle)
    _new_cycle(c, ticket, e.cycle, tenant, e)


PROJECTION = Projection(
    name="sla_breach",
    tables=("sla_tickets", "sla_cycles"),
    ddl=DDL,
    handlers={
        "Ticket.Opened": opened,
        "Ticket.Escalated": escalated,
        "Ticket.PriorityChanged": priority_changed,
        "Ticket.ServiceRestored": _stopped("restored"),
        "Ticket.Resolved": _stopped("resolved"),
        "Ticket.Closed": _stopped("closed"),
        "Ticket.Reopened": reopened,
    },
)
