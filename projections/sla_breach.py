"""SLA breaches (R-SLA-*): one row per ticket and one per clock cycle.

Reads ``Ticket.Opened``, ``Ticket.Escalated``, ``Ticket.PriorityChanged``,
``Ticket.ServiceRestored``, ``Ticket.Resolved``, ``Ticket.Closed``, ``Ticket.Reopened``.
Writes ``sla_tickets`` and ``sla_cycles``. Every clock fact (start, GTR, tier, edition, or the
rule saying why there is none) comes from the event; status as of an instant is derived by
``ticketflow.domain.sla.cycle_status`` at query time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from projections.base import OWNERS, Cursor, Projection, parse_ts, ts
from ticketflow.domain.sla import AT_RISK_FRACTION, WARN_FRACTION, breach_minutes

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


def _clock_values(event: Any) -> tuple[Any, ...]:
    start = event.clock_started_at
    if start is None:
        return (
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            event.no_clock_rule,
            event.no_clock_detail,
        )
    gtr = event.gtr_minutes
    return (
        ts(start),
        event.clock_tier,
        gtr,
        event.edition,
        ts(start + timedelta(minutes=gtr)),
        ts(start + timedelta(minutes=gtr * WARN_FRACTION)),
        ts(start + timedelta(minutes=gtr * AT_RISK_FRACTION)),
        None,
        None,
    )


INSERT_CYCLE = """INSERT INTO sla_cycles (ticket, cycle, tenant, opened_at, clock_started_at,
    clock_tier, gtr_minutes, edition, deadline, warn_50_at, warn_75_at, no_clock_rule,
    no_clock_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def opened(c: Cursor, e: Any) -> None:
    OWNERS.learn(e.originator_id, e.ticket, e.tenant)
    c.execute(
        """INSERT INTO sla_tickets (ticket, id, tenant, priority, opening_tier, category, channel,
        language, beta_feature, in_planned_window, opened_at, state, level, cycles, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 'L1', 1, ?)""",
        (
            e.ticket,
            str(e.originator_id),
            e.tenant,
            e.priority,
            e.tier,
            e.category,
            e.channel,
            e.language,
            int(e.beta_feature),
            int(e.in_planned_window),
            ts(e.at),
            ts(e.at),
        ),
    )
    c.execute(INSERT_CYCLE, (e.ticket, 1, e.tenant, ts(e.at), *_clock_values(e)))


OWNER_SQL = "SELECT ticket, tenant FROM sla_tickets WHERE id = ?"


def _ticket_of(c: Cursor, e: Any) -> tuple[str, str]:
    # Events after Opened carry the aggregate id; the ticket and tenant are kept per id.
    return OWNERS.get(c, e.originator_id, OWNER_SQL)


def _name(c: Cursor, e: Any) -> str:
    return _ticket_of(c, e)[0]


def escalated(c: Cursor, e: Any) -> None:
    c.execute(
        "UPDATE sla_tickets SET level = ?, updated_at = ? WHERE ticket = ?",
        (e.level, ts(e.at), _name(c, e)),
    )


def priority_changed(c: Cursor, e: Any) -> None:
    ticket, tenant = _ticket_of(c, e)
    c.execute(
        "UPDATE sla_tickets SET priority = ?, cycles = ?, updated_at = ? WHERE ticket = ?",
        (e.priority, e.cycle, ts(e.at), ticket),
    )
    if e.clock_effect == "cancelled":
        c.execute(
            "UPDATE sla_cycles SET cancelled_at = ? WHERE ticket = ? AND cycle = ?",
            (ts(e.at), ticket, e.cycle),
        )
    elif e.clock_effect == "started" and e.new_cycle:
        c.execute(INSERT_CYCLE, (ticket, e.cycle, tenant, ts(e.at), *_clock_values(e)))
    elif e.clock_effect == "started":
        values = _clock_values(e)
        c.execute(
            """UPDATE sla_cycles SET clock_started_at = ?, clock_tier = ?, gtr_minutes = ?,
            edition = ?, deadline = ?, warn_50_at = ?, warn_75_at = ?, no_clock_rule = ?,
            no_clock_detail = ? WHERE ticket = ? AND cycle = ?""",
            (*values, ticket, e.cycle),
        )
    elif e.no_clock_rule is not None:
        c.execute(
            """UPDATE sla_cycles SET no_clock_rule = ?, no_clock_detail = ?
            WHERE ticket = ? AND cycle = ? AND clock_started_at IS NULL""",
            (e.no_clock_rule, e.no_clock_detail, ticket, e.cycle),
        )


def _stopped(state: str) -> Any:
    def handle(c: Cursor, e: Any) -> None:
        ticket = _name(c, e)
        c.execute(
            "UPDATE sla_tickets SET state = ?, updated_at = ? WHERE ticket = ?",
            (state, ts(e.at), ticket),
        )
        if not e.stopped_clock:
            return
        deadline = e.deadline
        if deadline is None:  # recorded before stop events carried their deadline (v1)
            c.execute(
                "SELECT deadline FROM sla_cycles WHERE ticket = ? AND cycle = ?",
                (ticket, e.cycle),
            )
            deadline = parse_ts(c.fetchone()[0])
        late = breach_minutes(deadline, e.at)
        c.execute(
            """UPDATE sla_cycles SET stopped_at = ?, stopped_by = ?, outcome = ?,
            breach_minutes = ? WHERE ticket = ? AND cycle = ?""",
            (ts(e.at), state, "breached" if late else "met", late, ticket, e.cycle),
        )

    return handle


def reopened(c: Cursor, e: Any) -> None:
    ticket, tenant = _ticket_of(c, e)
    c.execute(
        "UPDATE sla_tickets SET state = 'open', cycles = ?, updated_at = ? WHERE ticket = ?",
        (e.cycle, ts(e.at), ticket),
    )
    c.execute(INSERT_CYCLE, (ticket, e.cycle, tenant, ts(e.at), *_clock_values(e)))


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
