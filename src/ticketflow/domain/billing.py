"""Tier changes and billing dates (R-BILL-*) as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticketflow.domain.calendar import Month, months_between
from ticketflow.domain.catalog import Tier


def billing_effective_at(service_effective_at: datetime) -> datetime:
    """00:00 Europe/Paris on the 1st of the month after the change's Paris month (R-BILL-2)."""
    return Month.of(service_effective_at).next().start()


@dataclass(frozen=True)
class TierChange:
    """One change of tier, as recorded by the Subscription aggregate."""

    kind: str  # started | upgrade | downgrade
    from_tier: Tier
    to_tier: Tier
    service_effective_at: datetime
    billing_effective_at: datetime


def billed_tier(changes: list[TierChange], month: Month) -> Tier:
    """The tier billed for ``month`` (R-BILL-3).

    It is the tier in force at the start of the month once every change billed from that
    start or earlier is applied; changes are billed together at the last tier (R-BILL-2).
    A change at exactly 00:00 on the 1st belongs to that month and is billed from the next.
    """
    tier = Tier.STANDARD
    for change in sorted(changes, key=lambda c: c.service_effective_at):
        if change.billing_effective_at <= month.start():
            tier = change.to_tier
    return tier


def billed_months(changes: list[TierChange]) -> list[tuple[Month, Tier]]:
    """Billed tier per month, from the first change's month to the month after the latest."""
    if not changes:
        return []
    first = min(Month.of(c.service_effective_at) for c in changes)
    last = max(Month.of(c.service_effective_at) for c in changes).next()
    return [(m, billed_tier(changes, m)) for m in months_between(first, last)]
