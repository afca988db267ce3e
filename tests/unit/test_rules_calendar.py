"""Paris months and the planned maintenance calendar (R-BILL-2, R-EXP-1, R-SLA-9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketflow.domain.calendar import (
    PARIS,
    WEDNESDAY,
    Month,
    in_planned_window,
    maintenance_days,
    maintenance_windows,
    months_between,
    paris_midnight,
    require_aware,
)

ONE_US = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    """An instant written as ISO 8601 with an offset, returned in UTC."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


months = st.builds(Month, st.integers(min_value=1971, max_value=2099), st.integers(1, 12))
instants = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)
)


class TestMonthParse:
    def test_parses_year_and_month(self) -> None:
        assert Month.parse("2026-05") == Month(2026, 5)
        assert Month.parse("2028-12") == Month(2028, 12)

    @pytest.mark.parametrize("text", ["2026-5", "26-05", "2026/05", "2026-05-01", "", "May 2026"])
    def test_rejects_other_shapes(self, text: str) -> None:
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(text)

    @pytest.mark.parametrize("text", ["2026-00", "2026-13"])
    def test_rejects_month_out_of_range(self, text: str) -> None:
        with pytest.raises(ValueError, match="between 1 and 12"):
            Month.parse(text)

    def test_str_is_zero_padded(self) -> None:
        assert str(Month(2026, 5)) == "2026-05"
        assert str(Month(999, 1)) == "0999-01"

    @given(months)
    def test_str_round_trips(self, month: Month) -> None:
        assert Month.parse(str(month)) == month


class TestMonthOf:
    def test_rbill2_example_is_may_in_paris(self) -> None:
        # 2026-04-30T22:30Z + 02:00 (CEST) = 2026-05-01T00:30 Paris: a May instant.
        assert Month.of(utc("2026-04-30T22:30:00+00:00")) == Month(2026, 5)
        assert Month.of(utc("2026-05-01T00:30:00+02:00")) == Month(2026, 5)

    def test_last_instant_of_april_in_paris(self) -> None:
        # 2026-04-30T21:59:59Z + 02:00 = 23:59:59 Paris on 30 April.
        assert Month.of(utc("2026-04-30T21:59:59+00:00")) == Month(2026, 4)

    def test_new_year_in_paris_while_utc_is_still_december(self) -> None:
        # 2026-12-31T23:30Z + 01:00 (CET) = 2027-01-01T00:30 Paris.
        assert Month.of(utc("2026-12-31T23:30:00+00:00")) == Month(2027, 1)
        assert Month.of(utc("2026-12-31T22:59:59+00:00")) == Month(2026, 12)

    def test_any_offset_is_accepted(self) -> None:
        # 2026-05-31T20:00-05:00 = 2026-06-01T01:00Z = 03:00 Paris on 1 June.
        assert Month.of(datetime.fromisoformat("2026-05-31T20:00:00-05:00")) == Month(2026, 6)

    def test_naive_instant_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no UTC offset"):
            Month.of(datetime(2026, 5, 1, 12, 0))

    def test_require_aware_returns_utc(self) -> None:
        converted = require_aware(datetime.fromisoformat("2026-05-01T00:30:00+02:00"))
        assert converted == datetime(2026, 4, 30, 22, 30, tzinfo=UTC)
        assert converted.utcoffset() == timedelta(0)


class TestMonthArithmetic:
    @pytest.mark.parametrize(
        ("month", "following"),
        [
            (Month(2026, 1), Month(2026, 2)),
            (Month(2026, 11), Month(2026, 12)),
            (Month(2026, 12), Month(2027, 1)),
        ],
    )
    def test_next_and_previous(self, month: Month, following: Month) -> None:
        assert month.next() == following
        assert following.previous() == month

    def test_order_and_index(self) -> None:
        assert Month(2026, 12) < Month(2027, 1)
        assert Month(2026, 2) < Month(2026, 10)
        # 2026 * 12 + 3 - 1 = 24314
        assert Month(2026, 3).index() == 24314
        assert Month(2027, 1).index() - Month(2026, 12).index() == 1

    def test_months_between_is_inclusive(self) -> None:
        assert months_between(Month(2025, 11), Month(2026, 2)) == [
            Month(2025, 11),
            Month(2025, 12),
            Month(2026, 1),
            Month(2026, 2),
        ]
        assert months_between(Month(2026, 4), Month(2026, 4)) == [Month(2026, 4)]
        assert months_between(Month(2026, 5), Month(2026, 4)) == []

    def test_leap_february_2028(self) -> None:
        days = Month(2028, 2).days()
        assert len(days) == 29
        assert days[0] == date(2028, 2, 1)
        assert days[-1] == date(2028, 2, 29)
        # 29 days, no DST change in February: exactly 29 * 24 h.
        assert Month(2028, 2).end() - Month(2028, 2).start() == timedelta(days=29)
        assert len(Month(2027, 2).days()) == 28

    def test_leap_day_belongs_to_february(self) -> None:
        # 2028-02-29T22:59:59Z + 01:00 = 23:59:59 Paris on 29 February.
        assert Month.of(utc("2028-02-29T22:59:59+00:00")) == Month(2028, 2)
        assert Month.of(utc("2028-02-29T23:00:00+00:00")) == Month(2028, 3)


