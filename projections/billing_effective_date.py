"""Billing effective dates (R-BILL-*): every tier change and the billed tier of every month.

Reads the published ``ticketflow.subscription.started.v1``, ``….subscribed.v1``,
``….tier_upgraded.v1`` and ``….tier_downgraded.v1`` records.
Writes ``billing_subscriptions``, ``billing_changes`` (one row per change, each date with the
rule that produced it, R-BILL-5, copied from the event: the aggregate records it when it
decides) and ``billing_months`` (R-BILL-3), recomputed for the tenant from its changes with
``ticketflow.domain.billing.billed_months``.
"""

from __future__ import annotations

from typing import Any

from projections.base import Cursor, Projection, instant
from ticketflow.contract_events import Published
from ticketflow.domain.billing import TierChange, billed_months
from ticketflow.domain.catalog import Tier

DDL = (
    """CREATE TABLE IF NOT EXISTS billing_subscriptions (
        tenant TEXT PRIMARY KEY,
        subscription_id TEXT NOT NULL UNIQUE,
        started_at {instant} NOT NULL,
        implicit {flag} NOT NULL,
        current_tier TEXT NOT NULL,
        changes INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS billing_changes (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        from_tier TEXT NOT NULL,
        to_tier TEXT NOT NULL,
        service_effective_at {instant} NOT NULL,
        service_rule TEXT NOT NULL,
        billing_effective_at {instant} NOT NULL,
        rule TEXT NOT NULL,
        support_ticket TEXT,
        PRIMARY KEY (tenant, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS billing_months (
        tenant TEXT NOT NULL,
        month TEXT NOT NULL,
        billed_tier TEXT NOT NULL,
        rule TEXT NOT NULL,
        PRIMARY KEY (tenant, month)
    )""",
    "CREATE INDEX IF NOT EXISTS billing_months_month ON billing_months (month)",
    """CREATE INDEX IF NOT EXISTS billing_changes_billing_effective_at
        ON billing_changes (billing_effective_at)""",
)


def _record(c: Cursor, e: Published, kind: str, from_tier: str) -> None:
    d = e.data
    c.insert(
        "billing_changes",
        {"tenant": e.tenant, "seq": e.version},
        {
            "kind": kind,
            "from_tier": from_tier,
            "to_tier": d["tier"],
            "service_effective_at": e.time,
            "service_rule": d["service_rule"],
            "billing_effective_at": d["billing_effective_at"],
            "rule": d["billing_rule"],
            "support_ticket": d.get("support_ticket"),
        },
    )
    c.defer(_recompute, e.tenant)


def _recompute(c: Cursor, tenants: list[str]) -> None:
    """The current tier and billed months of tenants whose changes moved, from all their
    changes (R-BILL-3), once per batch rather than once per change."""
    for start in range(0, len(tenants), 500):
        _recompute_some(c, tenants[start : start + 500])


def _recompute_some(c: Cursor, tenants: list[str]) -> None:
    marks = ", ".join("?" * len(tenants))
    c.execute(
        f"""SELECT tenant, kind, from_tier, to_tier, service_effective_at, billing_effective_at
        FROM billing_changes WHERE tenant IN ({marks}) ORDER BY tenant, seq""",
        tenants,
    )
    changes: dict[str, list[TierChange]] = {}
    for tenant, k, f, t, s, b in c.fetchall():
        changes.setdefault(tenant, []).append(
            TierChange(k, Tier(f), Tier(t), instant(s), instant(b))
        )
    c.execute(f"DELETE FROM billing_months WHERE tenant IN ({marks})", tenants)
    for tenant, history in changes.items():
        current = max(history, key=lambda ch: ch.service_effective_at).to_tier
        c.update(
            "billing_subscriptions",
            {"tenant": tenant},
            {"current_tier": current.value, "changes": len(history)},
        )
        for month, tier in billed_months(history):
            c.insert(
                "billing_months",
                {"tenant": tenant, "month": str(month)},
                {"billed_tier": tier.value, "rule": "R-BILL-3"},
            )


def started(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "billing_subscriptions",
        {"tenant": e.tenant},
        {
            "subscription_id": e.id.rsplit(":", 1)[0],
            "started_at": e.time,
            "implicit": d["implicit"],
            "current_tier": d["tier"],
            "changes": 0,
        },
    )
    _record(c, e, "default" if d["implicit"] else "started", "STANDARD")


def _change(kind: str) -> Any:
    def handle(c: Cursor, e: Published) -> None:
        _record(c, e, kind, e.data["from_tier"])

    return handle


COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "billing_subscriptions": (
        "One row per tenant with a subscription, explicit or implicit (R-TIER-2).",
        {
            "tenant": "the customer",
            "subscription_id": "the Subscription aggregate's id in the event store",
            "started_at": "when the subscription started (or was first seen)",
            "implicit": "first seen without subscription.started: STANDARD (R-TIER-2)",
            "current_tier": "tier in force for service now",
            "changes": "number of tier changes recorded",
        },
    ),
    "billing_changes": (
        "One row per tier change, in order, with the rule behind each date (R-BILL-5).",
        {
            "tenant": "the customer",
            "seq": "order of the change (the aggregate's version)",
            "kind": "default, started, upgrade or downgrade",
            "from_tier": "tier before the change",
            "to_tier": "tier after the change",
            "service_effective_at": "in force for service from this instant",
            "service_rule": "rule of the service date (R-BILL-1, R-BILL-3, R-BILL-4, R-TIER-2)",
            "billing_effective_at": "billed from 00:00 Europe/Paris on this day (R-BILL-2)",
            "rule": "rule of the billing date (R-BILL-2, or R-BILL-3 for a start)",
            "support_ticket": "the support ticket behind a downgrade (R-BILL-4)",
        },
    ),
    "billing_months": (
        "The tier billed for each month of each tenant (R-BILL-3).",
        {
            "tenant": "the customer",
            "month": "YYYY-MM, a calendar month in Europe/Paris",
            "billed_tier": "tier in force at 00:00 Europe/Paris on the month's first day",
            "rule": "the rule that set it (R-BILL-3)",
        },
    ),
}

PROJECTION = Projection(
    comments=COMMENTS,
    name="billing_effective_date",
    tables=("billing_subscriptions", "billing_changes", "billing_months"),
    ddl=DDL,
    handlers={
        "ticketflow.subscription.started.v1": started,
        "ticketflow.subscription.subscribed.v1": _change("started"),
        "ticketflow.subscription.tier_upgraded.v1": _change("upgrade"),
        "ticketflow.subscription.tier_downgraded.v1": _change("downgrade"),
    },
)
