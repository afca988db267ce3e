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
    _add_to_month(c, e.subject, month, 0, 0, 0, 0, 0, d["minutes"])


def hours_consumed(c: Cursor, e: Published) -> None:
    d, tenant = e.data, e.subject  # the tenant (subject of expertise facts)
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


COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "expertise_tiers": (
        "A tenant's tier history: fixes each month's allowance (R-EXP-1, R-EXP-2).",
        {
            "tenant": "the customer",
            "subscription_id": "the Subscription aggregate's id in the event store",
            "seq": "order of the change (the aggregate's version)",
            "effective_at": "in force for service from this instant",
            "tier": "the tier from then on",
        },
    ),
    "expertise_months": (
        "Expert hours per tenant and calendar month (Europe/Paris), in whole minutes (R-EXP-6).",
        {
            "tenant": "the customer",
            "month": "YYYY-MM, a calendar month in Europe/Paris",
            "consumed_minutes": "expert time consumed in the month",
            "from_allowance_minutes": "funded by the month's included hours (R-EXP-4)",
            "from_packs_minutes": "funded by purchased packs, oldest first (R-EXP-4)",
            "overage_minutes": "funded by neither: billed as overage (R-EXP-4)",
            "unfunded_minutes": "overage consumed without privileged access (R-EXP-5)",
            "purchased_minutes": "pack time purchased in the month",
        },
    ),
    "expertise_packs": (
        "One row per purchased expertise pack; packs never expire (R-EXP-3).",
        {
            "tenant": "the customer",
            "pack_id": "upstream pack id",
            "purchased_at": "business time of the purchase",
            "minutes": "time purchased",
            "used_minutes": "time drawn from the pack so far",
        },
    ),
    "expertise_consumptions": (
        "One row per consumption of expert time and how it was funded (R-EXP-4, R-EXP-5).",
        {
            "tenant": "the customer",
            "seq": "order of the fact (the aggregate's version)",
            "at": "business time of the consumption",
            "month": "YYYY-MM (Europe/Paris) it counts in",
            "minutes": "time consumed",
            "tier": "tier in force at that instant",
            "privileged": "privileged access to the expert cell at that instant (R-EXP-2)",
            "allowance_minutes": "the month's allowance at that instant (R-EXP-1)",
            "from_allowance_minutes": "funded by the month's included hours",
            "from_packs": "funded by packs: JSON [[pack_id, minutes], ...], oldest first",
            "overage_minutes": "funded by neither",
            "unfunded_minutes": "overage without privileged access (R-EXP-5)",
            "ticket": "the support ticket it was for, if given",
            "expert": "the expert, if given",
            "activity": "training, architecture, advice or support, if given",
        },
    ),
}

PROJECTION = Projection(
    comments=COMMENTS,
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
