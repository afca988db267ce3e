"""What an analyst looks at first, from the read models, and a self-contained HTML report.

:func:`collect` reads the figures (P1 GTR compliance, expert-hour burn, tier changes, customers
over their hours) into a :class:`Summary`; :func:`write_report` writes it as one HTML file whose
charts are inline SVG drawn here: no script, no stylesheet or font from elsewhere. Every text
that comes from data is escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import Tier
from ticketflow.domain.expertise import minutes_to_hours, tiers_in_force
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.domain.sla import STATUSES
from ticketflow.entrypoints import render
from ticketflow.service import queries

GTR_TIERS = tuple(t.value for t in Tier if t is not Tier.STANDARD)
CLOCKED = tuple(s for s in STATUSES if s != "not_applicable")  # statuses of a clock that ran


@dataclass
class Summary:
    """The demo's figures; rows are plain dicts, ready for ``render.table``."""

    seed: int
    tenants: int
    months: list[str]
    as_of: str
    dataset: Path
    lines: int
    ingest: dict[str, Any]
    rejections: list[dict[str, Any]]
    p1: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    changes_by_month: list[dict[str, Any]]
    overage: list[dict[str, Any]]
    burn: list[dict[str, Any]]
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    weather: dict[str, Any] = field(default_factory=dict)  # ``service.weather.weather``


# -- figures from the read models ------------------------------------------------------------


