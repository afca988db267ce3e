"""Expert hours (R-EXP-*): allowances, privileged access and how consumption is funded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import Catalog, Tier
from ticketflow.domain.expertise import (
    Allocation,
    TierHistory,
    allocate,
    first_month_as,
    has_privileged_access,
    hours_to_minutes,
    minutes_to_hours,
    month_allowance,
    tier_allowance,
    tier_at,
)


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


def history(*changes: tuple[str, Tier]) -> TierHistory:
    return [(utc(at), tier) for at, tier in changes]


def allowance(hist: TierHistory, month: str, until: str) -> int:
    return month_allowance(hist, Month.parse(month), utc(until))


# 2026-04-15T10:00+02:00 = 08:00Z
MID_APRIL = "2026-04-15T10:00:00+02:00"


class TestTierAt:
    def test_standard_before_any_change(self) -> None:
        hist = history(("2026-01-05T09:00:00+01:00", Tier.SILVER))
        assert tier_at([], utc("2026-01-01T00:00:00+00:00")) is Tier.STANDARD
        assert tier_at(hist, utc("2026-01-05T07:59:59+00:00")) is Tier.STANDARD

    def test_change_applies_from_its_instant(self) -> None:
        hist = history(("2026-01-05T09:00:00+01:00", Tier.SILVER), (MID_APRIL, Tier.GOLD))
        assert tier_at(hist, utc("2026-01-05T08:00:00+00:00")) is Tier.SILVER
        assert tier_at(hist, utc("2026-04-15T07:59:59+00:00")) is Tier.SILVER
        assert tier_at(hist, utc(MID_APRIL)) is Tier.GOLD


class TestRExp1AllowanceWithinAMonth:
    def test_upgrade_raises_the_allowance_from_the_upgrade_on(self) -> None:
        hist = history(("2026-01-05T09:00:00+01:00", Tier.SILVER), (MID_APRIL, Tier.GOLD))
        # SILVER 2 h = 120 min until 08:00Z; GOLD 4 h = 240 min from 08:00Z.
        assert allowance(hist, "2026-04", "2026-04-10T12:00:00+00:00") == 120
        assert allowance(hist, "2026-04", "2026-04-15T07:59:59+00:00") == 120
        assert allowance(hist, "2026-04", "2026-04-15T08:00:00+00:00") == 240
        assert allowance(hist, "2026-04", "2026-04-30T21:59:59+00:00") == 240
        assert allowance(hist, "2026-05", "2026-05-02T00:00:00+00:00") == 240

    def test_downgrade_lowers_it_from_the_next_month(self) -> None:
        hist = history(("2026-01-05T09:00:00+01:00", Tier.GOLD), (MID_APRIL, Tier.SILVER))
        # GOLD was in force on 1 April: 240 for all of April, SILVER's 120 from May.
        assert allowance(hist, "2026-04", "2026-04-15T09:00:00+00:00") == 240
        assert allowance(hist, "2026-04", "2026-04-30T21:59:59+00:00") == 240
        # 2026-05-01T00:00+02:00 = 2026-04-30T22:00Z: already May.
        assert allowance(hist, "2026-05", "2026-04-30T22:00:00+00:00") == 120
        assert allowance(hist, "2026-05", "2026-05-20T00:00:00+00:00") == 120

    def test_upgrade_then_downgrade_in_the_same_month_keeps_the_largest(self) -> None:
        hist = history(
            ("2026-01-05T09:00:00+01:00", Tier.SILVER),
            ("2026-04-10T10:00:00+02:00", Tier.GOLD),
            ("2026-04-20T10:00:00+02:00", Tier.SILVER),
        )
        assert allowance(hist, "2026-04", "2026-04-25T00:00:00+00:00") == 240
        assert allowance(hist, "2026-05", "2026-05-05T00:00:00+00:00") == 120

    def test_standard_has_none(self) -> None:
        assert allowance([], "2026-04", "2026-04-20T00:00:00+00:00") == 0

    def test_until_after_the_month_is_the_month_end_allowance(self) -> None:
        hist = history(("2026-01-05T09:00:00+01:00", Tier.SILVER), (MID_APRIL, Tier.GOLD))
        assert allowance(hist, "2026-04", "2026-06-15T00:00:00+00:00") == 240
        assert allowance(hist, "2026-03", "2026-06-15T00:00:00+00:00") == 120

    def test_change_at_the_next_months_first_instant_is_not_this_months(self) -> None:
        # GOLD from 2026-05-01T00:00+02:00, a May instant: April stays SILVER (120 min).
        hist = history(
            ("2026-03-10T10:00:00+01:00", Tier.SILVER), ("2026-05-01T00:00:00+02:00", Tier.GOLD)
        )
        assert allowance(hist, "2026-04", "2026-06-15T00:00:00+00:00") == 120
        april = Month(2026, 4)
        assert month_allowance(hist, april, april.end()) == 120


class TestRExp2BronzeWindow:
    def test_first_bronze_month_and_the_two_that_follow(self) -> None:
        # BRONZE from 2026-01-20: January, February, March have 120 min; April has none.
        hist = history(("2026-01-20T10:00:00+01:00", Tier.BRONZE))
        assert first_month_as(hist, Tier.BRONZE) == Month(2026, 1)
        assert allowance(hist, "2026-01", "2026-01-10T00:00:00+00:00") == 0  # before BRONZE
        assert allowance(hist, "2026-01", "2026-01-25T00:00:00+00:00") == 120
        assert allowance(hist, "2026-02", "2026-02-15T00:00:00+00:00") == 120
        assert allowance(hist, "2026-03", "2026-03-15T00:00:00+00:00") == 120
        assert allowance(hist, "2026-04", "2026-04-15T00:00:00+00:00") == 0

    def test_privileged_access_follows_the_window(self) -> None:
        hist = history(("2026-01-20T10:00:00+01:00", Tier.BRONZE))
        assert not has_privileged_access(hist, utc("2026-01-20T08:59:59+00:00"))  # STANDARD
        assert has_privileged_access(hist, utc("2026-01-20T09:00:00+00:00"))
        # Last instant of March in Paris: 2026-03-31T23:59:59+02:00 = 21:59:59Z.
        assert has_privileged_access(hist, utc("2026-03-31T21:59:59+00:00"))
        assert not has_privileged_access(hist, utc("2026-03-31T22:00:00+00:00"))

    def test_window_months_are_paris_months(self) -> None:
        # BRONZE at 2026-04-30T22:30Z = 1 May 00:30 Paris: window May, June, July.
        hist = history(("2026-04-30T22:30:00+00:00", Tier.BRONZE))
        assert first_month_as(hist, Tier.BRONZE) == Month(2026, 5)
        assert allowance(hist, "2026-07", "2026-07-15T00:00:00+00:00") == 120
        assert allowance(hist, "2026-08", "2026-08-15T00:00:00+00:00") == 0
        assert has_privileged_access(hist, utc("2026-07-31T21:59:59+00:00"))
        assert not has_privileged_access(hist, utc("2026-07-31T22:00:00+00:00"))

    def test_window_never_restarts(self) -> None:
        # BRONZE (Jan) → SILVER (Feb) → BRONZE again in June: no new window.
        hist = history(
            ("2026-01-20T10:00:00+01:00", Tier.BRONZE),
            ("2026-02-10T10:00:00+01:00", Tier.SILVER),
            ("2026-06-05T10:00:00+02:00", Tier.BRONZE),
        )
        # June: SILVER on 1 June (120), BRONZE from the 5th (outside its window: 0) → 120.
        assert allowance(hist, "2026-06", "2026-06-20T00:00:00+00:00") == 120
        assert allowance(hist, "2026-07", "2026-07-20T00:00:00+00:00") == 0
        assert (
            tier_allowance(hist, Tier.BRONZE, Month(2026, 7), utc("2026-07-20T00:00:00+00:00")) == 0
        )
        assert not has_privileged_access(hist, utc("2026-06-20T00:00:00+00:00"))

    def test_back_to_bronze_inside_the_original_window(self) -> None:
        # BRONZE (Jan) → SILVER (Feb) → BRONZE (5 March): March is still in the Jan–Mar window.
        hist = history(
            ("2026-01-20T10:00:00+01:00", Tier.BRONZE),
            ("2026-02-10T10:00:00+01:00", Tier.SILVER),
            ("2026-03-05T10:00:00+01:00", Tier.BRONZE),
        )
        assert has_privileged_access(hist, utc("2026-03-20T00:00:00+00:00"))
        assert not has_privileged_access(hist, utc("2026-04-02T00:00:00+00:00"))
        assert allowance(hist, "2026-04", "2026-04-20T00:00:00+00:00") == 0

    @pytest.mark.parametrize(
        ("tier", "privileged"),
        [(Tier.STANDARD, False), (Tier.SILVER, True), (Tier.GOLD, True)],
    )
    def test_other_tiers_access(self, tier: Tier, privileged: bool) -> None:
        hist = history(("2020-01-01T00:00:00+01:00", tier))
        # Years later, access does not expire for SILVER and GOLD.
        assert has_privileged_access(hist, utc("2026-06-01T12:00:00+00:00")) is privileged


class TestRExp4FundingOrder:
    def test_allowance_first(self) -> None:
        result = allocate(90, allowance_left=120, pack_balances=[("p1", 600)], privileged=True)
        assert result == Allocation(90, 90, (), 0, 0)

    def test_then_packs_oldest_first(self) -> None:
        # 150 = 120 allowance + 20 (old pack, emptied) + 10 (new pack).
        result = allocate(
            150, allowance_left=120, pack_balances=[("old", 20), ("new", 600)], privileged=True
        )
        assert result == Allocation(150, 120, (("old", 20), ("new", 10)), 0, 0)
        assert result.from_packs_total == 30

    def test_then_overage(self) -> None:
        # 200 = 30 allowance + 50 + 40 packs + 80 overage; privileged, so nothing unfunded.
        result = allocate(
            200, allowance_left=30, pack_balances=[("old", 50), ("new", 40)], privileged=True
        )
        assert result == Allocation(200, 30, (("old", 50), ("new", 40)), 80, 0)

    def test_empty_packs_and_spent_allowance_are_skipped(self) -> None:
        result = allocate(
            45, allowance_left=-10, pack_balances=[("empty", 0), ("p", 60)], privileged=True
        )
        assert result == Allocation(45, 0, (("p", 45),), 0, 0)

    @pytest.mark.parametrize("minutes", [0, -5])
    def test_consumption_is_positive(self, minutes: int) -> None:
        with pytest.raises(ValueError, match="positive"):
            allocate(minutes, allowance_left=120, pack_balances=[], privileged=True)


class TestRExp5Unprivileged:
    def test_packs_only_and_the_rest_unfunded(self) -> None:
        # 100 min: the 120-min allowance is not touched; 60 from the pack, 40 overage unfunded.
        result = allocate(100, allowance_left=120, pack_balances=[("p", 60)], privileged=False)
        assert result == Allocation(100, 0, (("p", 60),), 40, 40)

    def test_without_packs_everything_is_unfunded(self) -> None:
        result = allocate(45, allowance_left=0, pack_balances=[], privileged=False)
        assert result == Allocation(45, 0, (), 45, 45)

    def test_covered_by_packs(self) -> None:
        result = allocate(30, allowance_left=0, pack_balances=[("p", 60)], privileged=False)
        assert result == Allocation(30, 0, (("p", 30),), 0, 0)


class TestRExp6Minutes:
    @pytest.mark.parametrize(
        ("hours", "minutes"),
        [
            ("1.5", 90),
            ("2", 120),
            ("0.25", 15),
            ("0.0083", 0),  # 0.498 min
            ("0.0084", 1),  # 0.504 min
            ("0.025", 2),  # 1.5 min, half up
            ("0.075", 5),  # 4.5 min, half up (not to even)
            ("0", 0),
        ],
    )
    def test_hours_to_minutes(self, hours: str, minutes: int) -> None:
        assert hours_to_minutes(Decimal(hours)) == minutes

    @pytest.mark.parametrize(("minutes", "hours"), [(90, 1.5), (100, 1.67), (0, 0.0), (1, 0.02)])
    def test_minutes_to_hours(self, minutes: int, hours: float) -> None:
        assert minutes_to_hours(minutes) == hours


pack_lists = st.lists(st.integers(min_value=-10, max_value=5000), max_size=5).map(
    lambda balances: [(f"pack-{i}", b) for i, b in enumerate(balances)]
)


class TestAllocationProperties:
    @given(
        minutes=st.integers(min_value=1, max_value=20_000),
        allowance_left=st.integers(min_value=-100, max_value=10_000),
        packs=pack_lists,
        privileged=st.booleans(),
    )
    def test_funding_invariants(
        self, minutes: int, allowance_left: int, packs: list[tuple[str, int]], privileged: bool
    ) -> None:
        result = allocate(
            minutes, allowance_left=allowance_left, pack_balances=packs, privileged=privileged
        )
        assert result.minutes == minutes
        assert result.from_allowance + result.from_packs_total + result.overage == minutes
        assert 0 <= result.from_allowance <= max(allowance_left, 0)
        assert 0 <= result.unfunded <= result.overage
        balances = dict(packs)
        drawn_ids = [pack_id for pack_id, _ in result.from_packs]
        assert drawn_ids == [p for p, _ in packs if p in drawn_ids]  # oldest first
        for pack_id, minutes_taken in result.from_packs:
            assert 0 < minutes_taken <= balances[pack_id]
        # A pack is drawn only once every older pack with a balance is empty.
        taken = dict(result.from_packs)
        for index, (pack_id, _) in enumerate(packs):
            if pack_id in taken:
                for older_id, older_balance in packs[:index]:
                    if older_balance > 0:
                        assert taken.get(older_id) == older_balance
        if privileged:
            assert result.unfunded == 0
        else:
            assert result.from_allowance == 0
            assert result.unfunded == result.overage
        if result.overage > 0:
            assert dict(result.from_packs) == {p: b for p, b in packs if b > 0}
            if privileged:
                assert result.from_allowance == max(allowance_left, 0)


def _history_strategy() -> st.SearchStrategy[TierHistory]:
    instants = st.datetimes(
        min_value=datetime(2025, 6, 1), max_value=datetime(2027, 6, 1), timezones=st.just(UTC)
    )
    return st.lists(st.tuples(instants, st.sampled_from(list(Tier))), max_size=6).map(
        lambda changes: sorted(changes, key=lambda change: change[0])
    )


class TestAllowanceProperties:
    @given(
        hist=_history_strategy(),
        month=st.builds(Month, st.just(2026), st.integers(1, 12)),
        first=st.floats(min_value=0, max_value=1),
        second=st.floats(min_value=0, max_value=1),
    )
    def test_never_decreases_within_a_month(
        self, hist: TierHistory, month: Month, first: float, second: float
    ) -> None:
        length = month.end() - month.start() - timedelta(microseconds=1)
        early, late = sorted((first, second))
        at_early = month.start() + length * early
        at_late = month.start() + length * late
        low = month_allowance(hist, month, at_early)
        high = month_allowance(hist, month, at_late)
        assert low <= high
        assert high in (0, 120, 240)
        # At least what the tier in force at that instant gives.
        current = tier_at(hist, at_late)
        assert high >= tier_allowance(hist, current, month, at_late)


def test_catalog_is_a_parameter() -> None:
    # A catalog where GOLD includes 5 h: the functions read the terms, not the tier's name.
    terms = {
        "STANDARD": (None, 0, "never", None),
        "BRONZE": (8, 2, "window", 3),
        "SILVER": (8, 2, "always", None),
        "GOLD": (4, 5, "always", None),
    }
    catalog = Catalog.from_dict(
        {
            "editions": [
                {
                    "id": "test",
                    "effective_from": "2020-01-01T00:00:00+01:00",
                    "tiers": {
                        name: {
                            "gtr_hours": gtr,
                            "included_hours_per_month": inc,
                            "privileged_access": access,
                            "allowance_months": months,
                        }
                        for name, (gtr, inc, access, months) in terms.items()
                    },
                }
            ]
        }
    )
    hist = history(("2026-01-05T09:00:00+01:00", Tier.GOLD))
    assert month_allowance(hist, Month(2026, 3), utc("2026-03-10T00:00:00+00:00"), catalog) == 300
