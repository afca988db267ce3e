"""Analysts' queries on the read models (DESIGN §7); plain values out, hours as decimals.

Status as of an instant is derived here from the recorded cycle facts with the pure rules of
``ticketflow.domain.sla`` (R-SLA-10); included hours from the recorded tier history with
``ticketflow.domain.expertise`` (R-EXP-1, R-EXP-2).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.base import among
from projections.storage import ReadModelStorage
from ticketflow.domain.billing import TierChange, billed_tier
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier
from ticketflow.domain.expertise import minutes_to_hours, month_allowance
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.sla import STATUSES as STATUSES  # re-exported: the statuses of R-SLA-10
from ticketflow.domain.sla import Clock, Cycle, clock_running, cycle_status, ticket_status
from ticketflow.errors import QueryError

SLA_FIELDS = (
    "ticket",
    "tenant",
    "priority",
    "tier",
    "category",
    "status",
    "reason",
    "opened_at",
    "clock_started_at",
    "deadline",
    "restored_at",
    "breach_minutes",
    "cycles",
)


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant with an offset (R-IN-2) that is representable in UTC (R-IN-6)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"{text!r} is not an RFC 3339 instant (e.g. 2026-05-01T10:00:00Z)"
        ) from None
    if value.tzinfo is None:
        raise QueryError(f"{text!r} has no UTC offset: add Z or +02:00 (R-IN-2)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise QueryError(f"{text!r} is not representable in UTC (R-IN-6)") from None


def parse_month(text: str) -> Month:
    """A ``YYYY-MM`` month that the rules can answer for: from the month of the catalog's first
    edition (no terms were in force before it, R-TIER-1) to the last month whose end the
    calendar can compute (9999-11: the end of 9999-12 falls in year 10000)."""
    try:
        month = Month.parse(text)
    except ValueError as exc:
        raise QueryError(f"{exc} (e.g. 2026-05)") from None
    first = Month.of(DEFAULT_CATALOG.editions[0].effective_from)
    try:
        month.end()
        computable = month >= first
    except (ValueError, OverflowError):
        computable = False
    if not computable:
        raise QueryError(
            f"month {text} is out of range: give a month from {first} (the catalog's first "
            "edition, R-TIER-1) to 9999-11"
        )
    return month


def known_tenant(store: ReadModelStorage, tenant: str) -> None:
    with store.transaction() as c:
        c.execute(
            "SELECT 1 FROM billing_subscriptions WHERE tenant = ? "
            "UNION SELECT 1 FROM sla_tickets WHERE tenant = ?",
            (tenant, tenant),
        )
        if c.fetchone() is None:
            raise QueryError(
                f"unknown tenant {tenant!r}: no subscription, ticket or expertise fact recorded"
            )


def _cycle(row: tuple[Any, ...]) -> Cycle:
    (opened, start, tier, gtr, edition, rule, cancelled, stopped, exempted_by) = row
    clock = None
    if start is not None:
        clock = Clock(parse_rfc3339(start), Tier(tier), int(gtr), edition)
    return Cycle(
        parse_rfc3339(opened),
        clock,
        rule,
        parse_rfc3339(cancelled),
        parse_rfc3339(stopped),
        exempted_by,
    )


def sla(
    store: ReadModelStorage,
    *,
    as_of: datetime | None = None,
    tenant: str | None = None,
    status: str | None = None,
    tenants: Collection[str] | None = None,
    ticket: str | None = None,
    tickets: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per ticket with its SLA status as of ``as_of`` (default: now); ``tenants``
    limits the rows to those tenants (an API key's scope, R-ACC-3), ``ticket`` to one ticket,
    ``tickets`` to those tickets."""
    if status is not None and status not in STATUSES:
        raise QueryError(f"unknown status {status!r}; expected one of: {', '.join(STATUSES)}")
    if tenant is not None:
        known_tenant(store, tenant)
    as_of = as_of or datetime.now(UTC)
    # Instants are compared as datetimes below, not as text (fractions of seconds).
    where, params = "1 = 1", []
    if tenant is not None:
        where += " AND t.tenant = ?"
        params.append(tenant)
    if ticket is not None:
        where += " AND t.ticket = ?"
        params.append(ticket)
    if tenants is not None:
        if not tenants:
            return []
        clause, values = among("t.tenant", tenants)
        where += f" AND {clause}"
        params.extend(values)
    if tickets is not None:
        if not tickets:
            return []
        clause, values = among("t.ticket", tickets)
        where += f" AND {clause}"
        params.extend(values)
    with store.transaction() as c:
        c.execute(
            f"""SELECT t.ticket, t.tenant, t.priority, t.opening_tier, t.category, t.opened_at,
            y.opened_at, y.clock_started_at, y.clock_tier, y.gtr_minutes, y.edition,
            y.no_clock_rule, y.cancelled_at, y.stopped_at, y.exempted_by
            FROM sla_tickets t JOIN sla_cycles y ON y.ticket = t.ticket
            WHERE {where} ORDER BY t.ticket, y.cycle""",
            params,
        )
        rows = c.fetchall()
    found: dict[str, tuple[tuple[Any, ...], list[Cycle]]] = {}
    for row in rows:
        head, cycle = row[:6], _cycle(row[6:])
        if cycle.opened_at <= as_of:  # cycles (and tickets) that existed at as_of
            found.setdefault(row[0], (head, []))[1].append(cycle)
    out = []
    # In order of opening, as instants: SQLite's text would put …08:00:00.5Z before …08:00:00Z.
    ordered = sorted(found.values(), key=lambda t: (t[1][0].opened_at, t[0][0]))
    for head, cycles in ordered:
        row = _sla_row(head, cycles, as_of)
        if status is None or row["status"] == status:
            out.append(row)
    return out