def p1_compliance(sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """P1 tickets with a GTR clock per tier and clock month: met, breached, compliance
    (R-SLA-1, R-SLA-4, R-SLA-10; tables sla_tickets and sla_cycles)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in sla_rows:
        if row["clock_started_at"] is None or row["status"] not in CLOCKED:
            continue
        month = str(Month.of(parse_rfc3339(row["clock_started_at"])))
        counts[(month, row["tier"])][row["status"]] += 1
    out = []
    for (month, tier), c in sorted(counts.items(), key=lambda kv: (kv[0][0], _rank(kv[0][1]))):
        decided = c["met"] + c["breached"]
        share = round(100 * c["met"] / decided, 1) if decided else None
        out.append(
            {
                "month": month,
                "tier": tier,
                "p1_with_clock": sum(c.values()),
                "met": c["met"],
                "breached": c["breached"],
                "running": c["running"] + c["at_risk"],
                "compliance_pct": share,
            }
        )
    return out


def _rank(tier: str) -> int:
    return Tier(tier).rank


def sla_statuses(sla_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tickets per status, with the rule when no SLA applies (R-SLA-10)."""
    counts = Counter((row["status"], row["reason"] or "") for row in sla_rows)
    return [
        {"status": status, "rule": rule, "tickets": n}
        for (status, rule), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def tier_changes(store: ReadModelStore) -> list[dict[str, Any]]:
    """Every explicit tier change with its dates and rules (R-BILL-1..5; billing_changes)."""
    with store.transaction() as c:
        c.execute(
            """SELECT tenant, kind, from_tier, to_tier, service_effective_at,
            billing_effective_at, rule, support_ticket FROM billing_changes
            WHERE kind <> 'default' AND NOT (kind = 'started' AND to_tier = 'STANDARD')
            ORDER BY tenant, seq"""
        )
        rows = c.fetchall()
    changes = []
    for tenant, kind, old, new, service, billing, rule, ticket in rows:
        month = str(Month.of(parse_rfc3339(service)))
        changes.append(
            {
                "month": month,
                "tenant": tenant,
                "change": f"{old} → {new}",
                "kind": kind,
                "service_effective_at": service,
                "billing_effective_at": billing,
                "rule": rule,
                "support_ticket": ticket,
            }
        )
    return sorted(changes, key=lambda ch: (ch["service_effective_at"], ch["tenant"]))


def changes_by_month(
    changes: Sequence[dict[str, Any]], months: Sequence[str]
) -> list[dict[str, Any]]:
    """Upgrades, downgrades and new subscriptions per month of service effect."""
    counts = Counter((ch["month"], ch["kind"]) for ch in changes)
    return [
        {
            "month": m,
            "started": counts[(m, "started")],
            "upgrades": counts[(m, "upgrade")],
            "downgrades": counts[(m, "downgrade")],
        }
        for m in months
    ]


def hour_burn(store: ReadModelStore) -> list[dict[str, Any]]:
    """Expert hours per month and tier: from the allowance, from packs, overage (R-EXP-4,
    R-EXP-5; expertise_consumptions)."""
    with store.transaction() as c:
        c.execute(
            """SELECT month, tier, from_allowance_minutes, from_packs, overage_minutes,
            unfunded_minutes FROM expertise_consumptions"""
        )
        rows = c.fetchall()
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for month, tier, allowance, packs, overage, unfunded in rows:
        total = sums[(month, tier)]
        total[0] += allowance
        total[1] += sum(minutes for _, minutes in json.loads(packs))
        total[2] += overage
        total[3] += unfunded
    return [
        {
            "month": month,
            "tier": tier,
            "allowance_hours": minutes_to_hours(a),
            "packs_hours": minutes_to_hours(p),
            "overage_hours": minutes_to_hours(o),
            "unfunded_hours": minutes_to_hours(u),
        }
        for (month, tier), (a, p, o, u) in sorted(
            sums.items(), key=lambda kv: (kv[0][0], _rank(kv[0][1]))
        )
    ]


def over_hours(store: ReadModelStore) -> list[dict[str, Any]]:
    """Customers whose month ends with overage (R-EXP-4, R-EXP-5; expertise_months), with the
    tiers in force during the month, whose largest allowance is its included hours (R-EXP-1;
    expertise_tiers)."""
    with store.transaction() as c:
        c.execute(
            """SELECT tenant, month FROM expertise_months WHERE overage_minutes > 0
            ORDER BY month, overage_minutes DESC, tenant"""
        )
        rows = c.fetchall()
    out = []
    for tenant, month in rows:
        figures = queries.expertise(store, tenant=tenant, month=Month.parse(month))
        keep = ("included_hours", "consumed_hours", "from_packs_hours", "overage_hours")
        out.append(
            {"month": month, "tenant": tenant, "tiers": _tiers_in(store, tenant, month)}
            | {k: figures[k] for k in keep}
            | {"unfunded_hours": figures["unfunded_hours"]}
        )
    return out


def _tiers_in(store: ReadModelStore, tenant: str, month: str) -> str:
    with store.transaction() as c:
        c.execute(
            "SELECT effective_at, tier FROM expertise_tiers WHERE tenant = ? ORDER BY seq",
            (tenant,),
        )
        history = sorted((parse_rfc3339(at), Tier(tier)) for at, tier in c.fetchall())
    parsed = Month.parse(month)
    in_force = tiers_in_force(history, parsed, parsed.end())
    return ", ".join(tier.value for tier in in_force)


def collect(store: ReadModelStore, as_of: datetime, months: Sequence[str]) -> dict[str, Any]:
    """The figures of a :class:`Summary`, from the read models as of ``as_of``."""
    sla_rows = queries.sla(store, as_of=as_of)
    changes = tier_changes(store)
    latest = months[-1]
    return {
        "as_of": rfc3339(as_of),
        "p1": p1_compliance(sla_rows),
        "statuses": sla_statuses(sla_rows),
        "changes": [ch for ch in changes if ch["month"] == latest],
        "changes_by_month": changes_by_month(changes, months),
        "overage": over_hours(store),
        "burn": hour_burn(store),
    }


# -- inline SVG charts -----------------------------------------------------------------------

COLORS = {
    "STANDARD": "#6b7b8c",
    "BRONZE": "#b0713a",
    "SILVER": "#8f9ca8",
    "GOLD": "#d4a017",
    "allowance": "#4e9a6a",
    "packs": "#4a78b5",
    "overage": "#c8553d",
    "upgrades": "#4e9a6a",
    "downgrades": "#c8553d",
    "new subscriptions": "#4a78b5",
}
MIDDLE = 'text-anchor="middle"'
WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 64, 74


@dataclass(frozen=True)
class Bar:
    """One bar: a label under it and its stacked segments ``(series, value)``."""

    label: str
    segments: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Chart:
    """Groups of bars along x (a bar of one segment is a plain bar of a grouped chart)."""

    title: str
    x_label: str
    y_label: str
    caption: str
    series: tuple[str, ...]
    groups: tuple[tuple[str, tuple[Bar, ...]], ...]
    y_max: float | None = None
    unit: str = ""
    counts: bool = False  # whole numbers: ticks on integers


def _nice(value: float, counts: bool = False) -> float:
    """A round upper bound for an axis of four intervals."""
    if counts:
        return float(max(4, 4 * math.ceil(value / 4)))
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if value <= m * scale)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{html.escape(text)}</text>'


def _axes(chart: Chart, top: float) -> list[str]:
    """Frame, y ticks with grid lines, axis labels, title and legend."""
    plot_h, right = HEIGHT - TOP - BOTTOM, WIDTH - RIGHT
    out = [_text(WIDTH / 2, 22, chart.title, MIDDLE + ' class="title"')]
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="grid"/>')
        out.append(_text(LEFT - 6, y + 4, _num(value) + chart.unit, 'text-anchor="end"'))
    out.append(
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{right}" y2="{HEIGHT - BOTTOM}" '
        'class="axis"/>'
    )
    out.append(_text(WIDTH / 2, HEIGHT - 12, chart.x_label, MIDDLE + ' class="label"'))
    y_mid = TOP + plot_h / 2
    out.append(
        _text(
            16,
            y_mid,
            chart.y_label,
            MIDDLE + f' class="label" transform="rotate(-90 16 {y_mid:.1f})"',
        )
    )
    return out + _legend(chart.series)


def _legend(series: Sequence[str]) -> list[str]:
    out, x = [], float(LEFT)
    for name in series:
        color = COLORS.get(name, "#888")
        out.append(f'<rect x="{x:.1f}" y="36" width="12" height="12" fill="{color}"/>')
        out.append(_text(x + 16, 46, name))
        x += 28 + 7 * len(name)
    return out


def _bars(chart: Chart, top: float) -> list[str]:
    """Each group of bars, with its label under it."""
    group_w = (WIDTH - LEFT - RIGHT) / max(len(chart.groups), 1)
    out = []
    for g, (group, bars) in enumerate(chart.groups):
        bar_w = group_w * 0.8 / max(len(bars), 1)
        x0 = LEFT + g * group_w + group_w * 0.1
        out.append(_text(x0 + group_w * 0.4, HEIGHT - BOTTOM + 30, group, MIDDLE))
        for b, bar in enumerate(bars):
            out += _bar(chart, group, bar, (x0 + b * bar_w, bar_w), top)
    return out


def _bar(chart: Chart, group: str, bar: Bar, span: tuple[float, float], top: float) -> list[str]:
    """One bar: its stacked rectangles, each with a tooltip, and its label."""
    (x, width), base, out = span, float(HEIGHT - BOTTOM), []
    for name, value in bar.segments:
        h = (HEIGHT - TOP - BOTTOM) * value / top
        tip = " ".join(p for p in (group, bar.label, name) if p) + f": {_num(value)}{chart.unit}"
        out.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{COLORS.get(name, "#888")}">'
            f"<title>{html.escape(tip)}</title></rect>"
        )
        base -= h
    if bar.label:
        out.append(_text(x + width / 2, HEIGHT - BOTTOM + 13, bar.label, MIDDLE + ' class="small"'))
    return out


