"""The analyst's report, and what the demo prints first.

:mod:`ticketflow.entrypoints.report.page` renders a :class:`ticketflow.service.report.Report` as
one self-contained HTML page (Jinja2 templates with autoescape, charts rendered to inline SVG by
matplotlib, its small script and stylesheet inlined): served by ``GET /v1/report``, written by
``ticketflow report`` and by the demo. :func:`collect` reads the figures the demo prints as text
tables into a :class:`Summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import Tier
from ticketflow.domain.expertise import tiers_in_force
from ticketflow.domain.instants import parse_rfc3339, rfc3339
from ticketflow.entrypoints.report.page import page_of, render_page, write_page
from ticketflow.service import queries
from ticketflow.service import report as figures


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
    overage: list[dict[str, Any]]
    report: Path | None = None
    notes: list[str] = field(default_factory=list)
    weather: dict[str, Any] = field(default_factory=dict)  # ``service.weather.weather``
    alerts: list[dict[str, Any]] | None = None  # ``service.alerter.recent``, latest first


# -- figures from the read models ------------------------------------------------------------


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
        answer = queries.expertise(store, tenant=tenant, month=Month.parse(month))
        keep = ("included_hours", "consumed_hours", "from_packs_hours", "overage_hours")
        out.append(
            {"month": month, "tenant": tenant, "tiers": _tiers_in(store, tenant, month)}
            | {k: answer[k] for k in keep}
            | {"unfunded_hours": answer["unfunded_hours"]}
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
    latest = months[-1]
    return {
        "as_of": rfc3339(as_of),
        "p1": figures.compliance(sla_rows),
        "statuses": figures.statuses(sla_rows),
        "changes": [ch for ch in tier_changes(store) if ch["month"] == latest],
        "overage": over_hours(store),
    }


# -- columns of the demo's text tables -------------------------------------------------------

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


__all__ = [
    "CHANGE_COLUMNS",
    "OVER_COLUMNS",
    "P1_COLUMNS",
    "STATUS_COLUMNS",
    "Summary",
    "collect",
    "over_hours",
    "page_of",
    "render_page",
    "tier_changes",
    "write_page",
]
