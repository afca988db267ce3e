"""Instants as text (DESIGN §3b, §7): RFC 3339 in UTC with ``Z``, written by one function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ticketflow.domain.instants import parse_rfc3339, rfc3339

PARIS_SUMMER = timezone(timedelta(hours=2))


class TestRfc3339:
    def test_utc_ends_in_z(self) -> None:
        assert rfc3339(datetime(2026, 5, 4, 8, 0, tzinfo=UTC)) == "2026-05-04T08:00:00Z"

    def test_another_offset_is_written_in_utc(self) -> None:
        at = datetime(2026, 5, 1, 0, 30, tzinfo=PARIS_SUMMER)
        assert rfc3339(at) == "2026-04-30T22:30:00Z"

    def test_a_fraction_of_a_second_is_kept(self) -> None:
        at = datetime(2026, 5, 4, 8, 0, 0, 500000, tzinfo=UTC)
        assert rfc3339(at) == "2026-05-04T08:00:00.500000Z"

    def test_none_stays_none(self) -> None:
        assert rfc3339(None) is None
        assert parse_rfc3339(None) is None

    def test_naive_instants_are_refused(self) -> None:
        with pytest.raises(ValueError, match="no UTC offset"):
            rfc3339(datetime(2026, 5, 4, 8, 0))
        with pytest.raises(ValueError, match="no UTC offset"):
            parse_rfc3339("2026-05-04T08:00:00")

    @pytest.mark.parametrize(
        "text", ["2026-05-04T08:00:00Z", "2026-05-04T10:00:00+02:00", "2026-05-04T08:00:00.25Z"]
    )
    def test_round_trip(self, text: str) -> None:
        parsed = parse_rfc3339(text)
        assert parsed.tzinfo is UTC
        assert parse_rfc3339(rfc3339(parsed)) == parsed