def svg(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` element."""
    totals = [sum(v for _, v in bar.segments) for _, bars in chart.groups for bar in bars]
    top = chart.y_max or _nice(max(totals, default=0), chart.counts)
    body = _axes(chart, top) + _bars(chart, top)
    if not totals:
        body.append(_text(WIDTH / 2, HEIGHT / 2, "no data", MIDDLE))
    label = html.escape(chart.title, quote=True)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{label}"><title>{html.escape(chart.title)}</title>' + "".join(body) + "</svg>"
    )


# -- the three charts ------------------------------------------------------------------------

SHORT = {"STANDARD": "STD", "BRONZE": "BRZ", "SILVER": "SLV", "GOLD": "GLD"}


def compliance_chart(summary: Summary) -> Chart:
    by_key = {(r["month"], r["tier"]): r for r in summary.p1}
    groups = []
    for month in summary.months:
        rows = [by_key.get((month, tier)) for tier in GTR_TIERS]
        bars = tuple(
            Bar(f"n={r['met'] + r['breached']}", ((r["tier"], r["compliance_pct"]),))
            for r in rows
            if r is not None and r["compliance_pct"] is not None
        )
        groups.append((month, bars))
    return Chart(
        "P1 GTR compliance per tier and month",
        "month in which the GTR clock started (Europe/Paris)",
        "P1 restored within the GTR",
        "Share of P1 tickets with a GTR clock that were met, among those met or breached "
        f"(n under each bar), as of {summary.as_of}; a ticket is breached if any of its "
        "cycles is. Rules R-SLA-10, R-SLA-7, R-SLA-4 (GTR fixed from the tier at clock "
        "start), R-SLA-1. Read models: sla_tickets, sla_cycles.",
        GTR_TIERS,
        tuple(groups),
        y_max=100,
        unit="%",
    )


def burn_chart(summary: Summary) -> Chart:
    by_key = {(r["month"], r["tier"]): r for r in summary.burn}
    groups = []
    for month in summary.months:
        bars = []
        for tier in (t.value for t in Tier):
            r = by_key.get((month, tier))
            if r is not None:
                parts = ("allowance", "packs", "overage")
                bars.append(Bar(SHORT[tier], tuple((p, r[f"{p}_hours"]) for p in parts)))
        groups.append((month, tuple(bars)))
    return Chart(
        "Expert-hour burn per tier and month",
        "month (Europe/Paris); bars: STD, BRZ, SLV, GLD = tier at the time of consumption",
        "expert hours",
        "Hours consumed, drawn from the month's included hours first, then from packs "
        "(oldest first), then counted as overage; without privileged access the overage is "
        "also unfunded. Rules R-EXP-4, R-EXP-1, R-EXP-2, R-EXP-5. "
        "Read model: expertise_consumptions.",
        ("allowance", "packs", "overage"),
        tuple(groups),
        unit=" h",
    )


KINDS = (("upgrades", "upgrades"), ("downgrades", "downgrades"), ("new subscriptions", "started"))


def changes_chart(summary: Summary) -> Chart:
    groups = tuple(
        (r["month"], tuple(Bar("", ((name, r[key]),)) for name, key in KINDS))
        for r in summary.changes_by_month
    )
    return Chart(
        "Tier changes per month",
        "month of the service-effective instant (Europe/Paris)",
        "changes",
        "Self-service upgrades take effect at once (R-BILL-1), downgrades are applied by "
        "customer support (R-BILL-4); both are billed from the 1st of the following month "
        "(R-BILL-2, R-BILL-3). Read model: billing_changes.",
        ("upgrades", "downgrades", "new subscriptions"),
        groups,
        counts=True,
    )


# -- the HTML document -----------------------------------------------------------------------

P1_COLUMNS = ("month", "tier", "p1_with_clock", "met", "breached", "running", "compliance_pct")
STATUS_COLUMNS = ("status", "rule", "tickets")
CHANGE_COLUMNS = (
    "tenant",
    "change",
    "kind",
    "service_effective_at",
    "billing_effective_at",
    "rule",
    "support_ticket",
)
OVER_COLUMNS = (
    "tenant",
    "tiers",
    "included_hours",
    "consumed_hours",
    "from_packs_hours",
    "overage_hours",
    "unfunded_hours",
)
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 13px; max-width: 760px; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg .title { font-size: 14px; font-weight: bold; } svg .label { font-size: 12px; }
svg .small { font-size: 9px; } svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #555; }
.meta, .note { color: #555; }
"""


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if isinstance(r.get(c), int | float) else ''}>"
            f"{html.escape(render.cell(r.get(c)))}</td>"
            for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(chart: Chart) -> str:
    return f"<figure>{svg(chart)}<figcaption>{html.escape(chart.caption)}</figcaption></figure>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _p(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{html.escape(text)}</p>'


def _ingest_section(summary: Summary) -> str:
    i = summary.ingest
    counts = {"lines": summary.lines, **{k: i[k] for k in ("accepted", "duplicate", "rejected")}}
    where = f"Rejected lines were written to {i['dead_letter']}." if i["dead_letter"] else ""
    return _section(
        "Ingest",
        html_table([counts], list(counts)),
        _p(
            "A re-sent event is acknowledged once (R-IN-1); a bad line is rejected with its "
            f"reason and nothing behind it is held up (R-IN-2, R-IN-3, R-TIER-3). {where}"
        ),
        html_table(summary.rejections, ("reason", "rule", "lines")),
    )


def _sla_section(summary: Summary) -> str:
    return _section(
        "SLA: guaranteed time to restore of P1 tickets",
        _figure(compliance_chart(summary)),
        html_table(summary.p1, P1_COLUMNS),
        _p(
            "Tickets per status as of the same instant, with the rule that says why no SLA "
            "applies (R-SLA-10; read models sla_tickets, sla_cycles)."
        ),
        html_table(summary.statuses, STATUS_COLUMNS),
    )


def _hours_section(summary: Summary) -> str:
    return _section(
        "Expert hours",
        _figure(burn_chart(summary)),
        _p(
            "Customers over their hours, per month (overage > 0; R-EXP-4, R-EXP-5; read "
            "models expertise_months, expertise_tiers). Tiers: those in force during the "
            "month, in the order they came into force; included hours: the largest of their "
            "allowances (R-EXP-1)."
        ),
        html_table(summary.overage, ("month", *OVER_COLUMNS)),
    )


def _billing_section(summary: Summary) -> str:
    return _section(
        "Tier changes and billing",
        _figure(changes_chart(summary)),
        _p(
            f"Tier changes of {summary.months[-1]}, each date with the rule that produced it "
            "(R-BILL-5; read model billing_changes)."
        ),
        html_table(summary.changes, CHANGE_COLUMNS),
    )


def render_html(summary: Summary) -> str:
    """The whole report as one self-contained HTML document."""
    meta = (
        f"Seed {summary.seed}, {summary.tenants} tenants, {summary.months[0]} to "
        f"{summary.months[-1]}; figures as of {summary.as_of}; dataset {summary.dataset}."
    )
    body = [
        "<h1>ticketflow: what the demo operation shows</h1>",
        _p(meta, "meta"),
        *(_p(f"Note: {note}") for note in summary.notes),
        _ingest_section(summary),
        _sla_section(summary),
        _hours_section(summary),
        _billing_section(summary),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>ticketflow demo report</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_report(path: Path, summary: Summary) -> Path:
    """Write the report to ``path``; returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summary), encoding="utf-8")
    return path
