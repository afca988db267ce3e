"""Expert-hour usage (R-EXP-*): per tenant and month, per pack, and per consumption.

Reads the published ``ticketflow.subscription.started.v1``, ``….subscribed.v1``,
``….tier_upgraded.v1``, ``….tier_downgraded.v1``, ``ticketflow.expertise.pack_purchased.v1`` and
``….hours_consumed.v1`` records. Writes ``expertise_tiers`` (the
tier history that fixes each month's allowance), ``expertise_months``, ``expertise_packs`` and
``expertise_consumptions``. How each consumption is funded was decided by the aggregate and
recorded in ``HoursConsumed``; this module only adds it up. Durations are integer minutes.
"""

from __future__ import annotations

import json

from projections.base import Cursor, Projection
from ticketflow.contract_events import Published
from ticketflow.domain.calendar import Month
from ticketflow.domain.instants import parse_rfc3339

DDL = (
    """CREATE TABLE IF NOT EXISTS expertise_tiers (
        tenant TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        effective_at {instant} NOT NULL,
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
        purchased_at {instant} NOT NULL,
        minutes INTEGER NOT NULL,
        used_minutes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant, pack_id)
    )""",
    """CREATE TABLE IF NOT EXISTS expertise_consumptions (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at {instant} NOT NULL,
        month TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        tier TEXT NOT NULL,
        privileged {flag} NOT NULL,
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
    "CREATE INDEX IF NOT EXISTS expertise_months_month ON expertise_months (month)",
    "CREATE INDEX IF NOT EXISTS expertise_consumptions_month ON expertise_consumptions (month)",
)


def _tier(c: Cursor, e: Published) -> None:
    c.insert(
        "expertise_tiers",
        {"tenant": e.tenant, "seq": e.version},
        {"subscription_id": e.id.rsplit(":", 1)[0], "effective_at": e.time, "tier": e.data["tier"]},
    )


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


def pack_purchased(c: Cursor, e: Published) -> None:
    d = e.data
    c.insert(
        "expertise_packs",
        {"tenant": e.tenant, "pack_id": d["pack_id"]},
        {"purchased_at": e.time, "minutes": d["minutes"], "used_minutes": 0},
    )
    month = str(Month.of(parse_rfc3339(e.time)))
    _add_to_month(c, e.tenant, month, 0, 0, 0, 0, 0, d["minutes"])


def hours_consumed(c: Cursor, e: Published) -> None:
    d, tenant = e.data, e.tenant
    from_packs = sum(minutes for _, minutes in d["from_packs"])
    _add_to_month(
        c,
        tenant,
        d["month"],
        d["minutes"],
        d["from_allowance"],
        from_packs,
        d["overage"],
        d["unfunded"],
        0,
    )
    for pack_id, minutes in d["from_packs"]:
        c.increment(
            "expertise_packs", {"tenant": tenant, "pack_id": pack_id}, {"used_minutes": minutes}
        )
    c.insert(
        "expertise_consumptions",
        {"tenant": tenant, "seq": e.version},
        {
            "at": e.time,
            "month": d["month"],
            "minutes": d["minutes"],
            "tier": d["tier"],
            "privileged": d["privileged"],
            "allowance_minutes": d["allowance_minutes"],
            "from_allowance_minutes": d["from_allowance"],
            "from_packs": json.dumps(d["from_packs"]),
            "overage_minutes": d["overage"],
            "unfunded_minutes": d["unfunded"],
            "ticket": d["ticket"],
            "expert": d["expert"],
            "activity": d["activity"],
        },
    )


PROJECTION = Projection(
    name="expertise_usage",
    tables=("expertise_tiers", "expertise_months", "expertise_packs", "expertise_consumptions"),
    ddl=DDL,
    handlers={
        "ticketflow.subscription.started.v1": _tier,
        "ticketflow.subscription.subscribed.v1": _tier,
        "ticketflow.subscription.tier_upgraded.v1": _tier,
        "ticketflow.subscription.tier_downgraded.v1": _tier,
        "ticketflow.expertise.pack_purchased.v1": pack_purchased,
        "ticketflow.expertise.hours_consumed.v1": hours_consumed,
    },
)
