"""The alerter (R-ALERT-1, R-ALERT-2): follows the SLA read model (``sla_cycles``) and a clock,
and writes each alert due once into ``sla_alerts``.

Each :meth:`Alerter.check` is one transaction: it locks the alerter's tracking row
(``sla_alerter``), reads the cycles whose clock may have crossed a threshold since the
look-back bound, asks :func:`ticketflow.domain.alerts.crossings` which thresholds are due at the
clock's instant, inserts those not yet in ``sla_alerts`` (the id ``<ticket>/<cycle>/<threshold>``
is the table's key) and moves its tracking, all committed together: a restart neither loses nor
doubles an alert.

Look-back (decided in docs/decisions.md): thresholds are alerted down to ``horizon`` before the
instant of the previous check (at the very first check, before now). Thresholds crossed while
the alerter was down and facts arriving late are within it; history older than it (a store
loaded with past facts, a rebuild) emits nothing.

A cycle exempted by an announced control-plane maintenance (``sla_cycles.exempted_by``,
R-PLAT-1) has no clock: it emits nothing from the check that sees the exemption on. An alert
emitted before the exemption became known (the announcement consumed after the ticket,
R-PLAT-4) stays emitted, like every alert (R-ALERT-2).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from projections.base import Cursor, among, instant
from projections.sla_alerts import TABLES
from projections.storage import ReadModelStorage
from ticketflow.domain.alerts import CycleClock, Due, crossings, is_late
from ticketflow.domain.clock import Clock
from ticketflow.domain.instants import rfc3339

NAME = "alerter"
SLACK = timedelta(seconds=1)  # SQLite compares instants as text: fractions need a margin
COLUMNS = (
    "alert_id",
    "seq",
    "type",
    "ticket",
    "tenant",
    "cycle",
    "tier",
    "gtr_minutes",
    "clock_started_at",
    "threshold_at",
    "deadline",
    "breach_minutes",
    "stopped_by",
    "emitted_at",
    "late",
)
# What ``ticketflow alerts`` and ``GET /v1/alerts`` show, in this order.
FIELDS = (
    "alert_id",
    "type",
    "ticket",
    "tenant",
    "cycle",
    "tier",
    "threshold_at",
    "deadline",
    "emitted_at",
    "late",
    "breach_minutes",
)


def alert_id(ticket: str, cycle: int, threshold: str) -> str:
    """The identity of an alert (R-ALERT-2): the same crossing always has the same id."""
    return f"{ticket}/{cycle}/{threshold}"


def create_tables(store: ReadModelStorage) -> None:
    store.create_tables([TABLES])


class Alerter:
    """Emits the alerts due at the clock's instant into ``store``."""

    def __init__(self, store: ReadModelStorage, clock: Clock, horizon: timedelta) -> None:
        self.store, self.clock, self.horizon = store, clock, horizon
        create_tables(store)

    def check(self) -> list[dict[str, Any]]:
        """Emit what is due now; returns the new alerts (as :func:`alerts` shows them)."""
        now = self.clock.now()
        with self.store.transaction() as c:
            checked = self._lock(c, now)
            bound = min(checked, now) - self.horizon
            new = self._due(c, now, bound)
            rows = self._insert(c, new, now)
            if now > checked:
                c.execute(
                    "UPDATE sla_alerter SET checked_at = ? WHERE name = ?", (rfc3339(now), NAME)
                )
        return [_public(r) for r in rows]

    def _lock(self, c: Cursor, now: datetime) -> datetime:
        c.execute(
            "INSERT INTO sla_alerter (name, checked_at) VALUES (?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (NAME, rfc3339(now)),
        )
        lock = " FOR UPDATE" if self.store.dialect == "postgres" else ""
        c.execute(f"SELECT checked_at FROM sla_alerter WHERE name = ?{lock}", (NAME,))
        return instant(c.fetchone()[0])

    def _due(self, c: Cursor, now: datetime, bound: datetime) -> list[tuple[dict[str, Any], Due]]:
        low, high = rfc3339(bound - SLACK), rfc3339(now + SLACK)
        c.execute(
            """SELECT ticket, cycle, tenant, clock_tier, gtr_minutes, clock_started_at,
                warn_50_at, warn_75_at, deadline, cancelled_at, stopped_at, stopped_by
            FROM sla_cycles
            WHERE clock_started_at IS NOT NULL AND exempted_by IS NULL AND warn_50_at <= ?
                AND (deadline >= ? OR cancelled_at >= ? OR stopped_at >= ?)""",
            (high, low, low, low),
        )
        cycles = c.fetchall()
        c.execute("SELECT alert_id FROM sla_alerts WHERE threshold_at >= ?", (low,))
        known = {row[0] for row in c.fetchall()}
        found = []
        for row in cycles:
            (ticket, cycle, tenant, tier, gtr, started, w50, w75, deadline) = row[:9]
            cancelled, stopped, stopped_by = row[9:]
            ended = cancelled if cancelled is not None else stopped
            clock = CycleClock(
                instant(started),
                instant(w50),
                instant(w75),
                instant(deadline),
                None if ended is None else instant(ended),
            )
            base = {
                "ticket": ticket,
                "cycle": int(cycle),
                "tenant": tenant,
                "tier": tier,
                "gtr_minutes": int(gtr),
                "clock_started_at": rfc3339(clock.started_at),
                "deadline": rfc3339(clock.deadline),
                "stopped_by": "cancelled" if cancelled is not None else stopped_by,
            }
            for due in crossings(clock, now):
                key = alert_id(ticket, int(cycle), due.threshold)
                if due.at >= bound and key not in known:
                    found.append(({**base, "alert_id": key}, due))
        found.sort(key=lambda pair: (pair[1].at, pair[0]["alert_id"]))
        return found

    def _insert(
        self, c: Cursor, new: list[tuple[dict[str, Any], Due]], now: datetime
    ) -> list[dict[str, Any]]:
        if not new:
            return []
        c.execute("SELECT coalesce(max(seq), 0) FROM sla_alerts")
        seq = int(c.fetchone()[0])
        rows = []
        for base, due in new:
            seq += 1
            stop = due.threshold == "stopped"
            row = {
                **base,
                "seq": seq,
                "type": f"sla.{due.threshold}",
                "threshold_at": rfc3339(due.at),
                "breach_minutes": due.breach_minutes,
                "stopped_by": base["stopped_by"] if stop else None,
                "emitted_at": rfc3339(now),
                "late": is_late(due.at, now),
            }
            c.execute(
                f"INSERT INTO sla_alerts ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                tuple(row[k] for k in COLUMNS),
            )
            rows.append(row)
        return rows


