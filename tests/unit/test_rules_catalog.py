"""The catalog as dated data (R-TIER-1) and the order of tiers (R-TIER-4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    PrivilegedAccess,
    Tier,
    TierTerms,
)
from ticketflow.domain.errors import CatalogError, DomainError
from ticketflow.domain.expertise import has_privileged_access, month_allowance
from ticketflow.domain.sla import Clock, decide_clock


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


def _tier(gtr: float | None, included: float, access: str, months: int | None) -> dict[str, Any]:
    return {
        "gtr_hours": gtr,
        "included_hours_per_month": included,
        "privileged_access": access,
        "allowance_months": months,
    }


def two_editions() -> dict[str, Any]:
    """A test catalog: the 2025 terms, then from July 2026 a faster GOLD and a richer SILVER.

    The editions are listed newest first on purpose: the catalog must sort them.
    """
    return {
        "editions": [
            {
                "id": "2026-07",
                "effective_from": "2026-07-01T00:00:00+02:00",
                "tiers": {
                    "STANDARD": _tier(None, 0, "never", None),
                    "BRONZE": _tier(8, 2, "window", 3),
                    "SILVER": _tier(6, 3, "always", None),
                    "GOLD": _tier(2, 6, "always", None),
                },
            },
            {
                "id": "2025-01",
                "effective_from": "2025-01-01T00:00:00+01:00",
                "tiers": {
                    "STANDARD": _tier(None, 0, "never", None),
                    "BRONZE": _tier(8, 2, "window", 3),
                    "SILVER": _tier(8, 2, "always", None),
                    "GOLD": _tier(4, 4, "always", None),
                },
            },
        ]
    }


class TestTierOrder:
    """R-TIER-4: STANDARD < BRONZE < SILVER < GOLD."""

    ORDER = (Tier.STANDARD, Tier.BRONZE, Tier.SILVER, Tier.GOLD)

    def test_less_than_follows_rtier4(self) -> None:
        assert Tier.STANDARD < Tier.BRONZE < Tier.SILVER < Tier.GOLD
        assert not Tier.GOLD < Tier.SILVER
        assert not Tier.SILVER < Tier.SILVER

    def test_sorting_follows_rtier4(self) -> None:
        assert sorted([Tier.GOLD, Tier.STANDARD, Tier.SILVER, Tier.BRONZE]) == list(self.ORDER)

    def test_rank(self) -> None:
        assert [t.rank for t in self.ORDER] == [0, 1, 2, 3]

    def test_other_comparisons_follow_rtier4(self) -> None:
        # Alphabetical order (BRONZE < GOLD < SILVER < STANDARD) would fail most of these.
        assert Tier.GOLD > Tier.SILVER
        assert Tier.GOLD >= Tier.SILVER
        assert Tier.SILVER <= Tier.GOLD
        assert not Tier.BRONZE >= Tier.SILVER
        assert Tier.STANDARD <= Tier.BRONZE
        assert max(self.ORDER) is Tier.GOLD

    def test_tier_is_its_name(self) -> None:
        assert Tier("GOLD") is Tier.GOLD
        assert str(Tier.BRONZE) == "BRONZE"
        with pytest.raises(ValueError, match="PLATINUM"):
            Tier("PLATINUM")


class TestDefaultCatalog:
    """The terms of the shipped edition, straight from the table of DESIGN §2."""

    @pytest.mark.parametrize(
        ("tier", "gtr_minutes", "included_minutes", "access", "allowance_months"),
        [
            (Tier.STANDARD, None, 0, "never", None),
            # BRONZE: GTR 8 h = 480 min, 2 h = 120 min for the first 3 months.
            (Tier.BRONZE, 480, 120, "window", 3),
            (Tier.SILVER, 480, 120, "always", None),
            # GOLD: GTR 4 h = 240 min, 4 h = 240 min a month.
            (Tier.GOLD, 240, 240, "always", None),
        ],
    )
    def test_terms_per_tier(
        self,
        tier: Tier,
        gtr_minutes: int | None,
        included_minutes: int,
        access: PrivilegedAccess,
        allowance_months: int | None,
    ) -> None:
        terms = DEFAULT_CATALOG.terms(tier, utc("2026-06-01T12:00:00+00:00"))
        assert terms == TierTerms(gtr_minutes, included_minutes, access, allowance_months)

    def test_single_edition_from_january_2025(self) -> None:
        assert [e.id for e in DEFAULT_CATALOG.editions] == ["2025-01"]
        assert DEFAULT_CATALOG.editions[0].effective_from == utc("2024-12-31T23:00:00+00:00")

    def test_nothing_is_in_force_before_the_first_edition(self) -> None:
        # 2025-01-01T00:00+01:00 = 2024-12-31T23:00Z; one second earlier has no edition.
        assert DEFAULT_CATALOG.edition_at(utc("2024-12-31T23:00:00+00:00")).id == "2025-01"
        with pytest.raises(CatalogError, match="no catalog edition"):
            DEFAULT_CATALOG.edition_at(utc("2024-12-31T22:59:59+00:00"))


class TestEditions:
    """R-TIER-1: the edition in force at each instant decides."""

    catalog = Catalog.from_dict(two_editions())
    # 2026-07-01T00:00+02:00 = 2026-06-30T22:00Z
    switch = utc("2026-06-30T22:00:00+00:00")

    def test_editions_are_sorted_oldest_first(self) -> None:
        assert [e.id for e in self.catalog.editions] == ["2025-01", "2026-07"]

    @pytest.mark.parametrize(
        ("instant", "edition"),
        [
            ("2025-01-01T00:00:00+01:00", "2025-01"),
            ("2026-06-30T21:59:59.999999+00:00", "2025-01"),
            ("2026-06-30T22:00:00+00:00", "2026-07"),
            ("2026-07-01T00:00:00+02:00", "2026-07"),
            ("2030-01-01T00:00:00+01:00", "2026-07"),
        ],
    )
    def test_edition_at(self, instant: str, edition: str) -> None:
        assert self.catalog.edition_at(datetime.fromisoformat(instant)).id == edition

    def test_terms_change_with_the_edition(self) -> None:
        before = self.catalog.terms(Tier.GOLD, utc("2026-06-30T21:00:00+00:00"))
        after = self.catalog.terms(Tier.GOLD, self.switch)
        assert (before.gtr_minutes, before.included_minutes_per_month) == (240, 240)
        # 2 h = 120 min GTR, 6 h = 360 min included.
        assert (after.gtr_minutes, after.included_minutes_per_month) == (120, 360)

    def _clock(self, *, opened: str, at: str, tier: Tier = Tier.GOLD) -> Clock:
        decision = decide_clock(
            priority="P1",
            tier=tier,
            category="network",
            beta_feature=False,
            cycle_opened_at=utc(opened),
            at=utc(at),
            catalog=self.catalog,
        )
        assert isinstance(decision, Clock)
        return decision

    def test_clock_started_before_the_switch_keeps_the_old_gtr(self) -> None:
        # Started 21:00Z with the 2025 GOLD GTR (240 min): deadline 2026-07-01T01:00Z,
        # although the 120-min edition comes into force at 22:00Z meanwhile.
        clock = self._clock(opened="2026-06-30T21:00:00+00:00", at="2026-06-30T21:00:00+00:00")
        assert (clock.edition, clock.gtr_minutes) == ("2025-01", 240)
        assert clock.deadline == utc("2026-07-01T01:00:00+00:00")

    def test_clock_started_at_the_switch_uses_the_new_gtr(self) -> None:
        # 22:00Z + 120 min = 2026-07-01T00:00Z.
        clock = self._clock(opened="2026-06-30T22:00:00+00:00", at="2026-06-30T22:00:00+00:00")
        assert (clock.edition, clock.gtr_minutes) == ("2026-07", 120)
        assert clock.deadline == utc("2026-07-01T00:00:00+00:00")

    def test_edition_is_taken_at_clock_start_not_at_opening(self) -> None:
        # Opened (P2) under the 2025 edition, raised to P1 at 22:30Z under the 2026-07 one:
        # SILVER's GTR is then 6 h = 360 min, deadline 2026-07-01T04:30Z.
        clock = self._clock(
            opened="2026-06-30T20:00:00+00:00", at="2026-06-30T22:30:00+00:00", tier=Tier.SILVER
        )
        assert (clock.edition, clock.gtr_minutes) == ("2026-07", 360)
        assert clock.deadline == utc("2026-07-01T04:30:00+00:00")

    def test_clock_before_any_edition_is_an_error(self) -> None:
        with pytest.raises(CatalogError):
            self._clock(opened="2024-12-01T10:00:00+00:00", at="2024-12-01T10:00:00+00:00")

    def test_allowance_follows_the_edition(self) -> None:
        history = [(utc("2026-01-10T09:00:00+01:00"), Tier.GOLD)]
        # June 2026 is under the 2025 edition: GOLD 4 h = 240 min.
        assert (
            month_allowance(history, Month(2026, 6), utc("2026-06-20T00:00:00+00:00"), self.catalog)
            == 240
        )
        # July 2026 is under the 2026-07 edition: GOLD 6 h = 360 min.
        assert (
            month_allowance(history, Month(2026, 7), utc("2026-07-20T00:00:00+00:00"), self.catalog)
            == 360
        )
        assert has_privileged_access(history, utc("2026-07-20T00:00:00+00:00"), self.catalog)

    def test_month_end_allowance_uses_the_months_own_edition(self) -> None:
        # June 2026 ends at 2026-06-30T22:00Z, the instant the 2026-07 edition starts;
        # June's allowance is still the 2025 GOLD 240 min, not 360.
        history = [(utc("2026-01-10T09:00:00+01:00"), Tier.GOLD)]
        june = Month(2026, 6)
        assert month_allowance(history, june, june.end(), self.catalog) == 240


class TestInvalidCatalog:
    def test_effective_from_without_offset(self) -> None:
        data = two_editions()
        data["editions"][0]["effective_from"] = "2026-07-01T00:00:00"
        with pytest.raises(CatalogError, match="needs an offset"):
            Catalog.from_dict(data)

    def test_edition_missing_a_tier(self) -> None:
        data = two_editions()
        del data["editions"][1]["tiers"]["BRONZE"]
        with pytest.raises(CatalogError, match="every tier"):
            Catalog.from_dict(data)

    def test_catalog_error_is_a_domain_error(self) -> None:
        assert issubclass(CatalogError, DomainError)

    def test_unknown_tier_name(self) -> None:
        data = two_editions()
        data["editions"][0]["tiers"]["PLATINUM"] = _tier(1, 8, "always", None)
        with pytest.raises(CatalogError):
            Catalog.from_dict(data)

    def test_missing_field(self) -> None:
        data = two_editions()
        del data["editions"][0]["tiers"]["GOLD"]["gtr_hours"]
        with pytest.raises(CatalogError):
            Catalog.from_dict(data)

    def test_unknown_privileged_access(self) -> None:
        data = two_editions()
        data["editions"][0]["tiers"]["GOLD"]["privileged_access"] = "sometimes"
        with pytest.raises(CatalogError):
            Catalog.from_dict(data)