class TestMonthStartAcrossDst:
    @pytest.mark.parametrize(
        ("month", "start_utc", "paris_offset_hours"),
        [
            # Winter time (CET, +01:00): 00:00 Paris = 23:00Z the day before.
            (Month(2026, 1), "2025-12-31T23:00:00+00:00", 1),
            (Month(2026, 3), "2026-02-28T23:00:00+00:00", 1),
            (Month(2026, 11), "2026-10-31T23:00:00+00:00", 1),
            # Summer time (CEST, +02:00): 00:00 Paris = 22:00Z the day before.
            (Month(2026, 4), "2026-03-31T22:00:00+00:00", 2),
            (Month(2026, 10), "2026-09-30T22:00:00+00:00", 2),
        ],
    )
    def test_start_is_paris_midnight(
        self, month: Month, start_utc: str, paris_offset_hours: int
    ) -> None:
        start = month.start()
        assert start == utc(start_utc)
        assert start.utcoffset() == timedelta(0)
        local = start.astimezone(PARIS)
        assert (local.day, local.hour, local.minute) == (1, 0, 0)
        assert local.utcoffset() == timedelta(hours=paris_offset_hours)

    def test_march_loses_an_hour(self) -> None:
        # 2026-03-01T00:00+01:00 → 2026-04-01T00:00+02:00: 31 days minus the hour of 29 March.
        assert Month(2026, 3).end() - Month(2026, 3).start() == timedelta(days=31, hours=-1)

    def test_october_gains_an_hour(self) -> None:
        # 2026-10-01T00:00+02:00 → 2026-11-01T00:00+01:00: 31 days plus the hour of 25 October.
        assert Month(2026, 10).end() - Month(2026, 10).start() == timedelta(days=31, hours=1)

    def test_end_is_next_start(self) -> None:
        assert Month(2026, 12).end() == Month(2027, 1).start() == utc("2026-12-31T23:00:00+00:00")

    def test_paris_midnight(self) -> None:
        assert paris_midnight(date(2026, 7, 14)) == utc("2026-07-13T22:00:00+00:00")
        assert paris_midnight(date(2026, 12, 25)) == utc("2026-12-24T23:00:00+00:00")


class TestMaintenanceDays:
    @pytest.mark.parametrize(
        ("month", "expected_days"),
        [
            # Wednesdays 1, 8, 15, 22, 29: first + last three, the second (8) is skipped.
            (Month(2026, 4), [1, 15, 22, 29]),
            (Month(2026, 7), [1, 15, 22, 29]),
            # Wednesdays 2, 9, 16, 23, 30 → 9 skipped.
            (Month(2026, 12), [2, 16, 23, 30]),
            # Four Wednesdays: every one of them.
            (Month(2026, 3), [4, 11, 18, 25]),
            (Month(2026, 10), [7, 14, 21, 28]),
            # Leap February 2028: Wednesdays 2, 9, 16, 23 (29 is a Tuesday).
            (Month(2028, 2), [2, 9, 16, 23]),
        ],
    )
    def test_hand_computed_months(self, month: Month, expected_days: list[int]) -> None:
        assert maintenance_days(month) == [date(month.year, month.month, d) for d in expected_days]

    def test_windows_in_winter_time(self) -> None:
        # 2026-03-04 00:00–06:00 Paris (+01:00) = 2026-03-03T23:00Z – 2026-03-04T05:00Z.
        first_start, first_end = maintenance_windows(Month(2026, 3))[0]
        assert first_start == utc("2026-03-03T23:00:00+00:00")
        assert first_end == utc("2026-03-04T05:00:00+00:00")
        assert len(maintenance_windows(Month(2026, 3))) == 4

    def test_windows_in_summer_time(self) -> None:
        # 2026-04-01 00:00–06:00 Paris (+02:00) = 2026-03-31T22:00Z – 2026-04-01T04:00Z:
        # April's first window starts while UTC is still in March.
        windows = maintenance_windows(Month(2026, 4))
        assert windows[0] == (utc("2026-03-31T22:00:00+00:00"), utc("2026-04-01T04:00:00+00:00"))
        # Last window: 2026-04-29 00:00–06:00 Paris.
        assert windows[-1] == (utc("2026-04-28T22:00:00+00:00"), utc("2026-04-29T04:00:00+00:00"))


