"""Receipts (``ticketflow explain ticket``): a ticket's SLA figures and the chain behind them.

The figures are ``query sla``'s own row (the same function, so every surface shows the same
figure). The chain: every fact recorded for the ticket, and the subscription facts that set the
tier in force when its clocks started, each with its upstream ``(source, id)``, business time,
store position and audit-chain digest; then, cycle by cycle, each rule applied with the values
it used (tier, GTR, catalog edition, the planned and the announced maintenance windows
checked, the time-zone data). A cycle exempted by an announced maintenance (R-PLAT-1) names it,
and the maintenance's own facts join the chain.
"""

from __future__ import annotations

import importlib.metadata
from datetime import datetime
from pathlib import Path
from typing import Any

from projections import sla_breach
from projections.storage import ReadModelStorage
from ticketflow.domain.calendar import Month
from ticketflow.domain.ids import maintenance_id, subscription_id, ticket_id
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.platform import Window
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.audit import CHAIN_DDL
from ticketflow.service.engine import Engine

FACT_FIELDS = ("position", "digest", "aggregate", "version", "event", "at", "inbound")
RULE_FIELDS = ("cycle", "rule", "decision", "values")
EXPERTISE_EVENTS = ("HoursConsumed", "PackPurchased")


def tz_data_version() -> str:
    """The version of the IANA time-zone data behind Europe/Paris (billing months, R-SLA-9)."""
    try:
        return "tzdata " + importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        pass
    system = Path("/usr/share/zoneinfo/tzdata.zi")
    if system.is_file():
        with system.open(encoding="utf-8") as lines:
            first = lines.readline().strip()
        if first.startswith("# version"):
            return "system " + first.removeprefix("# version").strip()
    return "system (version unknown)"


def _positions(store: ReadModelStorage, aggregate: str) -> dict[int, tuple[int, str]]:
    """``{version: (store position, audit digest)}`` of one aggregate's events."""
    with store.transaction() as c:
        c.execute(CHAIN_DDL)
        c.execute(
            "SELECT originator_version, notification_id, digest FROM audit_chain "
            "WHERE originator_id = ?",
            (aggregate,),
        )
        return {int(v): (int(n), str(d)) for v, n, d in c.fetchall()}


def _facts(
    engine: Engine, store: ReadModelStorage, aggregate: Any, until: datetime | None
) -> list[dict[str, Any]]:
    chain = _positions(store, str(aggregate))
    facts = []
    for event in engine.events.get(aggregate):
        at = getattr(event, "at", None)
        if until is not None and at is not None and at > until:
            continue
        position, digest = chain.get(event.originator_version, (None, None))
        facts.append(
            {
                "position": position,
                "digest": digest,
                "aggregate": type(event).__qualname__.split(".")[0],
                "version": event.originator_version,
                "event": type(event).__qualname__.split(".")[-1],
                "at": rfc3339(at) if at else None,
                "inbound": getattr(event, "inbound", None),
            }
        )
    return facts


def _cycles(store: ReadModelStorage, ticket: str) -> list[dict[str, Any]]:
    with store.transaction() as c:
        c.execute(
            """SELECT y.cycle, y.opened_at, y.clock_started_at, y.clock_tier, y.gtr_minutes,
            y.edition, y.deadline, y.no_clock_rule, y.no_clock_detail, y.cancelled_at,
            y.stopped_at, y.stopped_by, y.outcome, y.breach_minutes, t.category,
            t.in_planned_window, t.beta_feature, y.window_checked_at, y.exempted_by
            FROM sla_cycles y JOIN sla_tickets t ON t.ticket = y.ticket
            WHERE y.ticket = ? ORDER BY y.cycle""",
            (ticket,),
        )
        names = [
            "cycle",
            "opened_at",
            "clock_started_at",
            "clock_tier",
            "gtr_minutes",
            "edition",
            "deadline",
            "no_clock_rule",
            "no_clock_detail",
            "cancelled_at",
            "stopped_at",
            "stopped_by",
            "outcome",
            "breach_minutes",
            "category",
            "in_planned_window",
            "beta_feature",
            "window_checked_at",
            "exempted_by",
        ]
        found = [dict(zip(names, row, strict=True)) for row in c.fetchall()]
        windows = sla_breach.windows(c)
    for cycle in found:
        cycle["windows"] = windows
    return found


