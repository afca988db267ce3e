"""The analyst's report (DESIGN §1): what breached, what is about to, who is over their hours and
what is billed from when, as of an instant and within a set of tenants.

:func:`build` gathers a :class:`Report` from the analysts' queries of
:mod:`ticketflow.service.queries` (``sla``, ``billing``, ``expertise``), so that every figure is
the one ``ticketflow query`` and the API show (R-SLA-11); this module only selects, counts and
orders their rows. A key's tenants bound every row (R-ACC-3). The platform weather and the
recent alerts come from their own read models (``query weather``, the ``sla_alerts`` table),
read by :func:`platform` and given to :func:`build`; the report leaves their sections out
without them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.storage import ReadModelStorage
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import Tier
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.sla import STATUSES
from ticketflow.errors import QueryError
from ticketflow.service import alerter, queries
from ticketflow.service import weather as platform_weather

GTR_TIERS = tuple(t.value for t in Tier if t is not Tier.STANDARD)
TIERS = tuple(t.value for t in Tier)
CLOCKED = tuple(s for s in STATUSES if s != "not_applicable")  # statuses of a clock that ran
OPEN_CLOCK = ("at_risk", "running")
RECENT_ALERTS = 200
MIX_MONTHS = 12  # the billed-tier mix covers the year up to the report's month


@dataclass(frozen=True)
class Weather:
    """The platform weather at the report's instant (R-PLAT-2, R-PLAT-3): ``services`` rows
    ``{service, state, causes}``, ``incidents`` rows ``{incident, state, severity, status,
    services, declared_at, resolved_at?, summary?, tenants, tickets}`` where ``tickets`` are
    ``{ticket, tenant, sla_status?, deadline?}``, and the exceptional ``maintenances`` (rows of
    ``query weather``). :func:`weather_of` makes one from ``query weather``'s answer."""

    services: list[dict[str, Any]]
    incidents: list[dict[str, Any]] = field(default_factory=list)
    maintenances: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """Every figure of the report; rows are plain dicts, instants RFC 3339 UTC text."""

    as_of: str
    tenant: str | None  # the one tenant asked for, if any
    tenants: tuple[str, ...]  # the tenants the rows may hold (the key's, or the one asked for)
    months: tuple[str, ...]
    compliance: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    breached: list[dict[str, Any]]
    open_clocks: list[dict[str, Any]]
    worst_tenants: list[dict[str, Any]]
    hours: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    tier_mix: list[dict[str, Any]]
    weather: Weather | None = None
    alerts: list[dict[str, Any]] | None = None
    notes: tuple[str, ...] = ()