def _public(row: dict[str, Any]) -> dict[str, Any]:
    shown = {k: row[k] for k in COLUMNS}
    shown["late"] = bool(row["late"])
    return {"seq": row["seq"], **{k: v for k, v in shown.items() if k != "seq"}}


def alerts(
    store: ReadModelStorage,
    *,
    after: int = 0,
    tenants: Collection[str] | None = None,
    tenant: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The alerts emitted, in emission order, after ``seq`` ``after``; ``tenants`` limits them
    to an API key's scope (R-ACC-3), ``tenant`` to one tenant."""
    where: list[str] = ["seq > ?"]
    params: list[Any] = [after]
    if tenants is not None:
        if not tenants:
            return []
        clause, values = among("tenant", tenants)
        where.append(clause)
        params.extend(values)
    if tenant is not None:
        where.append("tenant = ?")
        params.append(tenant)
    sql = f"SELECT {', '.join(COLUMNS)} FROM sla_alerts WHERE {' AND '.join(where)} ORDER BY seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.transaction() as c:
        c.execute(sql, params)
        return [_public(dict(zip(COLUMNS, r, strict=True))) for r in c.fetchall()]


def recent(
    store: ReadModelStorage,
    *,
    until: datetime,
    tenants: Collection[str] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The latest ``limit`` alerts emitted at or before ``until`` (their ``emitted_at``), latest
    emitted first; ``tenants`` limits them to those tenants (R-ACC-3). An alert emitted after
    ``until`` was not known then, whatever its threshold instant."""
    if tenants is not None and not tenants:
        return []
    where, params = ["emitted_at <= ?"], [rfc3339(until + SLACK)]
    if tenants is not None:
        clause, values = among("tenant", tenants)
        where.append(clause)
        params.extend(values)
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM sla_alerts WHERE {' AND '.join(where)} "
        f"ORDER BY seq DESC LIMIT {2 * int(limit)}"
    )
    with store.transaction() as c:
        c.execute(sql, params)
        rows = [_public(dict(zip(COLUMNS, r, strict=True))) for r in c.fetchall()]
    # Instants compare as instants here (text with fractions does not order as time).
    return [r for r in rows if instant(r["emitted_at"]) <= until][:limit]


DELIVERY_COLUMNS = (
    "endpoint",
    "alert_id",
    "seq",
    "tenant",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "updated_at",
)


def dead_deliveries(
    store: ReadModelStorage, tenants: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The webhook deliveries given up after their last retry (the dead-letter list, R-ALERT-3),
    oldest alert first; ``tenants`` limits them to an API key's scope (R-ACC-3)."""
    where, params = "state = 'dead'", []
    if tenants is not None:
        if not tenants:
            return []
        clause, values = among("tenant", tenants)
        where += f" AND {clause}"
        params.extend(values)
    with store.transaction() as c:
        c.execute(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM alert_deliveries WHERE {where} "
            "ORDER BY seq, endpoint",
            params,
        )
        return [dict(zip(DELIVERY_COLUMNS, r, strict=True)) for r in c.fetchall()]
