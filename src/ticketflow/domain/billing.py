"""Tier changes and billing dates (R-BILL-*) as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from ticketflow.domain.calendar import Month, months_between
from ticketflow.domain.catalog import Tier

ChangeKind = Literal["default", "started", "upgrade", "downgrade"]
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)


@dataclass(frozen=True)
class ChangeRules:
    """The rules that date a change of tier (R-BILL-5)."""

    service: str  # the rule of its service-effective instant
    billing: str  # the rule of its billing-effective instant


_CHANGE_RULES: dict[ChangeKind, ChangeRules] = {
    "default": ChangeRules("R-TIER-2", "R-BILL-3"),  # first seen without a subscription
    "started": ChangeRules("R-BILL-3", "R-BILL-3"),
    "upgrade": ChangeRules("R-BILL-1", "R-BILL-2"),
    "downgrade": ChangeRules("R-BILL-4", "R-BILL-2"),
}


def change_rules(kind: ChangeKind) -> ChangeRules:
    """The rules behind a change's dates (R-BILL-5): in force for service at once by R-BILL-1
    (upgrade), R-BILL-4 (downgrade), R-BILL-3 (start) or R-TIER-2 (the implicit STANDARD);
    billed from the next Paris month by R-BILL-2, or by R-BILL-3 for a start."""
    return _CHANGE_RULES[kind]


def billing_effective_at(service_effective_at: datetime) -> datetime:
    """00:00 Europe/Paris on the 1st of the month after the change's Paris month (R-BILL-2)."""
    return Month.of(service_effective_at).next().start()


@dataclass(frozen=True)
class TierChange:
    """One change of tier, as recorded by the Subscription aggregate."""

    kind: str  # a ChangeKind
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