def _announced_rule(cycle: dict[str, Any]) -> dict[str, Any]:
    """R-PLAT-1 as checked for one cycle: the announced maintenance windows that cover the
    instant checked, and why each exempts the cycle or not."""
    checked = cycle["window_checked_at"]
    at = parse_rfc3339(checked)
    covering: list[Window] = [w for w in cycle["windows"] if w.starts_at <= at < w.ends_at]
    exempted = cycle["exempted_by"]
    if exempted is not None:
        w = next(w for w in covering if w.maintenance == exempted)
        decision = f"control-plane ticket opened in announced maintenance {exempted}: no SLA"
    elif cycle["category"] != "control_plane":
        decision = "not a control-plane ticket: no maintenance exempts it"
    elif not covering:
        decision = "no announced maintenance covers the opening"
    else:
        decision = "no announced maintenance exempts it"
    values = []
    for w in covering:
        why = (
            "announced after it started"
            if not w.in_time
            else "scope services"
            if w.scope != "control_plane"
            else f"cancelled at {rfc3339(w.cancelled_at)}"
            if not w.covers(at)
            else "announced before it started"
        )
        values.append(
            f"{w.maintenance} [{rfc3339(w.starts_at)}, {rfc3339(w.end)}) announced "
            f"{rfc3339(w.announced_at)}, {why}"
        )
    return {
        "cycle": cycle["cycle"],
        "rule": "R-PLAT-1",
        "decision": decision,
        "values": f"checked at {checked}" + ("; " + "; ".join(values) if values else ""),
    }


def _by(text: str | None, as_of: datetime | None) -> bool:
    """Whether an instant of the read model (RFC 3339 text) is at or before ``as_of``."""
    if text is None:
        return False
    return as_of is None or parse_rfc3339(text) <= as_of


def _rules(cycle: dict[str, Any], as_of: datetime | None) -> list[dict[str, Any]]:
    """The rules applied to one cycle by ``as_of``, in the order they were, with their values."""
    n = cycle["cycle"]
    rules = [
        {
            "cycle": n,
            "rule": "R-SLA-9",
            "decision": "control-plane ticket opened in a planned maintenance window: no SLA"
            if cycle["category"] == "control_plane" and cycle["in_planned_window"]
            else "not exempt by a planned maintenance window",
            "values": f"category {cycle['category']}, in window: "
            f"{bool(cycle['in_planned_window'])}",
        },
        _announced_rule(cycle),
    ]
    if cycle["exempted_by"] is not None:
        return rules
    if not _by(cycle["clock_started_at"], as_of):
        rules.append(
            {
                "cycle": n,
                "rule": cycle["no_clock_rule"] or "R-SLA-1",
                "decision": "no clock",
                "values": cycle["no_clock_detail"] or "",
            }
        )
        return rules
    rules += [
        {
            "cycle": n,
            "rule": "R-SLA-2",
            "decision": "clock started (no earlier than the ticket's opening)",
            "values": f"cycle opened {cycle['opened_at']}, clock {cycle['clock_started_at']}",
        },
        {
            "cycle": n,
            "rule": "R-SLA-4",
            "decision": "GTR fixed at clock start from the tier in force",
            "values": f"tier {cycle['clock_tier']}, GTR {cycle['gtr_minutes']} min, "
            f"catalog edition {cycle['edition']}",
        },
        {
            "cycle": n,
            "rule": "R-SLA-5",
            "decision": "deadline counted 24x7",
            "values": f"deadline {cycle['deadline']}",
        },
    ]
    if _by(cycle["cancelled_at"], as_of):
        rules.append(
            {
                "cycle": n,
                "rule": "R-SLA-3",
                "decision": "lowered from P1: the clock ends",
                "values": f"at {cycle['cancelled_at']}",
            }
        )
    if _by(cycle["stopped_at"], as_of):
        rules.append(
            {
                "cycle": n,
                "rule": "R-SLA-6",
                "decision": f"clock stopped ({cycle['stopped_by']})",
                "values": f"at {cycle['stopped_at']}",
            }
        )
    ended = cycle["stopped_at"] or cycle["cancelled_at"]
    if cycle["outcome"] is not None and _by(ended, as_of):
        rules.append(
            {
                "cycle": n,
                "rule": "R-SLA-10",
                "decision": f"settled: {cycle['outcome']}",
                "values": f"{cycle['breach_minutes']} min past the deadline",
            }
        )
    return rules


