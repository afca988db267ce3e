"""Billing dates and billed tiers (R-BILL-2, R-BILL-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketflow.domain.billing import TierChange, billed_months, billed_tier, billing_effective_at
from ticketflow.domain.calendar import PARIS, Month, months_between
from ticketflow.domain.catalog import Tier


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


def change(kind: str, from_tier: Tier, to_tier: Tier, at: str) -> TierChange:
    service = utc(at)
    return TierChange(kind, from_tier, to_tier, service, billing_effective_at(service))


instants = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2099, 11, 30), timezones=st.just(UTC)
)
recent = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


class TestRBill2BillingEffectiveAt:
    def test_design_example(self) -> None:
        # 2026-05-01T00:30+02:00 (= 2026-04-30T22:30Z) is a May change:
        # billed from 2026-06-01T00:00+02:00 = 2026-05-31T22:00Z.
        expected = utc("2026-05-31T22:00:00+00:00")
        assert billing_effective_at(utc("2026-05-01T00:30:00+02:00")) == expected
        assert billing_effective_at(utc("2026-04-30T22:30:00+00:00")) == expected
        assert expected == datetime.fromisoformat("2026-06-01T00:00:00+02:00")

    def test_new_year_in_paris(self) -> None:
        # 2026-12-31T23:30Z = 2027-01-01T00:30 Paris: a January change,
        # billed from 2027-02-01T00:00+01:00 = 2027-01-31T23:00Z.
        billed_from = billing_effective_at(utc("2026-12-31T23:30:00+00:00"))
        assert billed_from == utc("2027-01-31T23:00:00+00:00")
        assert billed_from == datetime.fromisoformat("2027-02-01T00:00:00+01:00")

    def test_last_instant_of_a_month(self) -> None:
        # 2026-04-30T23:59:59.999999 Paris is still April: billed from 2026-05-01T00:00+02:00.
        at = utc("2026-04-30T23:59:59.999999+02:00")
        assert billing_effective_at(at) == utc("2026-04-30T22:00:00+00:00")

    def test_change_at_exactly_midnight_on_the_first_is_that_months_change(self) -> None:
        # 2026-05-01T00:00+02:00 belongs to May: billed from June, not from May.
        at = utc("2026-05-01T00:00:00+02:00")
        assert billing_effective_at(at) == utc("2026-06-01T00:00:00+02:00")

    @pytest.mark.parametrize(
        ("service", "billed_from"),
        [
            # March change (DST starts 29 March) → 2026-04-01T00:00+02:00
            ("2026-03-15T12:00:00+01:00", "2026-03-31T22:00:00+00:00"),
            # October change (DST ends 25 October) → 2026-11-01T00:00+01:00
            ("2026-10-15T12:00:00+02:00", "2026-10-31T23:00:00+00:00"),
            # Leap February 2028 → 2028-03-01T00:00+01:00
            ("2028-02-29T12:00:00+01:00", "2028-02-29T23:00:00+00:00"),
        ],
    )
    def test_dst_and_leap_months(self, service: str, billed_from: str) -> None:
        assert billing_effective_at(utc(service)) == utc(billed_from)


class TestRBill3BilledTier:
    def test_start_month_is_billed_standard(self) -> None:
        # Started BRONZE on 2026-03-10: March is billed STANDARD, April BRONZE.
        changes = [change("started", Tier.STANDARD, Tier.BRONZE, "2026-03-10T10:00:00+01:00")]
        assert billed_tier(changes, Month(2026, 3)) is Tier.STANDARD
        assert billed_tier(changes, Month(2026, 4)) is Tier.BRONZE
        assert billed_tier(changes, Month(2027, 1)) is Tier.BRONZE

    def test_no_changes_is_standard(self) -> None:
        assert billed_tier([], Month(2026, 5)) is Tier.STANDARD

    def test_several_changes_in_a_month_are_billed_together_at_the_last_tier(self) -> None:
        changes = [
            change("started", Tier.STANDARD, Tier.BRONZE, "2026-03-10T10:00:00+01:00"),
            change("upgrade", Tier.BRONZE, Tier.SILVER, "2026-05-03T10:00:00+02:00"),
            change("upgrade", Tier.SILVER, Tier.GOLD, "2026-05-20T10:00:00+02:00"),
        ]
        # May is billed at the tier of 1 May (BRONZE); June at the last May tier (GOLD);
        # SILVER is never billed.
        assert billed_tier(changes, Month(2026, 5)) is Tier.BRONZE
        assert billed_tier(changes, Month(2026, 6)) is Tier.GOLD
        assert billed_tier(list(reversed(changes)), Month(2026, 6)) is Tier.GOLD

    def test_downgrade_is_billed_from_the_next_month(self) -> None:
        changes = [
            change("started", Tier.STANDARD, Tier.GOLD, "2026-01-05T10:00:00+01:00"),
            change("downgrade", Tier.GOLD, Tier.SILVER, "2026-07-15T10:00:00+02:00"),
        ]
        assert billed_tier(changes, Month(2026, 7)) is Tier.GOLD
        assert billed_tier(changes, Month(2026, 8)) is Tier.SILVER

    def test_change_at_midnight_on_the_first_is_billed_from_the_next_month(self) -> None:
        changes = [
            change("started", Tier.STANDARD, Tier.BRONZE, "2026-03-10T10:00:00+01:00"),
            change("upgrade", Tier.BRONZE, Tier.GOLD, "2026-05-01T00:00:00+02:00"),
        ]
        assert billed_tier(changes, Month(2026, 5)) is Tier.BRONZE
        assert billed_tier(changes, Month(2026, 6)) is Tier.GOLD

    def test_utc_month_does_not_decide(self) -> None:
        # 2026-04-30T22:30Z is 1 May in Paris: April and May stay BRONZE, June is GOLD.
        changes = [
            change("started", Tier.STANDARD, Tier.BRONZE, "2026-03-10T10:00:00+01:00"),
            change("upgrade", Tier.BRONZE, Tier.GOLD, "2026-04-30T22:30:00+00:00"),
        ]
        assert billed_tier(changes, Month(2026, 5)) is Tier.BRONZE
        assert billed_tier(changes, Month(2026, 6)) is Tier.GOLD


class TestBilledMonths:
    def test_from_first_change_to_the_month_after_the_last(self) -> None:
        changes = [
            change("started", Tier.STANDARD, Tier.BRONZE, "2026-03-10T10:00:00+01:00"),
            change("upgrade", Tier.BRONZE, Tier.GOLD, "2026-05-20T10:00:00+02:00"),
        ]
        assert billed_months(changes) == [
            (Month(2026, 3), Tier.STANDARD),
            (Month(2026, 4), Tier.BRONZE),
            (Month(2026, 5), Tier.BRONZE),
            (Month(2026, 6), Tier.GOLD),
        ]

    def test_across_new_year_in_paris(self) -> None:
        # Started 2026-12-31T23:30Z = January 2027 in Paris.
        changes = [change("started", Tier.STANDARD, Tier.SILVER, "2026-12-31T23:30:00+00:00")]
        assert billed_months(changes) == [
            (Month(2027, 1), Tier.STANDARD),
            (Month(2027, 2), Tier.SILVER),
        ]

    def test_no_changes(self) -> None:
        assert billed_months([]) == []


class TestBillingProperties:
    @given(instants)
    def test_billed_from_paris_midnight_on_a_first(self, at: datetime) -> None:
        billed_from = billing_effective_at(at)
        assert billed_from.utcoffset() == timedelta(0)
        local = billed_from.astimezone(PARIS)
        assert local.replace(tzinfo=None) == datetime(local.year, local.month, 1)

    @given(instants)
    def test_strictly_after_and_within_a_month(self, at: datetime) -> None:
        billed_from = billing_effective_at(at)
        assert billed_from > at
        # A Paris month lasts at most 31 days + 1 hour (October).
        assert billed_from - at <= timedelta(days=31, hours=1)
        assert Month.of(billed_from) == Month.of(at).next()

    @given(instants, instants)
    def test_monotone(self, first: datetime, second: datetime) -> None:
        early, late = sorted((first, second))
        assert billing_effective_at(early) <= billing_effective_at(late)

    @given(st.lists(st.tuples(recent, st.sampled_from(list(Tier))), min_size=1, max_size=6))
    def test_billed_tier_is_the_last_change_of_an_earlier_month(
        self, raw: list[tuple[datetime, Tier]]
    ) -> None:
        changes = [
            TierChange("upgrade", Tier.STANDARD, tier, at, billing_effective_at(at))
            for at, tier in raw
        ]
        by_time = sorted(raw, key=lambda pair: pair[0])  # stable: ties keep their order
        first = Month.of(by_time[0][0])
        last = Month.of(by_time[-1][0])
        for month in months_between(first, last.next()):
            earlier = [tier for at, tier in by_time if Month.of(at) < month]
            expected = earlier[-1] if earlier else Tier.STANDARD
            assert billed_tier(changes, month) is expected
        assert [m for m, _ in billed_months(changes)] == months_between(first, last.next())