class TestInPlannedWindow:
    @pytest.mark.parametrize(
        ("instant", "expected"),
        [
            # Winter, 2026-03-04 (first Wednesday): [23:00Z the day before, 05:00Z).
            ("2026-03-03T22:59:59.999999+00:00", False),
            ("2026-03-03T23:00:00+00:00", True),
            ("2026-03-04T04:59:59.999999+00:00", True),
            ("2026-03-04T05:00:00+00:00", False),
            # Summer, 2026-04-01 (first Wednesday): [22:00Z the day before, 04:00Z).
            ("2026-03-31T21:59:59.999999+00:00", False),
            ("2026-03-31T22:00:00+00:00", True),
            ("2026-04-01T03:59:59+00:00", True),
            ("2026-04-01T04:00:00+00:00", False),
            # Local offsets are honoured the same way.
            ("2026-04-01T00:00:00+02:00", True),
            ("2026-04-01T06:00:00+02:00", False),
        ],
    )
    def test_boundaries(self, instant: str, expected: bool) -> None:
        assert in_planned_window(datetime.fromisoformat(instant)) is expected

    def test_second_wednesday_of_a_five_wednesday_month_is_free(self) -> None:
        assert in_planned_window(utc("2026-04-08T03:00:00+02:00")) is False
        assert in_planned_window(utc("2026-04-15T03:00:00+02:00")) is True

    def test_second_wednesday_of_a_four_wednesday_month_is_planned(self) -> None:
        assert in_planned_window(utc("2026-03-11T03:00:00+01:00")) is True

    def test_other_weekdays_are_free(self) -> None:
        # Tuesday 2026-04-07 and Thursday 2026-04-02, 03:00 Paris.
        assert in_planned_window(utc("2026-04-07T03:00:00+02:00")) is False
        assert in_planned_window(utc("2026-04-02T03:00:00+02:00")) is False

    def test_naive_instant_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no UTC offset"):
            in_planned_window(datetime(2026, 4, 1, 3, 0))


def _wednesdays(month: Month) -> list[date]:
    return [d for d in month.days() if d.weekday() == WEDNESDAY]


class TestCalendarProperties:
    @given(months)
    def test_every_maintenance_day_is_a_wednesday_of_the_month(self, month: Month) -> None:
        for day in maintenance_days(month):
            assert day.weekday() == WEDNESDAY
            assert (day.year, day.month) == (month.year, month.month)

    @given(months)
    def test_first_and_last_three_wednesdays(self, month: Month) -> None:
        wednesdays = _wednesdays(month)
        chosen = maintenance_days(month)
        assert len(wednesdays) in (4, 5)
        assert len(chosen) == min(len(wednesdays), 4)
        assert chosen[0] == wednesdays[0]
        assert chosen[-3:] == wednesdays[-3:]
        assert chosen == sorted(chosen)
        assert (wednesdays[1] in chosen) is (len(wednesdays) == 4)

    @given(months)
    def test_windows_last_six_hours_and_are_start_inclusive(self, month: Month) -> None:
        for start, end in maintenance_windows(month):
            assert end - start == timedelta(hours=6)  # no DST change happens on a Wednesday
            assert in_planned_window(start)
            assert in_planned_window(end - ONE_US)
            assert not in_planned_window(end)
            assert not in_planned_window(start - ONE_US)

    @given(months)
    def test_month_start_and_end(self, month: Month) -> None:
        assert Month.of(month.start()) == month
        assert Month.of(month.end() - ONE_US) == month
        assert Month.of(month.end()) == month.next()
        assert month.start() < month.end()
        assert month.next().previous() == month
        assert month.next().index() == month.index() + 1

    @given(instants)
    def test_instant_lies_in_its_month(self, at: datetime) -> None:
        month = Month.of(at)
        assert month.start() <= at < month.end()

    @given(instants)
    def test_in_planned_window_agrees_with_windows(self, at: datetime) -> None:
        windows = maintenance_windows(Month.of(at))
        assert in_planned_window(at) is any(start <= at < end for start, end in windows)
