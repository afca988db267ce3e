"""SLA breaches (R-SLA-*): one row per ticket and one per clock cycle.

Reads the published records (``ticketflow.contract_events``, as on ``ticketflow.events``)
``ticketflow.ticket.opened.v1``, ``….escalated.v1``, ``….priority_changed.v1``,
``….service_restored.v1``, ``….resolved.v1``, ``….closed.v1``, ``….reopened.v1``, and the
platform's ``ticketflow.platform.maintenance_announced.v1`` and ``….maintenance_cancelled.v1``.
Writes ``sla_tickets``, ``sla_cycles`` and ``sla_maintenance_windows``.

R-PLAT-1 (an announced control-plane maintenance exempts control-plane tickets opened inside
it) is decided by ``ticketflow.domain.platform.exempting_window`` over the windows this read
model knows, each time a control-plane ticket's cycle changes and each time a maintenance is
announced or cancelled, for the cycles it covers: platform facts travel on their own
partition, so either may come first, and the rows end the same either way (R-PLAT-4). An
exempted cycle names its maintenance (``exempted_by``) and its ``outcome`` is
``not_applicable``. Every clock fact (start, GTR, tier, edition, or the
rule saying why there is none) comes from the event. The instants derived from a clock
(deadline, 50 % and 75 %) and a settled cycle's ``outcome`` and ``breach_minutes`` come from the
functions of ``ticketflow.domain.sla`` that the query uses too (R-SLA-11); status as of an
instant is derived by ``ticketflow.domain.sla.cycle_status`` at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from projections.base import Cursor, Projection, instant
from ticketflow.contract_events import Published
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.platform import Window, exempting_window
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
        window_checked_at {instant} NOT NULL,
        exempted_by TEXT,
        PRIMARY KEY (ticket, cycle)
    )""",
    "CREATE INDEX IF NOT EXISTS sla_cycles_tenant ON sla_cycles (tenant)",
    # The cycles an announced maintenance may exempt (R-PLAT-1), found by their checked instant.
    "CREATE INDEX IF NOT EXISTS sla_cycles_window_checked_at ON sla_cycles (window_checked_at)",
    """CREATE TABLE IF NOT EXISTS sla_maintenance_windows (
        maintenance TEXT PRIMARY KEY,
        announced_at {instant} NOT NULL,
        starts_at {instant} NOT NULL,
        ends_at {instant} NOT NULL,
        scope TEXT NOT NULL,
        in_time {flag} NOT NULL,
        cancelled_at {instant},
        summary TEXT
    )""",
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


