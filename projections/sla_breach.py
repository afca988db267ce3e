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
        updated_at {instant} NOT NULL,
        summary TEXT
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
            "summary": d.get("summary"),
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


# ``ticketflow query sla --as-of T`` in SQL (R-SLA-10, R-SLA-11), for analysts: the same rows,
# from the same columns, by the rules of ``ticketflow.domain.sla`` (``cycle_status``: a clock
# not started yet or never started is not_applicable with its rule; an ended clock is settled
# as ``settle`` does; a running one is breached past its deadline, at_risk from 75 %;
# ``ticket_status``: breached if any cycle is, else the most severe, the last cycle when none
# applies; the row shows the last cycle of the ticket's status). Tested equal to the query.
SLA_FUNCTION = """CREATE OR REPLACE FUNCTION ticketflow_sla(as_of timestamptz)
RETURNS TABLE (ticket text, tenant text, priority text, tier text, category text, status text,
    reason text, opened_at timestamptz, clock_started_at timestamptz, deadline timestamptz,
    restored_at timestamptz, breach_minutes integer, cycles integer)
LANGUAGE sql STABLE AS $fn$
WITH c AS (
    SELECT y.*, coalesce(y.cancelled_at, y.stopped_at) AS ended_at,
        y.clock_started_at IS NULL OR as_of < y.clock_started_at AS no_clock
    FROM sla_cycles y WHERE y.opened_at <= as_of
), s AS (
    SELECT c.ticket, c.cycle, c.clock_started_at, c.clock_tier, c.deadline, c.stopped_at,
        CASE
            WHEN c.no_clock THEN 'not_applicable'
            WHEN c.ended_at <= as_of THEN CASE
                WHEN c.ended_at > c.deadline THEN 'breached'
                WHEN c.cancelled_at IS NOT NULL THEN 'not_applicable'
                ELSE 'met' END
            WHEN as_of > c.deadline THEN 'breached'
            WHEN c.warn_75_at <= as_of THEN 'at_risk'
            ELSE 'running' END AS status,
        CASE
            WHEN c.no_clock THEN coalesce(c.no_clock_rule, 'R-SLA-1')
            WHEN c.ended_at <= as_of AND c.ended_at <= c.deadline AND c.cancelled_at IS NOT NULL
                THEN 'R-SLA-3' END AS reason,
        CASE
            WHEN c.no_clock THEN 0
            WHEN c.ended_at <= as_of
                THEN greatest(0, ceil(extract(epoch FROM c.ended_at - c.deadline) / 60))
            WHEN as_of > c.deadline THEN ceil(extract(epoch FROM as_of - c.deadline) / 60)
            ELSE 0 END::integer AS minutes
    FROM c
), r AS (
    SELECT s.*, CASE s.status WHEN 'not_applicable' THEN 0 WHEN 'met' THEN 1
        WHEN 'running' THEN 2 WHEN 'at_risk' THEN 3 ELSE 4 END AS severity
    FROM s
), t AS (
    SELECT r.ticket, max(r.severity) AS worst, sum(r.minutes)::integer AS minutes,
        count(*)::integer AS cycles, max(r.cycle) AS last_cycle
    FROM r GROUP BY r.ticket
)
SELECT k.ticket, k.tenant, k.priority,
    CASE WHEN sh.clock_started_at <= as_of THEN sh.clock_tier ELSE k.opening_tier END,
    k.category, sh.status,
    CASE WHEN sh.status = 'not_applicable' THEN sh.reason END,
    k.opened_at,
    CASE WHEN sh.clock_started_at <= as_of THEN sh.clock_started_at END,
    CASE WHEN sh.clock_started_at <= as_of THEN sh.deadline END,
    CASE WHEN sh.clock_started_at <= as_of AND sh.stopped_at <= as_of THEN sh.stopped_at END,
    t.minutes, t.cycles
FROM t
JOIN sla_tickets k ON k.ticket = t.ticket
JOIN LATERAL (
    SELECT * FROM r
    WHERE r.ticket = t.ticket
        AND CASE WHEN t.worst = 0 THEN r.cycle = t.last_cycle ELSE r.severity = t.worst END
    ORDER BY r.cycle DESC LIMIT 1
) sh ON true
ORDER BY k.opened_at, k.ticket
$fn$"""


COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "sla_tickets": (
        "One row per ticket (R-SLA-*); its status as of an instant: ticketflow_sla(as_of).",
        {
            "ticket": "upstream ticket id",
            "id": "the Ticket aggregate's id in the event store (history, audit_chain)",
            "tenant": "the customer (upstream tenant id)",
            "priority": "current priority, P1 to P4",
            "opening_tier": "tier in force for service when the ticket opened (R-SLA-4, R-TIER-2)",
            "category": "control_plane, compute, network, storage, backup or other",
            "channel": "portal, phone or email",
            "language": "fr or en (R-TIER-3)",
            "beta_feature": "about a beta feature: no SLA (R-SLA-8)",
            "in_planned_window": "opened inside a planned maintenance window (R-SLA-9)",
            "opened_at": "business time of ticket.opened",
            "state": "open, resolved or closed",
            "level": "support level: L1, L2 or L3",
            "cycles": "number of clock cycles (opening, reopenings, P1 again; R-SLA-7)",
            "updated_at": "business time of the ticket's latest fact",
            "summary": "the customer's summary from ticket.opened, as sent (NULL if none)",
        },
    ),
    "sla_cycles": (
        "One row per clock cycle of a ticket; a ticket is breached if any cycle is (R-SLA-7).",
        {
            "ticket": "upstream ticket id",
            "cycle": "cycle number, from 1",
            "tenant": "the customer",
            "opened_at": "when the cycle began (opening, reopening, or raise to P1)",
            "clock_started_at": "when the GTR clock started; NULL if no clock ran",
            "clock_tier": "tier in force at clock start (R-SLA-4)",
            "gtr_minutes": "guaranteed time to restore fixed at clock start, minutes",
            "edition": "catalog edition in force at clock start (R-TIER-1)",
            "deadline": "clock start + GTR, counted 24x7 (R-SLA-4, R-SLA-5)",
            "warn_50_at": "when 50 % of the GTR elapses (R-SLA-10)",
            "warn_75_at": "when 75 % of the GTR elapses: at risk from then (R-SLA-10)",
            "no_clock_rule": "why no clock ran: the rule id (R-SLA-1, R-SLA-8, R-SLA-9)",
            "no_clock_detail": "why no clock ran, in words",
            "cancelled_at": "priority lowered from P1 before restoration (R-SLA-3)",
            "stopped_at": "service restored, or resolved/closed unrestored (R-SLA-6)",
            "stopped_by": "restored, resolved or closed",
            "outcome": "met, breached or not_applicable once the clock ended; NULL while it runs",
            "breach_minutes": "whole minutes past the deadline, rounded up, once settled",
        },
    ),
}

PROJECTION = Projection(
    comments=COMMENTS,
    name="sla_breach",
    tables=("sla_tickets", "sla_cycles"),
    ddl=DDL,
    postgres_ddl=(SLA_FUNCTION,),
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
