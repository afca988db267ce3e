"""Expert-hour usage (R-EXP-*): per tenant and month, per pack, and per consumption.

Reads ``Subscription.Started``, ``Subscription.Subscribed``, ``Subscription.TierUpgraded``,
``Subscription.TierDowngraded``,
``Subscription.PackPurchased``, ``Subscription.HoursConsumed``. Writes ``expertise_tiers`` (the
tier history that fixes each month's allowance), ``expertise_months``, ``expertise_packs`` and
``expertise_consumptions``. How each consumption is funded was decided by the aggregate and
recorded in ``HoursConsumed``; this module only adds it up. Durations are integer minutes.
"""

from __future__ import annotations

import json
from typing import Any

from projections.base import OWNERS, Cursor, Projection
from ticketflow.domain.calendar import Month
from ticketflow.domain.instants import rfc3339

DDL = (
    """CREATE TABLE IF NOT EXISTS expertise_tiers (
        tenant TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        effective_at TEXT NOT NULL,
        tier TEXT NOT NULL,
        PRIMARY KEY (tenant, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS expertise_tiers_id ON expertise_tiers (subscription_id)",
    """CREATE TABLE IF NOT EXISTS expertise_months (
        tenant TEXT NOT NULL,
        month TEXT NOT NULL,
        consumed_minutes INTEGER NOT NULL DEFAULT 0,
        from_allowance_minutes INTEGER NOT NULL DEFAULT 0,
        from_packs_minutes INTEGER NOT NULL DEFAULT 0,
        overage_minutes INTEGER NOT NULL DEFAULT 0,
        unfunded_minutes INTEGER NOT NULL DEFAULT 0,
        purchased_minutes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant, month)
    )""",
    """CREATE TABLE IF NOT EXISTS expertise_packs (
        tenant TEXT NOT NULL,
        pack_id TEXT NOT NULL,
        purchased_at TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        used_minutes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant, pack_id)
    )""",
    """CREATE TABLE IF NOT EXISTS expertise_consumptions (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at TEXT NOT NULL,
        month TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        tier TEXT NOT NULL,
        privileged INTEGER NOT NULL,
        allowance_minutes INTEGER NOT NULL,
        from_allowance_minutes INTEGER NOT NULL,
        from_packs TEXT NOT NULL,
        overage_minutes INTEGER NOT NULL,
        unfunded_minutes INTEGER NOT NULL,
        ticket TEXT,
        expert TEXT,
        activity TEXT,
        PRIMARY KEY (tenant, seq)
    )""",
)

OWNER_SQL = "SELECT tenant, tenant FROM expertise_tiers WHERE subscription_id = ? LIMIT 1"


def _tenant(c: Cursor, e: Any) -> str:
    return OWNERS.get(c, e.originator_id, OWNER_SQL)[1]


def _tier(c: Cursor, tenant: str, e: Any) -> None:
    c.insert(
        "expertise_tiers",
        {"tenant": tenant, "seq": e.originator_version},
        {"subscription_id": str(e.originator_id), "effective_at": rfc3339(e.at), "tier": e.tier},
    )


def started(c: Cursor, e: Any) -> None:
    OWNERS.learn(e.originator_id, e.tenant, e.tenant)
    _tier(c, e.tenant, e)


def tier_changed(c: Cursor, e: Any) -> None:
    _tier(c, _tenant(c, e), e)


MONTH_COLUMNS = (
    "consumed_minutes",
    "from_allowance_minutes",
    "from_packs_minutes",
    "overage_minutes",
    "unfunded_minutes",
    "purchased_minutes",
)


def _add_to_month(c: Cursor, tenant: str, month: str, *minutes: int) -> None:
    key = {"tenant": tenant, "month": month}
    c.upsert_add("expertise_months", key, dict(zip(MONTH_COLUMNS, minutes, strict=True)))


def pack_purchased(c: Cursor, e: Any) -> None:
    tenant = _tenant(c, e)
    c.insert(
        "expertise_packs",
        {"tenant": tenant, "pack_id": e.pack_id},
        {"purchased_at": rfc3339(e.at), "minutes": e.minutes, "used_minutes": 0},
    )
    _add_to_month(c, tenant, str(Month.of(e.at)), 0, 0, 0, 0, 0, e.minutes)


def hours_consumed(c: Cursor, e: Any) -> None:
    tenant = _tenant(c, e)
    from_packs = sum(minutes for _, minutes in e.from_packs)
    _add_to_month(
        c, tenant, e.month, e.minutes, e.from_allowance, from_packs, e.overage, e.unfunded, 0
    )
    for pack_id, minutes in e.from_packs:
        c.increment(
            "expertise_packs", {"tenant": tenant, "pack_id": pack_id}, {"used_minutes": minutes}
        )
    c.insert(
        "expertise_consumptions",
        {"tenant": tenant, "seq": e.originator_version},
        {
            "at": rfc3339(e.at),
            "month": e.month,
            "minutes": e.minutes,
            "tier": e.tier,
            "privileged": int(e.privileged),
            "allowance_minutes": e.allowance_minutes,
            "from_allowance_minutes": e.from_allowance,
            "from_packs": json.dumps(e.from_packs),
            "overage_minutes": e.overage,
            "unfunded_minutes": e.unfunded,
            "ticket": e.ticket,
            "expert": e.expert,
            "activity": e.activity,
        },
    )


PROJECTION = Projection(
    name="expertise_usage",
    tables=("expertise_tiers", "expertise_months", "expertise_packs", "expertise_consumptions"),
    ddl=DDL,
    handlers={
        "Subscription.Started": started,
        "Subscription.Subscribed": tier_changed,
        "Subscription.TierUpgraded": tier_changed,
        "Subscription.TierDowngraded": tier_changed,
        "Subscription.PackPurchased": pack_purchased,
        "Subscription.HoursConsumed": hours_consumed,
    },
)