def build(
    store: ReadModelStorage,
    *,
    as_of: datetime,
    tenant: str | None = None,
    scope: Collection[str] | None = None,
    weather: Weather | None = None,
    alerts: Sequence[dict[str, Any]] | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """The report as of ``as_of``: of ``tenant`` alone when given, else of every tenant in
    ``scope`` (an API key's tenants; ``None``: every tenant). ``weather`` and ``alerts``, when
    given, are kept within the same tenants."""
    if tenant is not None and scope is not None and tenant not in scope:
        raise QueryError(f"unknown tenant {tenant!r}: not among the key's tenants")
    sla_rows = queries.sla(store, as_of=as_of, tenant=tenant, tenants=scope)
    visible = _tenants(store, tenant, scope)
    last = Month.of(as_of)
    hours = expert_hours(store, visible, last)
    changes, mix = billing_figures(store, visible, as_of)
    per_tier = compliance(sla_rows)
    months = sorted(
        {r["month"] for r in per_tier} | {r["month"] for r in hours} | {r["month"] for r in mix}
    )
    return Report(
        as_of=rfc3339(as_of),
        tenant=tenant,
        tenants=tuple(visible),
        months=tuple(months),
        compliance=per_tier,
        statuses=statuses(sla_rows),
        breached=breached(store, sla_rows),
        open_clocks=open_clocks(store, sla_rows, as_of),
        worst_tenants=worst_tenants(sla_rows),
        hours=hours,
        changes=changes,
        tier_mix=mix,
        weather=_scoped_weather(weather, set(visible)) if weather is not None else None,
        alerts=_scoped_alerts(alerts, set(visible), as_of) if alerts is not None else None,
        notes=tuple(notes),
    )


def _tenants(
    store: ReadModelStorage, tenant: str | None, scope: Collection[str] | None
) -> list[str]:
    if tenant is not None:
        queries.known_tenant(store, tenant)
        return [tenant]
    with store.transaction() as c:
        c.execute(
            "SELECT tenant FROM billing_subscriptions UNION SELECT tenant FROM sla_tickets "
            "UNION SELECT tenant FROM expertise_tiers"
        )
        every = {str(row[0]) for row in c.fetchall()}
    return sorted(every if scope is None else every & set(scope))


# -- SLA (R-SLA-10, from queries.sla) ----------------------------------------------------------


def compliance(sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """P1 tickets with a GTR clock per month of clock start and tier: met, breached, still
    running, and the share met among those decided (R-SLA-1, R-SLA-4, R-SLA-7, R-SLA-10)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in sla_rows:
        if row["clock_started_at"] is None or row["status"] not in CLOCKED:
            continue
        month = str(Month.of(parse_rfc3339(row["clock_started_at"])))
        counts[(month, row["tier"])][row["status"]] += 1
    out = []
    for (month, tier), c in sorted(counts.items(), key=lambda kv: (kv[0][0], Tier(kv[0][1]).rank)):
        decided = c["met"] + c["breached"]
        out.append(
            {
                "month": month,
                "tier": tier,
                "p1_with_clock": sum(c.values()),
                "met": c["met"],
                "breached": c["breached"],
                "running": c["running"] + c["at_risk"],
                "compliance_pct": round(100 * c["met"] / decided, 1) if decided else None,
            }
        )
    return out


def statuses(sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tickets per status, with the rule when no SLA applies (R-SLA-10)."""
    counts = Counter((row["status"], row["reason"] or "") for row in sla_rows)
    return [
        {"status": status, "rule": rule, "tickets": n}
        for (status, rule), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def breached(store: ReadModelStorage, sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Breached tickets, worst first (most minutes past the deadline), with their summary."""
    rows = [r for r in sla_rows if r["status"] == "breached"]
    rows.sort(key=lambda r: (-(r["breach_minutes"] or 0), r["deadline"] or "", r["ticket"]))
    said = summaries(store, [r["ticket"] for r in rows])
    return [{**r, "summary": said.get(r["ticket"])} for r in rows]


def open_clocks(
    store: ReadModelStorage, sla_rows: Sequence[dict[str, Any]], as_of: datetime
) -> list[dict[str, Any]]:
    """Running and at-risk P1 clocks with the minutes left before their deadline at ``as_of``
    and the share of the GTR elapsed, least time left first (R-SLA-10)."""
    rows = []
    for r in sla_rows:
        if r["status"] not in OPEN_CLOCK:
            continue
        started, deadline = parse_rfc3339(r["clock_started_at"]), parse_rfc3339(r["deadline"])
        left = (deadline - as_of).total_seconds() / 60
        gtr = (deadline - started).total_seconds() / 60
        elapsed = round(100 * (gtr - left) / gtr, 1) if gtr else 100.0
        rows.append({**r, "minutes_left": int(left), "elapsed_pct": elapsed})
    rows.sort(key=lambda r: (r["minutes_left"], r["ticket"]))
    said = summaries(store, [r["ticket"] for r in rows])
    return [{**r, "summary": said.get(r["ticket"])} for r in rows]


def worst_tenants(sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tenants with a breached or open P1 clock, most breaches first, then most minutes past
    their deadlines."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    minutes: Counter[str] = Counter()
    for r in sla_rows:
        if r["status"] in CLOCKED:
            per[r["tenant"]][r["status"]] += 1
            minutes[r["tenant"]] += r["breach_minutes"] or 0
    out: list[dict[str, Any]] = []
    for tenant, c in per.items():
        if not (c["breached"] or c["at_risk"] or c["running"]):
            continue
        decided = c["met"] + c["breached"]
        out.append(
            {
                "tenant": tenant,
                "breached": c["breached"],
                "breach_minutes": minutes[tenant],
                "at_risk": c["at_risk"],
                "running": c["running"],
                "met": c["met"],
                "compliance_pct": round(100 * c["met"] / decided, 1) if decided else None,
            }
        )
    out.sort(key=lambda r: (-r["breached"], -r["breach_minutes"], -r["at_risk"], r["tenant"]))
    return out


def summaries(store: ReadModelStorage, tickets: Sequence[str]) -> dict[str, str]:
    """The summary each ticket was opened with (sla_tickets.summary), when it had one."""
    out: dict[str, str] = {}
    with store.transaction() as c:
        for start in range(0, len(tickets), 500):
            chunk = list(tickets[start : start + 500])
            c.execute(
                f"SELECT ticket, summary FROM sla_tickets WHERE ticket IN "
                f"({', '.join('?' * len(chunk))}) AND summary IS NOT NULL",
                chunk,
            )
            out.update({str(t): str(s) for t, s in c.fetchall()})
    return out


# -- expert hours (R-EXP, from queries.expertise) ----------------------------------------------


def expert_hours(
    store: ReadModelStorage, tenants: Sequence[str], last: Month
) -> list[dict[str, Any]]:
    """``queries.expertise`` for each tenant-month with hours consumed or bought, up to the
    month ``last``; most overage first within a month, latest month first."""
    wanted = set(tenants)
    with store.transaction() as c:
        c.execute(
            """SELECT tenant, month FROM expertise_months
            WHERE month <= ? AND (consumed_minutes > 0 OR purchased_minutes > 0)""",
            (str(last),),
        )
        pairs = sorted((str(t), str(m)) for t, m in c.fetchall() if t in wanted)
    rows = [queries.expertise(store, tenant=t, month=Month.parse(m)) for t, m in pairs]
    rows.sort(key=lambda r: (r["month"], -r["overage_hours"], r["tenant"]))
    return sorted(rows, key=lambda r: r["month"], reverse=True)


# -- billing (R-BILL, from queries.billing) ----------------------------------------------------


def billing_figures(
    store: ReadModelStorage, tenants: Sequence[str], as_of: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tier changes in effect for service by ``as_of`` (each date with its rule, R-BILL-5),
    latest first; and for each of the :data:`MIX_MONTHS` months up to ``as_of``'s, how many
    subscribed tenants are billed at each tier (R-BILL-3, the tier ``query billing --month``
    gives)."""
    with store.transaction() as c:
        c.execute("SELECT tenant FROM billing_subscriptions")
        subscribed = {str(row[0]) for row in c.fetchall()}
    last = Month.of(as_of)
    window = [last]
    while len(window) < MIX_MONTHS:
        window.insert(0, window[0].previous())
    changes: list[dict[str, Any]] = []
    mix: dict[str, Counter[str]] = defaultdict(Counter)
    for tenant in (t for t in tenants if t in subscribed):
        answer = queries.billing(store, tenant=tenant)
        for change in answer["changes"]:
            explicit = change["kind"] != "default" and not (
                change["kind"] == "started" and change["to_tier"] == Tier.STANDARD.value
            )
            if explicit and parse_rfc3339(change["service_effective_at"]) <= as_of:
                changes.append({"tenant": tenant, **change})
        since = min(
            (Month.of(parse_rfc3339(c["service_effective_at"])) for c in answer["changes"]),
            default=last,
        )
        for month in (m for m in window if m >= since):
            mix[str(month)][queries.billed_tier_of(answer["changes"], month)] += 1
    changes.sort(key=lambda ch: (ch["service_effective_at"], ch["tenant"]), reverse=True)
    tier_mix = [{"month": m, **{t: mix[m][t] for t in TIERS}} for m in sorted(mix)]
    return changes, tier_mix


# -- the platform (R-PLAT, R-ALERT), given by their read models --------------------------------


def weather_of(answer: dict[str, Any]) -> Weather:
    """The report's :class:`Weather` from the answer of ``query weather``
    (:func:`ticketflow.service.weather.weather`): each incident carries its own linked tickets
    (the answer lists them apart, and counts them in the incident)."""
    linked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in answer["linked_tickets"]:
        linked[link["incident"]].append(
            {
                "ticket": link["ticket"],
                "tenant": link["tenant"],
                "sla_status": link["sla_status"],
                "deadline": link["deadline"],
            }
        )
    return Weather(
        services=[dict(s) for s in answer["services"]],
        incidents=[{**i, "tickets": linked[i["incident"]]} for i in answer["incidents"]],
        maintenances=[dict(m) for m in answer["maintenances"]],
    )


def alert_of(row: dict[str, Any]) -> dict[str, Any]:
    """The report's alert row from an ``sla_alerts`` row (``ticketflow alerts``' fields): ``at``
    is the threshold instant."""
    keep = ("type", "ticket", "tenant", "cycle", "deadline", "emitted_at", "late")
    return {"at": row["threshold_at"], **{k: row[k] for k in keep}}


def platform(
    store: ReadModelStorage, as_of: datetime, tenants: Collection[str] | None
) -> tuple[Weather, list[dict[str, Any]]]:
    """The weather as ``query weather`` gives it as of ``as_of``, and the alerts emitted by
    then (the ``sla_alerts`` table), of ``tenants`` only (``None``: every tenant; R-ACC-3):
    the ``weather=`` and ``alerts=`` of :func:`build`. The alerts' tables must exist
    (:func:`ticketflow.service.alerter.create_tables`)."""
    answer = platform_weather.weather(store, as_of=as_of, tenants=tenants)
    rows = alerter.recent(store, until=as_of, tenants=tenants, limit=RECENT_ALERTS)
    return weather_of(answer), [alert_of(r) for r in rows]


def _scoped_weather(weather: Weather, tenants: set[str]) -> Weather:
    """The weather of the whole platform, each incident's tenants and tickets cut down to
    ``tenants`` (R-ACC-3)."""
    incidents = [
        {
            **i,
            "tenants": [t for t in i.get("tenants", ()) if t in tenants],
            "tickets": [k for k in i.get("tickets", ()) if k.get("tenant") in tenants],
        }
        for i in weather.incidents
    ]
    return Weather(
        [dict(s) for s in weather.services], incidents, [dict(m) for m in weather.maintenances]
    )


def _scoped_alerts(
    alerts: Sequence[dict[str, Any]], tenants: set[str], as_of: datetime
) -> list[dict[str, Any]]:
    """The latest alerts of ``tenants`` emitted by ``as_of``, newest first."""
    kept = [
        a for a in alerts if a.get("tenant") in tenants and parse_rfc3339(str(a["at"])) <= as_of
    ]
    kept.sort(key=lambda a: parse_rfc3339(str(a["at"])), reverse=True)
    return kept[:RECENT_ALERTS]
