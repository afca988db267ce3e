"""The Subscription aggregate: tier changes with their billing instants (R-BILL-*), packs, and
how each consumption is funded (R-EXP-*), as recorded in its events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import key, utc
from ticketflow.domain.catalog import Tier
from ticketflow.domain.errors import SubscriptionTransitionError, TransitionError
from ticketflow.domain.ids import subscription_id
from ticketflow.domain.subscription import Subscription


def started(tier: Tier, at: str = "2026-03-02T09:00:00+01:00") -> Subscription:
    return Subscription.start(tenant="acme", at=utc(at), inbound=key(), tier=tier)


def upgrade(sub: Subscription, tier: Tier, at: str) -> Any:
    sub.upgrade(at=utc(at), inbound=key(), tier=tier)
    return sub.collect_events()[-1]


def downgrade(sub: Subscription, tier: Tier, at: str, ticket: str = "T-77") -> Any:
    sub.downgrade(at=utc(at), inbound=key(), tier=tier, support_ticket=ticket)
    return sub.collect_events()[-1]


def buy(sub: Subscription, pack_id: str, minutes: int, at: str) -> Any:
    sub.purchase_pack(at=utc(at), inbound=key(), pack_id=pack_id, minutes=minutes)
    return sub.collect_events()[-1]


def consume(sub: Subscription, minutes: int, at: str) -> Any:
    sub.consume(
        at=utc(at), inbound=key(), minutes=minutes, ticket="T-1", expert="e.martin", activity=None
    )
    return sub.collect_events()[-1]


def split(event: Any) -> tuple[int, list[list[Any]], int, int]:
    """(from allowance, from packs, overage, unfunded) as recorded."""
    return event.from_allowance, event.from_packs, event.overage, event.unfunded


class TestStart:
    def test_explicit_start(self) -> None:
        sub = started(Tier.SILVER, at="2026-03-02T09:00:00+01:00")
        event: Any = sub.collect_events()[-1]
        assert type(event).__name__ == "Started"
        assert sub.id == subscription_id("acme")
        assert (event.tenant, event.tier, event.implicit) == ("acme", "SILVER", False)
        assert event.at == utc("2026-03-02T08:00:00Z")
        # A March change is billed from 2026-04-01T00:00 Paris; summer time began on
        # 29 March, so that is +02:00 = 2026-03-31T22:00Z (R-BILL-2, R-BILL-3).
        assert event.billing_effective_at == utc("2026-03-31T22:00:00Z")
        assert sub.tier_at(utc("2026-03-02T08:00:00Z")) is Tier.SILVER
        assert sub.tier_at(utc("2026-03-02T07:59:59Z")) is Tier.STANDARD  # before: R-TIER-2

    def test_implicit_standard_default_rtier2(self) -> None:
        sub = Subscription.default(tenant="acme", at=utc("2026-03-03T10:00:00+01:00"), inbound="k")
        event: Any = sub.collect_events()[-1]
        assert (event.tier, event.implicit) == ("STANDARD", True)
        assert event.billing_effective_at == utc("2026-03-31T22:00:00Z")
        assert sub.implicit is True
        assert sub.tier_at(utc("2027-01-01T00:00:00Z")) is Tier.STANDARD
        assert sub.has_applied("k")


class TestExplicitStartAfterImplicit:
    """A tenant first seen without a subscription (STANDARD, R-TIER-2), then started."""

    def implicit(self) -> Subscription:
        sub = Subscription.default(tenant="acme", at=utc("2026-03-03T10:00:00+01:00"), inbound="k")
        sub.collect_events()
        return sub

    def test_start_is_recorded_from_standard(self) -> None:
        sub = self.implicit()
        sub.subscribe(at=utc("2026-05-01T00:30:00+02:00"), inbound=key(), tier=Tier.GOLD)
        event: Any = sub.collect_events()[-1]
        assert type(event).__name__ == "Subscribed"
        assert (event.from_tier, event.tier) == ("STANDARD", "GOLD")
        assert event.billing_effective_at == utc("2026-05-31T22:00:00Z")  # a May change
        assert sub.implicit is False
        assert sub.tier_at(utc("2026-04-30T22:29:59Z")) is Tier.STANDARD
        assert sub.tier_at(utc("2026-04-30T22:30:00Z")) is Tier.GOLD

    def test_second_start_is_refused(self) -> None:
        sub = started(Tier.SILVER)
        with pytest.raises(SubscriptionTransitionError, match="already started"):
            sub.subscribe(at=utc("2026-04-01T10:00:00Z"), inbound=key(), tier=Tier.GOLD)

    def test_start_below_the_current_tier_is_not_a_self_service_downgrade(self) -> None:
        sub = self.implicit()
        upgrade(sub, Tier.GOLD, "2026-03-04T10:00:00+01:00")
        with pytest.raises(SubscriptionTransitionError) as info:
            sub.subscribe(at=utc("2026-03-05T10:00:00+01:00"), inbound=key(), tier=Tier.BRONZE)
        assert info.value.rule == "R-BILL-4"


class TestUpgradeRBill1:
    def test_design_example_rbill2(self) -> None:
        sub = started(Tier.SILVER)
        event = upgrade(sub, Tier.GOLD, "2026-05-01T00:30:00+02:00")  # = 2026-04-30T22:30Z
        assert type(event).__name__ == "TierUpgraded"
        assert (event.from_tier, event.tier) == ("SILVER", "GOLD")
        assert event.at == utc("2026-04-30T22:30:00Z")
        # A May change in Paris: billed from 2026-06-01T00:00+02:00 = 2026-05-31T22:00Z.
        assert event.billing_effective_at == utc("2026-05-31T22:00:00Z")

    def test_in_force_for_service_at_the_instant(self) -> None:
        sub = started(Tier.BRONZE)
        upgrade(sub, Tier.GOLD, "2026-04-30T22:30:00Z")
        assert sub.tier_at(utc("2026-04-30T22:29:59Z")) is Tier.BRONZE
        assert sub.tier_at(utc("2026-04-30T22:30:00Z")) is Tier.GOLD

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            (Tier.STANDARD, Tier.BRONZE),
            (Tier.STANDARD, Tier.GOLD),
            (Tier.BRONZE, Tier.SILVER),
            (Tier.SILVER, Tier.GOLD),
        ],
    )
    def test_any_higher_tier(self, start: Tier, target: Tier) -> None:
        sub = started(start)
        event = upgrade(sub, target, "2026-04-10T12:00:00Z")
        assert (event.from_tier, event.tier) == (start.value, target.value)

    def test_two_upgrades_in_a_month_are_both_recorded(self) -> None:
        sub = started(Tier.STANDARD)
        first = upgrade(sub, Tier.BRONZE, "2026-04-10T12:00:00Z")
        second = upgrade(sub, Tier.GOLD, "2026-04-20T12:00:00Z")
        assert second.from_tier == "BRONZE"
        # Both April changes are billed from 2026-05-01T00:00+02:00 = 2026-04-30T22:00Z.
        assert first.billing_effective_at == second.billing_effective_at
        assert first.billing_effective_at == utc("2026-04-30T22:00:00Z")

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            (Tier.SILVER, Tier.SILVER),
            (Tier.SILVER, Tier.BRONZE),
            (Tier.SILVER, Tier.STANDARD),
            (Tier.GOLD, Tier.GOLD),
            (Tier.STANDARD, Tier.STANDARD),
        ],
    )
    def test_not_higher_is_rejected_rbill4(self, start: Tier, target: Tier) -> None:
        sub = started(start)
        sub.collect_events()
        with pytest.raises(SubscriptionTransitionError, match="not higher") as info:
            upgrade(sub, target, "2026-04-10T12:00:00Z")
        assert info.value.rule == "R-BILL-4"
        assert isinstance(info.value, TransitionError)
        assert sub.collect_events() == []
        assert sub.tier_at(utc("2026-04-11T00:00:00Z")) is start

    def test_compared_with_the_tier_at_the_event_time(self) -> None:
        sub = started(Tier.BRONZE)
        upgrade(sub, Tier.GOLD, "2026-04-10T12:00:00Z")
        with pytest.raises(SubscriptionTransitionError) as info:
            upgrade(sub, Tier.SILVER, "2026-04-15T12:00:00Z")  # GOLD since the 10th
        assert info.value.rule == "R-BILL-4"


class TestDowngradeRBill4:
    def test_recorded_with_its_support_ticket(self) -> None:
        sub = started(Tier.GOLD)
        # 2026-12-31T23:30Z = 2027-01-01T00:30+01:00: a January change in Paris,
        # billed from 2027-02-01T00:00+01:00 = 2027-01-31T23:00Z (R-BILL-2).
        event = downgrade(sub, Tier.SILVER, "2026-12-31T23:30:00Z", ticket="T-77")
        assert type(event).__name__ == "TierDowngraded"
        assert (event.from_tier, event.tier, event.support_ticket) == ("GOLD", "SILVER", "T-77")
        assert event.billing_effective_at == utc("2027-01-31T23:00:00Z")
        assert sub.tier_at(utc("2026-12-31T23:30:00Z")) is Tier.SILVER  # in force at once

    @pytest.mark.parametrize("target", [Tier.BRONZE, Tier.STANDARD])
    def test_any_lower_tier(self, target: Tier) -> None:
        sub = started(Tier.SILVER)
        assert downgrade(sub, target, "2026-04-10T12:00:00Z").tier == target.value

    @pytest.mark.parametrize(
        ("start", "target"),
        [
            (Tier.SILVER, Tier.SILVER),
            (Tier.SILVER, Tier.GOLD),
            (Tier.STANDARD, Tier.STANDARD),
            (Tier.BRONZE, Tier.GOLD),
        ],
    )
    def test_not_lower_is_rejected(self, start: Tier, target: Tier) -> None:
        sub = started(start)
        sub.collect_events()
        with pytest.raises(SubscriptionTransitionError, match="not lower") as info:
            downgrade(sub, target, "2026-04-10T12:00:00Z")
        assert info.value.rule == "R-BILL-4"
        assert sub.collect_events() == []


class TestPacks:
    def test_purchase_is_recorded(self) -> None:
        sub = started(Tier.SILVER)
        event = buy(sub, "PK-A", 600, "2026-03-03T10:00:00+01:00")
        assert type(event).__name__ == "PackPurchased"
        assert (event.pack_id, event.minutes) == ("PK-A", 600)
        assert event.at == utc("2026-03-03T09:00:00Z")
        assert sub.packs == [["PK-A", utc("2026-03-03T09:00:00Z"), 600, 600]]

    def test_duplicate_pack_id_is_rejected(self) -> None:
        sub = started(Tier.SILVER)
        buy(sub, "PK-A", 600, "2026-03-03T10:00:00Z")
        with pytest.raises(SubscriptionTransitionError, match="PK-A was already purchased"):
            buy(sub, "PK-A", 120, "2026-03-04T10:00:00Z")
        assert sub.collect_events() == []
        assert len(sub.packs) == 1

    @pytest.mark.parametrize("minutes", [0, -60])
    def test_empty_pack_is_rejected_rexp6(self, minutes: int) -> None:
        sub = started(Tier.SILVER)
        with pytest.raises(SubscriptionTransitionError) as info:
            buy(sub, "PK-A", minutes, "2026-03-03T10:00:00Z")
        assert info.value.rule == "R-EXP-6"

    def test_zero_minute_consumption_is_rejected_rexp6(self) -> None:
        sub = started(Tier.SILVER)
        with pytest.raises(SubscriptionTransitionError) as info:
            consume(sub, 0, "2026-03-05T10:00:00Z")
        assert info.value.rule == "R-EXP-6"


class TestConsumptionSplitRExp4:
    """SILVER from 2 March 2026: 120 included minutes a month, privileged access."""

    def test_allowance_then_packs_oldest_first_then_overage(self) -> None:
        sub = started(Tier.SILVER, at="2026-03-02T09:00:00+01:00")
        buy(sub, "PK-A", 60, "2026-03-03T10:00:00+01:00")
        buy(sub, "PK-B", 120, "2026-03-04T10:00:00+01:00")

        c1 = consume(sub, 90, "2026-03-05T10:00:00+01:00")
        # allowance 120, nothing used: 90 from the allowance.
        assert (c1.month, c1.tier, c1.privileged, c1.allowance_minutes) == (
            "2026-03",
            "SILVER",
            True,
            120,
        )
        assert split(c1) == (90, [], 0, 0)

        c2 = consume(sub, 75, "2026-03-06T10:00:00+01:00")
        # allowance left 120 - 90 = 30; 75 - 30 = 45 from PK-A (60 -> 15).
        assert split(c2) == (30, [["PK-A", 45]], 0, 0)

        c3 = consume(sub, 120, "2026-03-07T10:00:00+01:00")
        # allowance left 0; PK-A 15 (-> 0), then 120 - 15 = 105 from PK-B (120 -> 15).
        assert split(c3) == (0, [["PK-A", 15], ["PK-B", 105]], 0, 0)

        c4 = consume(sub, 60, "2026-03-08T10:00:00+01:00")
        # PK-B 15 (-> 0), 60 - 15 = 45 overage; privileged, so nothing unfunded.
        assert split(c4) == (0, [["PK-B", 15]], 45, 0)

        assert [p[3] for p in sub.packs] == [0, 0]
        assert sub.allowance_used == {"2026-03": 120}  # 90 + 30

        c5 = consume(sub, 30, "2026-04-02T10:00:00+02:00")
        # April: a fresh 120 (March's unused hours would have expired, R-EXP-3).
        assert (c5.month, c5.allowance_minutes) == ("2026-04", 120)
        assert split(c5) == (30, [], 0, 0)

    def test_unused_allowance_expires_but_packs_do_not_rexp3(self) -> None:
        sub = started(Tier.SILVER, at="2026-03-02T09:00:00+01:00")
        buy(sub, "PK-A", 60, "2026-03-03T10:00:00+01:00")
        consume(sub, 30, "2026-03-05T10:00:00+01:00")  # 30 of March's 120
        c = consume(sub, 200, "2026-04-15T10:00:00+02:00")
        # April: 120 from April's allowance (not 120 + 90 left from March), 60 from PK-A,
        # 200 - 120 - 60 = 20 overage.
        assert split(c) == (120, [["PK-A", 60]], 20, 0)

    def test_month_is_the_paris_month(self) -> None:
        sub = started(Tier.SILVER, at="2026-03-02T09:00:00+01:00")
        consume(sub, 120, "2026-03-31T21:30:00Z")  # 23:30 Paris: March, uses it all
        c = consume(sub, 60, "2026-03-31T22:30:00Z")  # 2026-04-01T00:30+02:00: April
        assert c.month == "2026-04"
        assert split(c) == (60, [], 0, 0)

    def test_packs_drawn_by_purchase_time_even_if_recorded_out_of_order(self) -> None:
        sub = started(Tier.STANDARD, at="2026-03-02T09:00:00+01:00")
        buy(sub, "PK-NEW", 60, "2026-03-04T10:00:00+01:00")
        buy(sub, "PK-OLD", 60, "2026-03-03T10:00:00+01:00")  # arrives later, bought earlier
        c = consume(sub, 90, "2026-03-05T10:00:00+01:00")
        # Oldest purchase first: PK-OLD 60, then PK-NEW 30.
        assert c.from_packs == [["PK-OLD", 60], ["PK-NEW", 30]]

    def test_a_pack_bought_after_the_consumption_does_not_fund_it(self) -> None:
        sub = started(Tier.STANDARD, at="2026-03-02T09:00:00+01:00")
        buy(sub, "PK-LATER", 60, "2026-03-10T10:00:00+01:00")
        c = consume(sub, 30, "2026-03-05T10:00:00+01:00")
        assert split(c) == (0, [], 30, 30)
        assert sub.packs[0][3] == 60


class TestAllowanceRExp1:
    def test_upgrade_raises_the_current_month_from_then_on(self) -> None:
        sub = started(Tier.SILVER, at="2026-01-05T09:00:00+01:00")
        c1 = consume(sub, 120, "2026-03-05T10:00:00+01:00")
        assert (c1.allowance_minutes, c1.from_allowance) == (120, 120)
        upgrade(sub, Tier.GOLD, "2026-03-20T10:00:00+01:00")
        c2 = consume(sub, 180, "2026-03-25T10:00:00+01:00")
        # GOLD gives 240 for March from the upgrade; 120 already used: 120 left,
        # 180 - 120 = 60 overage (no packs). Hours used before are not re-funded.
        assert c2.allowance_minutes == 240
        assert split(c2) == (120, [], 60, 0)

    def test_downgrade_lowers_it_from_the_next_month(self) -> None:
        sub = started(Tier.GOLD, at="2026-01-05T09:00:00+01:00")
        downgrade(sub, Tier.SILVER, "2026-03-10T10:00:00+01:00")
        c1 = consume(sub, 200, "2026-03-20T10:00:00+01:00")
        # March still had GOLD in force since its start: allowance 240.
        assert (c1.tier, c1.allowance_minutes) == ("SILVER", 240)
        assert split(c1) == (200, [], 0, 0)
        c2 = consume(sub, 200, "2026-04-02T10:00:00+02:00")
        # April: SILVER only, 120; 200 - 120 = 80 overage.
        assert c2.allowance_minutes == 120
        assert split(c2) == (120, [], 80, 0)


class TestUnfundedRExp5:
    def test_standard_draws_packs_only_and_the_rest_is_unfunded(self) -> None:
        sub = Subscription.default(tenant="acme", at=utc("2026-03-03T10:00:00+01:00"), inbound="k")
        buy(sub, "PK-A", 60, "2026-03-03T10:00:00+01:00")
        c = consume(sub, 90, "2026-03-05T10:00:00+01:00")
        # No allowance, no privileged access: 60 from PK-A, 90 - 60 = 30 overage, all unfunded.
        assert (c.tier, c.privileged, c.allowance_minutes) == ("STANDARD", False, 0)
        assert split(c) == (0, [["PK-A", 60]], 30, 30)

    def test_bronze_window_is_three_calendar_months_rexp2(self) -> None:
        sub = started(Tier.BRONZE, at="2026-01-15T10:00:00+01:00")
        # January, February, March: privileged, 120 a month.
        inside = consume(sub, 30, "2026-03-31T23:30:00+02:00")  # still March in Paris
        assert (inside.month, inside.privileged, inside.allowance_minutes) == (
            "2026-03",
            True,
            120,
        )
        assert split(inside) == (30, [], 0, 0)
        # April (2026-03-31T22:30Z = 2026-04-01T00:30+02:00): the window is over.
        after = consume(sub, 30, "2026-03-31T22:30:00Z")
        assert (after.month, after.tier, after.privileged, after.allowance_minutes) == (
            "2026-04",
            "BRONZE",
            False,
            0,
        )
        assert split(after) == (0, [], 30, 30)

    def test_bronze_window_is_not_restarted_by_leaving_and_coming_back(self) -> None:
        sub = started(Tier.BRONZE, at="2026-01-15T10:00:00+01:00")
        upgrade(sub, Tier.SILVER, "2026-02-10T10:00:00+01:00")
        downgrade(sub, Tier.BRONZE, "2026-05-10T10:00:00+02:00")
        c = consume(sub, 30, "2026-06-10T10:00:00+02:00")
        # BRONZE first in January: window Jan-Mar; June BRONZE is outside it.
        assert (c.tier, c.privileged) == ("BRONZE", False)
        assert split(c) == (0, [], 30, 30)


class TestRulesOfEachChangeRBill5:
    """Each change records the rules behind its dates when the aggregate decides it."""

    def test_each_kind_of_change_records_its_rules(self) -> None:
        sub = Subscription.default(tenant="acme", at=utc("2026-03-01T09:00:00Z"), inbound=key())
        sub.subscribe(at=utc("2026-03-02T09:00:00Z"), inbound=key(), tier=Tier.SILVER)
        events: list[Any] = sub.collect_events()
        events.append(upgrade(sub, Tier.GOLD, "2026-03-03T09:00:00Z"))
        events.append(downgrade(sub, Tier.BRONZE, "2026-03-04T09:00:00Z"))
        recorded = [(e.service_rule, e.billing_rule) for e in events]
        assert recorded == [
            ("R-TIER-2", "R-BILL-3"),
            ("R-BILL-3", "R-BILL-3"),
            ("R-BILL-1", "R-BILL-2"),
            ("R-BILL-4", "R-BILL-2"),
        ]

    def test_an_explicit_start_records_r_bill_3(self) -> None:
        event: Any = started(Tier.GOLD).collect_events()[-1]
        assert (event.service_rule, event.billing_rule) == ("R-BILL-3", "R-BILL-3")
