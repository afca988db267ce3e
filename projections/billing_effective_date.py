"""Billing effective dates (R-BILL-*): every tier change and the billed tier of every month.

Reads ``Subscription.Started``, ``Subscription.Subscribed``, ``Subscription.TierUpgraded``,
``Subscription.TierDowngraded``.
Writes ``billing_subscriptions``, ``billing_changes`` (one row per change, each date with the
rule that produced it, R-BILL-5, copied from the event: the aggregate records it when it
decides) and ``billing_months`` (R-BILL-3), recomputed for the tenant from its changes with
``ticketflow.domain.billing.billed_months``.
"""

from __future__ import annotations

from typing import Any

from projections.base import OWNERS, Cursor, Projection
from ticketflow.domain.billing import TierChange, billed_months
from ticketflow.domain.catalog import Tier
from ticketflow.domain.instants import parse_rfc3339, rfc3339

DDL = (
    """CREATE TABLE IF NOT EXISTS billing_subscriptions (
        tenant TEXT PRIMARY KEY,
        subscription_id TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        implicit INTEGER NOT NULL,
        current_tier TEXT NOT NULL,
        changes INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS billing_changes (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        from_tier TEXT NOT NULL,
        to_tier TEXT NOT NULL,
        service_effective_at TEXT NOT NULL,
        service_rule TEXT NOT NULL,
        billing_effective_at TEXT NOT NULL,
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
)

OWNER_SQL = "SELECT tenant, tenant FROM billing_subscriptions WHERE subscription_id = ?"


def _tenant(c: Cursor, e: Any) -> str:
    return OWNERS.get(c, e.originator_id, OWNER_SQL)[1]


def _record(c: Cursor, tenant: str, e: Any, kind: str, from_tier: str) -> None:
    c.insert(
        "billing_changes",
        {"tenant": tenant, "seq": e.originator_version},
        {
            "kind": kind,
            "from_tier": from_tier,
            "to_tier": e.tier,
            "service_effective_at": rfc3339(e.at),
            "service_rule": e.service_rule,
            "billing_effective_at": rfc3339(e.billing_effective_at),
            "rule": e.billing_rule,
            "support_ticket": getattr(e, "support_ticket", None),
        },
    )
    c.defer(_recompute, tenant)


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
            TierChange(k, Tier(f), Tier(t), parse_rfc3339(s), parse_rfc3339(b))
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


def started(c: Cursor, e: Any) -> None:
    OWNERS.learn(e.originator_id, e.tenant, e.tenant)
    c.insert(
        "billing_subscriptions",
        {"tenant": e.tenant},
        {
            "subscription_id": str(e.originator_id),
            "started_at": rfc3339(e.at),
            "implicit": int(e.implicit),
            "current_tier": e.tier,
            "changes": 0,
        },
    )
    _record(c, e.tenant, e, "default" if e.implicit else "started", "STANDARD")


def subscribed(c: Cursor, e: Any) -> None:
    _record(c, _tenant(c, e), e, "started", e.from_tier)


def upgraded(c: Cursor, e: Any) -> None:
    _record(c, _tenant(c, e), e, "upgrade", e.from_tier)


def downgraded(c: Cursor, e: Any) -> None:
    _record(c, _tenant(c, e), e, "downgrade", e.from_tier)


PROJECTION = Projection(
    name="billing_effective_date",
    tables=("billing_subscriptions", "billing_changes", "billing_months"),
    ddl=DDL,
    handlers={
        "Subscription.Started": started,
        "Subscription.Subscribed": subscribed,
        "Subscription.TierUpgraded": upgraded,
        "Subscription.TierDowngraded": downgraded,
    },
)
