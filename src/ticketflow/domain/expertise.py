"""Expert hours (R-EXP-*) as pure functions; every duration is integer minutes (R-EXP-6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier

TierHistory = list[tuple[datetime, Tier]]  # (service-effective instant, tier), in time order


def hours_to_minutes(hours: Decimal) -> int:
    """Decimal hours to whole minutes, half up (R-EXP-6)."""
    return int((hours * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def minutes_to_hours(minutes: int) -> float:
    """Whole minutes to decimal hours for display (R-EXP-6), to the hundredth."""
    return round(minutes / 60, 2)


def tier_at(history: TierHistory, at: datetime) -> Tier:
    """The tier in force for service at ``at``; STANDARD before any (R-TIER-2)."""
    tier = Tier.STANDARD
    for effective_at, to_tier in history:
        if effective_at <= at:
            tier = to_tier
    return tier


def first_month_as(history: TierHistory, tier: Tier) -> Month | None:
    """The month in which the tenant first had ``tier`` (start of BRONZE's window, R-EXP-2)."""
    for effective_at, to_tier in history:
        if to_tier is tier:
            return Month.of(effective_at)
    return None


def _window_open(history: TierHistory, tier: Tier, month: Month, months: int) -> bool:
    first = first_month_as(history, tier)
    return first is not None and 0 <= month.index() - first.index() < months


def has_privileged_access(
    history: TierHistory, at: datetime, catalog: Catalog = DEFAULT_CATALOG
) -> bool:
    """Privileged access to the expert cell at ``at`` (R-TIER, R-EXP-2, R-EXP-5)."""
    tier = tier_at(history, at)
    terms = catalog.terms(tier, at)
    if terms.privileged_access == "always":
        return True
    if terms.privileged_access == "never":
        return False
    return _window_open(history, tier, Month.of(at), terms.allowance_months or 0)


def tier_allowance(
    history: TierHistory, tier: Tier, month: Month, at: datetime, catalog: Catalog = DEFAULT_CATALOG
) -> int:
    """Included minutes ``tier`` gives in ``month`` (BRONZE only inside its window, R-EXP-2)."""
    terms = catalog.terms(tier, at)
    if terms.allowance_months is not None and not _window_open(
        history, tier, month, terms.allowance_months
    ):
        return 0
    return terms.included_minutes_per_month


def month_allowance(
    history: TierHistory, month: Month, until: datetime, catalog: Catalog = DEFAULT_CATALOG
) -> int:
    """The month's allowance at ``until``: the largest among the tiers in force from the start
    of the month up to ``until`` (R-EXP-1)."""
    until = min(until, month.end() - timedelta(microseconds=1))
    in_force = tiers_in_force(history, month, until)
    return max(tier_allowance(history, t, month, until, catalog) for t in in_force)


def tiers_in_force(history: TierHistory, month: Month, until: datetime) -> list[Tier]:
    """The tiers in force for service from the start of ``month`` up to ``until``, each once,
    in the order they came into force: the tiers whose allowances set the month's (R-EXP-1)."""
    start, until = month.start(), min(until, month.end() - timedelta(microseconds=1))
    in_force = [tier_at(history, start), *(t for at, t in history if start < at <= until)]
    return list(dict.fromkeys(in_force))


@dataclass(frozen=True)
class Allocation:
    """How one consumption is funded (R-EXP-4, R-EXP-5)."""

    minutes: int
    from_allowance: int
    from_packs: tuple[tuple[str, int], ...]  # (pack_id, minutes), oldest pack first
    overage: int
    unfunded: int

    @property
    def from_packs_total(self) -> int:
        return sum(m for _, m in self.from_packs)


def allocate(
    minutes: int,
    *,
    allowance_left: int,
    pack_balances: list[tuple[str, int]],
    privileged: bool,
) -> Allocation:
    """Draw ``minutes`` from the month's allowance, then packs oldest first, then overage.

    Without privileged access the allowance is not drawn and what packs leave uncovered is
    overage that is also unfunded (R-EXP-5).
    """
    if minutes <= 0:
        raise ValueError("consumption must be positive")
    remaining = minutes
    from_allowance = min(remaining, max(allowance_left, 0)) if privileged else 0
    remaining -= from_allowance
    drawn: list[tuple[str, int]] = []
    for pack_id, balance in pack_balances:
        if remaining == 0:
            break
        take = min(remaining, balance)
        if take > 0:
            drawn.append((pack_id, take))
            remaining -= take
    return Allocation(
        minutes=minutes,
        from_allowance=from_allowance,
        from_packs=tuple(drawn),
        overage=remaining,
        unfunded=0 if privileged else remaining,
    )