def explain_ticket(
    engine: Engine, store: ReadModelStorage, ticket: str, as_of: datetime | None = None
) -> dict[str, Any]:
    """The receipt of one ticket's SLA figures as of ``as_of`` (default: now)."""
    rows = queries.sla(store, as_of=as_of, ticket=ticket)
    if not rows:
        raise QueryError(f"unknown ticket {ticket!r} (or not opened by {rfc3339(as_of)})")
    figures = rows[0]
    cycles = [c for c in _cycles(store, ticket) if _by(c["opened_at"], as_of)]
    starts = [c["clock_started_at"] for c in cycles if _by(c["clock_started_at"], as_of)]
    tenant = figures["tenant"]
    facts = _facts(engine, store, ticket_id(ticket), as_of)
    if starts:  # the subscription facts that set the tier in force at the clock starts
        last_start = max(parse_rfc3339(start) for start in starts)
        facts = _facts(engine, store, subscription_id(tenant), last_start) + facts
    exempting = sorted({c["exempted_by"] for c in cycles if c["exempted_by"] is not None})
    for maintenance in exempting:  # the announcements behind an exemption (R-PLAT-1)
        facts += _facts(engine, store, maintenance_id(maintenance), as_of)
    rules = [rule for cycle in cycles for rule in _rules(cycle, as_of)]
    rules.append(
        {
            "cycle": None,
            "rule": figures["reason"] or "R-SLA-10",
            "decision": f"status as of {rfc3339(as_of) if as_of else 'now'}: {figures['status']}",
            "values": f"deadline {figures['deadline']}, {figures['breach_minutes']} min past it"
            if figures["deadline"]
            else "no clock",
        }
    )
    if len(cycles) > 1:
        rules.append(
            {
                "cycle": None,
                "rule": "R-SLA-7",
                "decision": "a ticket is breached if any cycle is",
                "values": f"{len(cycles)} cycles",
            }
        )
    return {
        "ticket": ticket,
        "as_of": rfc3339(as_of) if as_of else None,
        "figures": figures,
        "facts": facts,
        "rules": rules,
        "time_zone_data": tz_data_version(),
    }


def _subscription_facts(
    engine: Engine, store: ReadModelStorage, tenant: str, until: datetime | None
) -> list[dict[str, Any]]:
    return _facts(engine, store, subscription_id(tenant), until)


def explain_billing(
    engine: Engine, store: ReadModelStorage, tenant: str, month: Month
) -> dict[str, Any]:
    """The receipt of the tier billed to ``tenant`` for ``month`` (R-BILL-2, R-BILL-3)."""
    figures = queries.billing(store, tenant=tenant, month=month)
    start = month.start()
    changes = queries.billing(store, tenant=tenant)["changes"]
    in_force = [c for c in changes if parse_rfc3339(c["service_effective_at"]) <= start]
    rules = [
        {
            "cycle": None,
            "rule": change["rule"],
            "decision": f"{change['kind']} {change['from_tier']} → {change['to_tier']} billed "
            f"from {change['billing_effective_at']}",
            "values": f"in force for service from {change['service_effective_at']}",
        }
        for change in changes
    ]
    rules.append(
        {
            "cycle": None,
            "rule": "R-BILL-3",
            "decision": f"{month} is billed at {figures['billed_tier']}",
            "values": f"the tier in force at {rfc3339(start)} (00:00 Europe/Paris on the 1st): "
            + (
                f"{in_force[-1]['to_tier']}, since {in_force[-1]['service_effective_at']}"
                if in_force
                else "none yet, STANDARD (R-TIER-2)"
            ),
        }
    )
    return {
        "tenant": tenant,
        "month": str(month),
        "figures": figures,
        "facts": [
            fact
            for fact in _subscription_facts(engine, store, tenant, None)
            if fact["event"] not in EXPERTISE_EVENTS  # tier changes only
        ],
        "rules": rules,
        "time_zone_data": tz_data_version(),
    }


def explain_expertise(
    engine: Engine, store: ReadModelStorage, tenant: str, month: Month
) -> dict[str, Any]:
    """The receipt of ``tenant``'s expert hours in ``month``: each consumption and how it was
    funded (R-EXP-1..5)."""
    figures = queries.expertise(store, tenant=tenant, month=month)
    with store.transaction() as c:
        c.execute(
            """SELECT at, minutes, tier, privileged, allowance_minutes, from_allowance_minutes,
            from_packs, overage_minutes, unfunded_minutes FROM expertise_consumptions
            WHERE tenant = ? AND month = ? ORDER BY seq""",
            (tenant, str(month)),
        )
        consumptions = c.fetchall()
    rules = [
        {
            "cycle": None,
            "rule": "R-EXP-1",
            "decision": f"included in {month}: {figures['included_hours']} h",
            "values": "the largest allowance among the tiers in force during the month",
        }
    ]
    for at, minutes, tier, privileged, allowance, own, packs, overage, unfunded in consumptions:
        rules.append(
            {
                "cycle": None,
                "rule": "R-EXP-5" if not privileged else "R-EXP-4",
                "decision": f"{minutes} min at {at} ({tier}, privileged access: "
                f"{bool(privileged)})",
                "values": f"allowance then {allowance} min; funded {own} from the allowance, "
                f"packs {packs}, overage {overage}, unfunded {unfunded}",
            }
        )
    start, end = rfc3339(month.start()) or "", month.end()
    facts = [  # the tier history, and this month's purchases and consumptions
        fact
        for fact in _subscription_facts(engine, store, tenant, end)
        if fact["event"] not in EXPERTISE_EVENTS or (fact["at"] or "") >= start
    ]
    return {
        "tenant": tenant,
        "month": str(month),
        "figures": figures,
        "facts": facts,
        "rules": rules,
        "time_zone_data": tz_data_version(),
    }