def running_clocks(
    store: ReadModelStorage, *, as_of: datetime, tickets: Collection[str]
) -> dict[str, str]:
    """The deadline of each of these tickets' GTR clock still running at ``as_of``
    (``domain.sla.clock_running``, R-SLA-10), by ticket; tickets without one are left out."""
    if not tickets:
        return {}
    with store.transaction() as c:
        c.execute(
            f"""SELECT y.ticket, y.opened_at, y.clock_started_at, y.clock_tier, y.gtr_minutes,
            y.edition, y.no_clock_rule, y.cancelled_at, y.stopped_at, y.exempted_by
            FROM sla_cycles y WHERE y.ticket IN ({", ".join("?" * len(tickets))})
            ORDER BY y.ticket, y.cycle""",
            sorted(tickets),
        )
        rows = c.fetchall()
    running: dict[str, str] = {}
    for row in rows:
        cycle = _cycle(row[1:])
        if cycle.clock is not None and clock_running(cycle, as_of):
            running[str(row[0])] = rfc3339(cycle.clock.deadline) or ""
    return running


def _sla_row(head: tuple[Any, ...], cycles: list[Cycle], as_of: datetime) -> dict[str, Any]:
    ticket, tenant, priority, tier, category, opened_at = head
    statuses = [cycle_status(cycle, as_of) for cycle in cycles]
    overall = ticket_status(statuses)
    # The cycle that explains the status: the last one whose status is the ticket's.
    shown = next(
        c
        for c, s in zip(reversed(cycles), reversed(statuses), strict=True)
        if s.status == overall.status
    )
    # An exempted cycle carries no SLA (R-PLAT-1): it shows no clock.
    runs = shown.clock and shown.clock.started_at <= as_of and shown.exempted_by is None
    clock = shown.clock if runs else None
    stopped = shown.stopped_at if shown.stopped_at and shown.stopped_at <= as_of else None
    return {
        "ticket": ticket,
        "tenant": tenant,
        "priority": priority,
        "tier": clock.tier.value if clock else tier,
        "category": category,
        "status": overall.status,
        "reason": overall.reason if overall.status == "not_applicable" else None,
        "opened_at": opened_at,
        "clock_started_at": rfc3339(clock.started_at) if clock else None,
        "deadline": rfc3339(clock.deadline) if clock else None,
        "restored_at": rfc3339(stopped) if clock else None,
        "breach_minutes": overall.breach_minutes,
        "cycles": len(cycles),
    }


