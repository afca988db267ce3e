"""The report's charts: matplotlib figures rendered on the server to inline SVG.

Text stays text in the SVG (``svg.fonttype: none``: no font is embedded or fetched) and every
bar carries an id naming its chart, series and month (``gid``), so a page can be checked for
drawn data. Labels are months, tiers and series names only: no tenant id is ever drawn.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ticketflow.service.report import GTR_TIERS, TIERS, Report

COLORS = {
    "STANDARD": "#6b7b8c",
    "BRONZE": "#b0713a",
    "SILVER": "#8f9ca8",
    "GOLD": "#d4a017",
    "from allowance": "#4e9a6a",
    "from packs": "#4a78b5",
    "overage": "#c8553d",
}

METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


@dataclass(frozen=True)
class Chart:
    """One chart of the page: its id, title, caption (rules and read models) and SVG."""

    id: str
    title: str
    caption: str
    svg: str


def _svg(
    name: str,
    months: Sequence[str],
    series: dict[str, list[float]],
    *,
    stacked: bool,
    y_label: str,
    y_max: float | None = None,
) -> str:
    """Bars per month (grouped or stacked) as an ``<svg>`` element; each bar's id is
    ``bar-<chart>-<series>-<month>``."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"svg.fonttype": "none", "svg.hashsalt": name, "font.size": 9}):
        figure = Figure(figsize=(7.6, 3.2), layout="constrained")
        axes = figure.add_subplot()
        positions = list(range(len(months)))
        width = 0.8 if stacked else 0.8 / max(len(series), 1)
        base = [0.0] * len(months)
        for i, (label, values) in enumerate(series.items()):
            if stacked:
                xs: list[float] = [float(p) for p in positions]
            else:
                xs = [p - 0.4 + width * (i + 0.5) for p in positions]
            bars = axes.bar(
                xs,
                values,
                width,
                bottom=base if stacked else None,
                label=label,
                color=COLORS.get(label, "#888888"),
            )
            for bar, month in zip(bars, months, strict=True):
                bar.set_gid(f"bar-{name}-{label.replace(' ', '_')}-{month}")
            if stacked:
                base = [b + v for b, v in zip(base, values, strict=True)]
            else:  # each value written on its bar: a 0 % bar is seen, not missed
                axes.bar_label(bars, fmt="%g", fontsize=7, padding=2)
        axes.set_xticks(positions, list(months))
        axes.set_ylabel(y_label)
        if y_max is not None:
            axes.set_ylim(0, y_max)
        axes.grid(axis="y", color="#e4e4e4")
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    # The element alone, without the XML prologue and the RDF block naming its creator.
    return METADATA.sub("", text[text.index("<svg") :])


def compliance_chart(report: Report) -> Chart | None:
    decided = [r for r in report.compliance if r["compliance_pct"] is not None]
    if not decided:
        return None
    months = sorted({r["month"] for r in decided})
    by_key = {(r["month"], r["tier"]): r["compliance_pct"] for r in decided}
    series = {
        tier: [float(by_key.get((m, tier), 0.0)) for m in months]
        for tier in GTR_TIERS
        if any((m, tier) in by_key for m in months)
    }
    return Chart(
        "chart-compliance",
        "P1 GTR compliance per tier and month",
        "Share of P1 tickets with a GTR clock that were met, among those met or breached, per "
        "month in which the clock started (Europe/Paris) and tier at clock start, as of the "
        "report's instant; a ticket is breached if any of its cycles is. Rules R-SLA-10, "
        "R-SLA-7, R-SLA-4, R-SLA-1. Read models: sla_tickets, sla_cycles (query sla).",
        _svg("compliance", months, series, stacked=False, y_label="% met", y_max=100),
    )


def hours_chart(report: Report) -> Chart | None:
    if not report.hours:
        return None
    months = sorted({r["month"] for r in report.hours})
    parts = {
        "from allowance": "from_allowance_hours",
        "from packs": "from_packs_hours",
        "overage": "overage_hours",
    }
    series = {
        label: [_sum(report.hours, m, column) for m in months] for label, column in parts.items()
    }
    return Chart(
        "chart-hours",
        "Expert hours per month",
        "Hours consumed, drawn from the month's included hours first, then from packs (oldest "
        "first), then counted as overage; without privileged access the overage is also "
        "unfunded. Rules R-EXP-4, R-EXP-1, R-EXP-2, R-EXP-5. Read models: expertise_months, "
        "expertise_tiers (query expertise).",
        _svg("hours", months, series, stacked=True, y_label="expert hours"),
    )


def tier_mix_chart(report: Report) -> Chart | None:
    if not report.tier_mix:
        return None
    months = [r["month"] for r in report.tier_mix]
    series = {tier: [float(r[tier]) for r in report.tier_mix] for tier in TIERS}
    return Chart(
        "chart-tier-mix",
        "Billed tier per month",
        "Tenants by the tier billed for each month: the tier in force for service at 00:00 "
        "Europe/Paris on the month's first day; a change is billed from the 1st of the month "
        "after it took effect. Rules R-BILL-3, R-BILL-2. Read models: billing_months, "
        "billing_changes (query billing).",
        _svg("tier_mix", months, series, stacked=True, y_label="tenants"),
    )


def _sum(rows: Sequence[dict[str, Any]], month: str, column: str) -> float:
    return float(round(sum(r[column] for r in rows if r["month"] == month), 2))


def charts(report: Report) -> list[Chart]:
    """The page's charts, those with data."""
    drawn = (compliance_chart(report), hours_chart(report), tier_mix_chart(report))
    return [chart for chart in drawn if chart is not None]