def _new_cycle(c: Cursor, cycle: int, e: Published, checked_at: str | None = None) -> None:
    """A new cycle row. ``checked_at`` is the instant the maintenance rules look at (R-SLA-9,
    R-PLAT-1): the opening or reopening that began it (a raise to P1 after a cancelled clock
    keeps the instant of the cycle before)."""
    c.insert(
        "sla_cycles",
        {"ticket": e.subject, "cycle": cycle},
        {
            "tenant": e.tenant,
            "opened_at": e.time,
            **_clock_values(e.data),
            "window_checked_at": checked_at or e.time,
        },
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
    if d["category"] == "control_plane":
        c.defer(_reconsider, e.subject)


def _ticket(c: Cursor, e: Published, **values: Any) -> None:
    """Set columns of the event's ticket row (and ``updated_at``)."""
    c.update("sla_tickets", {"ticket": e.subject}, {**values, "updated_at": e.time})


def escalated(c: Cursor, e: Published) -> None:
    _ticket(c, e, level=e.data["level"])


def priority_changed(c: Cursor, e: Published) -> None:
    d = e.data
    cycle = d["cycle"]
    _ticket(c, e, priority=d["priority"], cycles=cycle)
    if d["clock_effect"] != "none":
        c.defer(_reconsider, e.subject)
    if d["clock_effect"] == "cancelled":
        _settle(c, e, cycle, None, cancelled_at=e.time)
    elif d["clock_effect"] == "started" and d["new_cycle"]:
        c.execute(
            "SELECT window_checked_at FROM sla_cycles WHERE ticket = ? AND cycle = ?",
            (e.subject, cycle - 1),
        )
        _new_cycle(c, cycle, e, rfc3339(instant(c.fetchone()[0])))
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
            c.defer(_reconsider, e.subject)

    return handle


def reopened(c: Cursor, e: Published) -> None:
    cycle = e.data["cycle"]
    _ticket(c, e, state="open", cycles=cycle)
    _new_cycle(c, cycle, e)
    c.defer(_reconsider, e.subject)


# -- R-PLAT-1: exceptional maintenance, whichever partition comes first (R-PLAT-4) ----------


def maintenance_announced(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "sla_maintenance_windows",
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
    c.defer(_reconsider_covered, e.subject)


def maintenance_cancelled(c: Cursor, e: Published) -> None:
    c.update("sla_maintenance_windows", {"maintenance": e.subject}, {"cancelled_at": e.time})
    c.defer(_reconsider_covered, e.subject)


def windows(c: Cursor) -> list[Window]:
    """Every maintenance this read model knows, as the domain's windows (R-PLAT-1)."""
    c.execute(
        """SELECT maintenance, starts_at, ends_at, scope, announced_at, cancelled_at, summary
        FROM sla_maintenance_windows ORDER BY starts_at, maintenance"""
    )
    return [
        Window(m, instant(s), instant(e), scope, instant(a), x and instant(x), summary)
        for m, s, e, scope, a, x, summary in c.fetchall()
    ]


def _reconsider_covered(c: Cursor, maintenances: list[Any]) -> None:
    """Reconsider the control-plane tickets whose cycles fall in the announced span of these
    maintenances (cancelled or not): the instants are compared as text with a second's margin
    (SQLite's text puts ``…00.5Z`` before ``…00Z``), the domain function decides exactly."""
    tickets: dict[str, None] = {}
    for chunk in _chunks(maintenances):
        c.execute(
            f"""SELECT starts_at, ends_at FROM sla_maintenance_windows
            WHERE maintenance IN ({", ".join("?" * len(chunk))})""",
            chunk,
        )
        for starts_at, ends_at in c.fetchall():
            low = rfc3339(instant(starts_at) - timedelta(seconds=1))
            high = rfc3339(instant(ends_at) + timedelta(seconds=1))
            c.execute(
                """SELECT DISTINCT y.ticket FROM sla_cycles y
                JOIN sla_tickets t ON t.ticket = y.ticket
                WHERE t.category = 'control_plane'
                    AND y.window_checked_at >= ? AND y.window_checked_at <= ?""",
                (low, high),
            )
            tickets.update((str(row[0]), None) for row in c.fetchall())
    if tickets:
        _reconsider(c, list(tickets))


def _reconsider(c: Cursor, tickets: list[Any]) -> None:
    """Decide R-PLAT-1 again for every cycle of these tickets (control-plane ones only), and
    write ``exempted_by`` and the settled ``outcome`` and ``breach_minutes`` where they
    change: an exempted cycle is ``not_applicable``, any other is settled by ``settle`` as
    when its clock ended (R-SLA-10, R-SLA-11)."""
    known: list[Window] | None = None
    for chunk in _chunks(tickets):
        c.execute(
            f"""SELECT y.ticket, y.cycle, y.window_checked_at, y.clock_started_at, y.deadline,
            y.cancelled_at, y.stopped_at, y.exempted_by, y.outcome, y.breach_minutes,
            t.beta_feature
            FROM sla_cycles y JOIN sla_tickets t ON t.ticket = y.ticket
            WHERE t.category = 'control_plane' AND y.ticket IN ({", ".join("?" * len(chunk))})""",
            chunk,
        )
        rows = c.fetchall()
        if rows and known is None:
            known = windows(c)
        for ticket, n, checked, start, deadline, cancelled, stopped, was, *settled, beta in rows:
            window = exempting_window(
                category="control_plane",
                beta_feature=bool(beta),
                opened_at=instant(checked),
                windows=known or [],
                clock_started=start is not None,
            )
            exempted_by = window.maintenance if window else None
            outcome, minutes = _outcome(exempted_by, start, deadline, cancelled, stopped)
            if (exempted_by, outcome, minutes) != (was, *settled):
                c.update(
                    "sla_cycles",
                    {"ticket": ticket, "cycle": n},
                    {"exempted_by": exempted_by, "outcome": outcome, "breach_minutes": minutes},
                )


def _outcome(
    exempted_by: str | None, start: Any, deadline: Any, cancelled: Any, stopped: Any
) -> tuple[str | None, int | None]:
    """``outcome`` and ``breach_minutes`` of a cycle: NULL where no clock ran or while it runs,
    ``not_applicable`` when exempted (R-PLAT-1), else as ``settle`` says (R-SLA-10)."""
    if start is None:
        return None, None
    if exempted_by is not None:
        return "not_applicable", 0
    ended = cancelled if cancelled is not None else stopped
    if ended is None:
        return None, None
    settled = settle(instant(deadline), instant(ended), cancelled=cancelled is not None)
    return settled.outcome, settled.breach_minutes


def _chunks(keys: Sequence[Any], size: int = 500) -> list[list[Any]]:
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


# ``ticketflow query sla --as-of T`` in SQL (R-SLA-10, R-SLA-11), for analysts: the same rows,
# from the same columns, by the rules of ``ticketflow.domain.sla`` (``cycle_status``: a clock
# not started yet or never started is not_applicable with its rule; an ended clock is settled
# as ``settle`` does; a running one is breached past its deadline, at_risk from 75 %;
# ``ticket_status``: breached if any cycle is, else the most severe, the last cycle when none
# applies; the row shows the last cycle of the ticket's status; a cycle exempted by an
# announced maintenance is not_applicable, R-PLAT-1, and shows no clock). Tested equal to the
# query.
SLA_FUNCTION = """CREATE OR REPLACE FUNCTION ticketflow_sla(as_of timestamptz)
RETURNS TABLE (ticket text, tenant text, priority text, tier text, category text, status text,
    reason text, opened_at timestamptz, clock_started_at timestamptz, deadline timestamptz,
    restored_at timestamptz, breach_minutes integer, cycles integer)
LANGUAGE sql STABLE AS $fn$
WITH c AS (
    SELECT y.*, coalesce(y.cancelled_at, y.stopped_at) AS ended_at,
        y.clock_started_at IS NULL OR as_of < y.clock_started_at OR y.exempted_by IS NOT NULL
            AS no_clock
    FROM sla_cycles y WHERE y.opened_at <= as_of
), s AS (
    SELECT c.ticket, c.cycle, c.clock_tier, c.deadline, c.stopped_at,
        CASE WHEN c.exempted_by IS NULL THEN c.clock_started_at END AS clock_started_at,
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
            WHEN c.exempted_by IS NOT NULL THEN 'R-PLAT-1'
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
            "outcome": "met, breached or not_applicable once the clock ended, not_applicable "
            "from the start when exempted (R-PLAT-1); NULL while it runs",
            "breach_minutes": "whole minutes past the deadline, rounded up, once settled",
            "window_checked_at": "the instant the maintenance rules check (R-SLA-9, R-PLAT-1): "
            "the opening or reopening that began the cycle's life",
            "exempted_by": "the announced control-plane maintenance that exempts the cycle "
            "(R-PLAT-1); NULL when none does",
        },
    ),
    "sla_maintenance_windows": (
        "Exceptional maintenance known to the SLA read model, for R-PLAT-1.",
        {
            "maintenance": "upstream maintenance id",
            "announced_at": "business time of platform.maintenance_announced",
            "starts_at": "announced start of the window",
            "ends_at": "announced end of the window",
            "scope": "control_plane (portal and APIs) or services",
            "in_time": "announced before it starts: only then may it exempt (R-PLAT-1)",
            "cancelled_at": "when it was withdrawn: the window ends there (R-PLAT-1); NULL if not",
            "summary": "what the announcement said",
        },
    ),
}

PROJECTION = Projection(
    comments=COMMENTS,
    name="sla_breach",
    tables=("sla_tickets", "sla_cycles", "sla_maintenance_windows"),
    ddl=DDL,
    postgres_ddl=(SLA_FUNCTION,),
    # The cycles an announced maintenance covers (``_reconsider_covered``).
    working_indexes=("sla_cycles_window_checked_at",),
    handlers={
        "ticketflow.ticket.opened.v1": opened,
        "ticketflow.ticket.escalated.v1": escalated,
        "ticketflow.ticket.priority_changed.v1": priority_changed,
        "ticketflow.ticket.service_restored.v1": _stopped("restored"),
        "ticketflow.ticket.resolved.v1": _stopped("resolved"),
        "ticketflow.ticket.closed.v1": _stopped("closed"),
        "ticketflow.ticket.reopened.v1": reopened,
        "ticketflow.platform.maintenance_announced.v1": maintenance_announced,
        "ticketflow.platform.maintenance_cancelled.v1": maintenance_cancelled,
    },
)