def billing(store: ReadModelStorage, *, tenant: str, month: Month | None = None) -> dict[str, Any]:
    """Tier changes with their dates and rules (R-BILL-5), and the billed tier per month."""
    with store.transaction() as c:
        c.execute("SELECT current_tier FROM billing_subscriptions WHERE tenant = ?", (tenant,))
        head = c.fetchone()
        if head is None:
            raise QueryError(
                f"unknown tenant {tenant!r}: no subscription fact recorded "
                "(a tenant without one is STANDARD, R-TIER-2)"
            )
        c.execute(
            """SELECT from_tier, to_tier, kind, service_effective_at, billing_effective_at, rule
            FROM billing_changes WHERE tenant = ? ORDER BY seq""",
            (tenant,),
        )
        changes = [
            dict(
                zip(
                    (
                        "from_tier",
                        "to_tier",
                        "kind",
                        "service_effective_at",
                        "billing_effective_at",
                        "rule",
                    ),
                    row,
                    strict=True,
                )
            )
            for row in c.fetchall()
        ]
        c.execute(
            "SELECT month, billed_tier FROM billing_months WHERE tenant = ? ORDER BY month",
            (tenant,),
        )
        months = [{"month": m, "billed_tier": t} for m, t in c.fetchall()]
    if month is None:
        return {"tenant": tenant, "current_tier": head[0], "changes": changes, "months": months}
    billed = billed_tier_of(changes, month)
    return {"tenant": tenant, "month": str(month), "billed_tier": billed, "rule": "R-BILL-3"}


def billed_tier_of(changes: list[dict[str, Any]], month: Month) -> str:
    """The tier billed for ``month`` from the ``changes`` rows :func:`billing` answers with
    (R-BILL-3)."""
    return billed_tier([_tier_change(change) for change in changes], month).value


def _tier_change(row: dict[str, Any]) -> TierChange:
    return TierChange(
        row["kind"],
        Tier(row["from_tier"]),
        Tier(row["to_tier"]),
        parse_rfc3339(row["service_effective_at"]),
        parse_rfc3339(row["billing_effective_at"]),
    )


def expertise(
    store: ReadModelStorage, *, tenant: str, month: Month, catalog: Catalog = DEFAULT_CATALOG
) -> dict[str, Any]:
    """Expert hours of ``tenant`` in ``month`` (R-EXP-1..6); ``catalog``: the editions the
    included hours are read from (a proposed one, for ``whatif``)."""
    with store.transaction() as c:
        c.execute(
            "SELECT effective_at, tier FROM expertise_tiers WHERE tenant = ? ORDER BY seq",
            (tenant,),
        )
        history = sorted((parse_rfc3339(at), Tier(tier)) for at, tier in c.fetchall())
        if not history:
            raise QueryError(
                f"unknown tenant {tenant!r}: no subscription or expertise fact recorded"
            )
        c.execute(
            """SELECT consumed_minutes, from_allowance_minutes, from_packs_minutes,
            overage_minutes, unfunded_minutes FROM expertise_months
            WHERE tenant = ? AND month = ?""",
            (tenant, str(month)),
        )
        row = c.fetchone() or (0, 0, 0, 0, 0)
        c.execute(
            """SELECT COALESCE(SUM(purchased_minutes), 0) - COALESCE(SUM(from_packs_minutes), 0)
            FROM expertise_months WHERE tenant = ? AND month <= ?""",
            (tenant, str(month)),
        )
        balance = int(c.fetchone()[0])
    last_instant = month.end() - timedelta(microseconds=1)
    included = month_allowance(history, month, last_instant, catalog)
    consumed, allowance, packs, overage, unfunded = (int(v) for v in row)
    return {
        "tenant": tenant,
        "month": str(month),
        "included_hours": minutes_to_hours(included),
        "consumed_hours": minutes_to_hours(consumed),
        "from_allowance_hours": minutes_to_hours(allowance),
        "from_packs_hours": minutes_to_hours(packs),
        "overage_hours": minutes_to_hours(overage),
        "unfunded_hours": minutes_to_hours(unfunded),
        "pack_balance_hours": minutes_to_hours(balance),
    }


def expertise_tenants(store: ReadModelStorage) -> list[str]:
    """Every tenant with a subscription or expertise fact, in order."""
    with store.transaction() as c:
        c.execute("SELECT DISTINCT tenant FROM expertise_tiers ORDER BY tenant")
        return [str(row[0]) for row in c.fetchall()]


def tenant_tickets(store: ReadModelStorage, tenant: str) -> list[str]:
    """The tickets of ``tenant``, oldest first."""
    with store.transaction() as c:
        c.execute(
            "SELECT ticket FROM sla_tickets WHERE tenant = ? ORDER BY opened_at, ticket", (tenant,)
        )
        return [str(row[0]) for row in c.fetchall()]
