"""Synthetic inbound events for the benchmark and the tests: many valid CloudEvents lines,
fast to make, the same for the same seed."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

TIERS = ("STANDARD", "BRONZE", "SILVER", "GOLD")


def generate(n: int, seed: int = 1) -> Iterator[str]:
    """``n`` valid CloudEvents lines: subscriptions, ticket lives, expert hours."""
    rng = random.Random(seed)
    tenants = max(10, n // 200)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    produced, ticket = 0, 0

    def line(type_: str, subject: str, tenant: str, at: datetime, data: dict[str, Any]) -> str:
        nonlocal produced
        produced += 1
        return json.dumps(
            {
                "specversion": "1.0",
                "id": str(produced),
                "source": "bench",
                "type": type_,
                "subject": subject,
                "time": at.isoformat(),
                "tenant": tenant,
                "data": data,
            }
        )

    for i in range(tenants):
        if produced >= n:
            return
        yield line("subscription.started", f"t{i}", f"t{i}", t0, {"tier": TIERS[i % 4]})
    clock = t0
    while produced < n:
        clock += timedelta(seconds=30)
        tenant = f"t{rng.randrange(tenants)}"
        if rng.random() < 0.15:
            yield line("expertise.hours_consumed", tenant, tenant, clock, {"hours": 0.5})
            continue
        ticket += 1
        name = f"T{ticket}"
        yield line(
            "ticket.opened",
            name,
            tenant,
            clock,
            {
                "priority": rng.choice(("P1", "P2", "P3")),
                "channel": "portal",
                "language": "fr",
                "category": "compute",
            },
        )
        for k, kind in enumerate(("acknowledged", "service_restored", "resolved", "closed")):
            if produced >= n:
                return
            at = clock + timedelta(hours=k + rng.random() * 6)
            yield line(f"ticket.{kind}", name, tenant, at, {})
