"""SLA breaches (R-SLA-*): one row per ticket and one per clock cycle.

Reads the published records (``ticketflow.contract_events``, as on ``ticketflow.events``)
``ticketflow.ticket.opened.v1``, ``….escalated.v1``, ``….priority_changed.v1``,
``….service_restored.v1``, ``….resolved.v1``, ``….closed.v1``, ``….reopened.v1``.
Writes ``sla_tickets`` and ``sla_cycles``. Every clock fact (start, GTR, tier, edition, or the
rule saying why there is none) comes from the event. The instants derived from a clock
(deadline, 50 % and 75 %) and a settled cycle's ``outcome`` and ``breach_minutes`` come from the
functions of ``ticketflow.domain.sla`` that the query uses too (R-SLA-11); status as of an
instant is derived by ``ticketflow.domain.sla.cycle_status`` at query time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.base import Cursor, Projection, instant
from ticketflow.contract_events import Published
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.sla import AT_RISK, WARNING, settle, threshold_at

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
        beta_feature {flag} NOT NULL,
        in_planned_window {flag} NOT NULL,
        opened_at {instant} NOT NULL,
        state TEXT NOT NULL,
        level TEXT NOT NULL,
        cycles INTEGER NOT NULL,
        updated_at {instant} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sla_tickets_tenant ON sla_tickets (tenant)",
    """CREATE TABLE IF NOT EXISTS sla_cycles (
        ticket TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        opened_at {instant} NOT NULL,
        clock_started_at {instant},
        clock_tier TEXT,
        gtr_minutes INTEGER,
        edition TEXT,
        deadline {instant},
        warn_50_at {instant},
        warn_75_at {instant},
        no_clock_rule TEXT,
        no_clock_detail TEXT,
        cancelled_at {instant},
        stopped_at {instant},
        stopped_by TEXT,
        outcome TEXT,
        breach_minutes INTEGER,
        PRIMARY KEY (ticket, cycle)
    )""",
    "CREATE INDEX IF NOT EXISTS sla_cycles_tenant ON sla_cycles (tenant)",
    # The analysts' access paths: by opening or clock start (months), by outcome, and the
    # clocks still running (status as of an instant, ``ticketflow_sla``).
    "CREATE INDEX IF NOT EXISTS sla_tickets_opened_at ON sla_tickets (opened_at)",
    "CREATE INDEX IF NOT EXISTS sla_cycles_clock_started_at ON sla_cycles (clock_started_at)",
    "CREATE INDEX IF NOT EXISTS sla_cycles_outcome ON sla_cycles (outcome, clock_started_at)",
    """CREATE INDEX IF NOT EXISTS sla_cycles_running ON sla_cycles (deadline)
        WHERE clock_started_at IS NOT NULL AND outcome IS NULL""",
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


def _clock_values(d: dict[str, Any]) -> dict[str, Any]:
    start = d["clock_started_at"]
    if start is None:
        values: tuple[Any, ...] = (None,) * 7 + (d["no_clock_rule"], d["no_clock_detail"])
    else:
        gtr = d["gtr_minutes"]
        started = parse_rfc3339(start)
        values = (
            start,
            d["clock_tier"],
            gtr,
            d["edition"],
            d["deadline"],
            rfc3339(threshold_at(started, gtr, WARNING)),
            rfc3339(threshold_at(started, gtr, AT_RISK)),
            None,
            None,
        )
    return dict(zip(CLOCK_COLUMNS, values, strict=True))


def _new_cycle(c: Cursor, cycle: int, e: Published) -> None:
    c.insert(
        "sla_cycles",
        {"ticket": e.subject, "cycle": cycle},
        {"tenant": e.tenant, "opened_at": e.time, **_clock_values(e.data)},
    )


def opened(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "sla_tickets",
        {"ticket": e.subject},
        {
            "id": e.id.rsplit(":", 1)[0],
            "tenant": e.tenant,
            "priority": d["priority"],
            "opening_tier": d["tier"],
            "category": d["category"],
            "channel": d["channel"],
            "language": d["language"],
            "beta_feature": d["beta_feature"],
            "in_planned_window": d["in_planned_window"],
            "opened_at": e.time,
            "state": "open",
            "level": "L1",
            "cycles": 1,
            "updated_at": e.time,
        },
    )
    _new_cycle(c, 1, e)


def _ticket(c: Cursor, e: Published, **values: Any) -> None:
    """Set columns of the event's ticket row (and ``updated_at``)."""
    c.update("sla_tickets", {"ticket": e.subject}, {**values, "updated_at": e.time})


def escalated(c: Cursor, e: Published) -> None:
    _ticket(c, e, level=e.data["level"])


def priority_changed(c: Cursor, e: Published) -> None:
    d = e.data
    cycle = d["cycle"]
    _ticket(c, e, priority=d["priority"], cycles=cycle)
    if d["clock_effect"] == "cancelled":
        _settle(c, e, cycle, None, cancelled_at=e.time)
    elif d["clock_effect"] == "started" and d["new_cycle"]:
        _new_cycle(c, cycle, e)
    elif d["clock_effect"] == "started":
        c.update("sla_cycles", {"ticket": e.subject, "cycle": cycle}, _clock_values(d))
    elif d["no_clock_rule"] is not None:
        c.execute(
            """UPDATE sla_cycles SET no_clock_rule = ?, no_clock_detail = ?
            WHERE ticket = ? AND cycle = ? AND clock_started_at IS NULL""",
            (d["no_clock_rule"], d["no_clock_detail"], e.subject, cycle),
        )


def _settle(
    c: Cursor, e: Published, cycle: int, deadline: datetime | None, **columns: str | None
) -> None:
    """Record how the cycle's clock ended: its ``outcome`` and ``breach_minutes`` come from
    ``ticketflow.domain.sla.settle``, the function the query uses too (R-SLA-10, R-SLA-11)."""
    if deadline is None:  # a cancellation, or a stop recorded before stops carried it (v1)
        c.execute(
            "SELECT deadline FROM sla_cycles WHERE ticket = ? AND cycle = ?", (e.subject, cycle)
        )
        deadline = instant(c.fetchone()[0])
    settled = settle(deadline, parse_rfc3339(e.time), cancelled="cancelled_at" in columns)
    c.update(
        "sla_cycles",
        {"ticket": e.subject, "cycle": cycle},
        {**columns, "outcome": settled.outcome, "breach_minutes": settled.breach_minutes},
    )


def _stopped(state: str) -> Any:
    def handle(c: Cursor, e: Published) -> None:
        d = e.data
        _ticket(c, e, state=state)
        if d["stopped_clock"]:
            deadline = parse_rfc3339(d["deadline"])
            _settle(c, e, d["cycle"], deadline, stopped_at=e.time, stopped_by=state)

    return handle


def reopened(c: Cursor, e: Published) -> None:
    cycle = e.data["cycle"]
    _ticket(c, e, state="open", cycles=cycle)
    _new_cycle(c, cycle, e)


PROJECTION = Projection(
    name="sla_breach",
    tables=("sla_tickets", "sla_cycles"),
    ddl=DDL,
    handlers={
        "ticketflow.ticket.opened.v1": opened,
        "ticketflow.ticket.escalated.v1": escalated,
        "ticketflow.ticket.priority_changed.v1": priority_changed,
        "ticketflow.ticket.service_restored.v1": _stopped("restored"),
        "ticketflow.ticket.resolved.v1": _stopped("resolved"),
        "ticketflow.ticket.closed.v1": _stopped("closed"),
        "ticketflow.ticket.reopened.v1": reopened,
    },
)
