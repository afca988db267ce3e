"""The Subscription aggregate: one tenant's support tier, expertise packs and expert hours.

Tier changes record their service and billing instants with the rules that produced them
(R-BILL-1..5); each consumption records how it was funded (R-EXP-1..6) at the moment it is
applied, so read models only add up recorded facts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ticketflow.domain.billing import ChangeKind, billing_effective_at, change_rules
from ticketflow.domain.calendar import Month
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier
from ticketflow.domain.errors import AlreadyStartedError, SubscriptionTransitionError
from ticketflow.domain.events import trigger
from ticketflow.domain.expertise import (
    TierHistory,
    allocate,
    has_privileged_access,
    month_allowance,
    tier_at,
)
from ticketflow.domain.ids import subscription_id
from ticketflow.domain.instants import rfc3339


def _upcast_rules(state: dict[str, Any], kind: ChangeKind) -> None:
    """v1 tier-change events predate their recorded rules: the rules of their kind then."""
    rules = change_rules(kind)
    state["service_rule"], state["billing_rule"] = rules.service, rules.billing


class Subscription(Aggregate):
    """One tenant's support subscription (subject of ``subscription.*`` and ``expertise.*``)."""

    class Started(Aggregate.Created):
        """v2 adds ``service_rule`` and ``billing_rule``: the rules behind its dates (R-BILL-5)."""

        class_version = 2
        tenant: str
        at: datetime
        inbound: str
        tier: str
        implicit: bool
        billing_effective_at: datetime
        service_rule: str
        billing_rule: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_rules(state, "default" if state["implicit"] else "started")

    class Subscribed(Aggregate.Event):
        """v2 adds ``service_rule`` and ``billing_rule`` (R-BILL-5)."""

        class_version = 2
        at: datetime
        inbound: str
        from_tier: str
        tier: str
        billing_effective_at: datetime
        service_rule: str
        billing_rule: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_rules(state, "started")

    class TierUpgraded(Aggregate.Event):
        """v2 adds ``service_rule`` and ``billing_rule`` (R-BILL-5)."""

        class_version = 2
        at: datetime
        inbound: str
        from_tier: str
        tier: str
        billing_effective_at: datetime
        service_rule: str
        billing_rule: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_rules(state, "upgrade")

    class TierDowngraded(Aggregate.Event):
        """v2 adds ``service_rule`` and ``billing_rule`` (R-BILL-5)."""

        class_version = 2
        at: datetime
        inbound: str
        from_tier: str
        tier: str
        support_ticket: str
        billing_effective_at: datetime
        service_rule: str
        billing_rule: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _upcast_rules(state, "downgrade")

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return subscription_id(tenant)

    @event(Started)
    def __init__(
        self,
        *,
        tenant: str,
        at: datetime,
        inbound: str,
        tier: str,
        implicit: bool,
        billing_effective_at: datetime,
        service_rule: str,
        billing_rule: str,
    ) -> None:
        self.tenant = tenant
        self.implicit = implicit
        self.started_at = at
        self.changes: list[list[Any]] = [[at, tier]]  # [service-effective instant, tier]
        self.packs: list[list[Any]] = []  # [pack_id, purchased_at, minutes, balance]
        self.allowance_used: dict[str, int] = {}  # month -> minutes drawn from the allowance
        self.inbound_keys: dict[str, None] = {inbound: None}

    @classmethod
    def start(cls, *, tenant: str, at: datetime, inbound: str, tier: Tier) -> Subscription:
        """An explicit start; billed from the next month (R-BILL-3)."""
        return cls(
            tenant=tenant,
            at=at,
            inbound=inbound,
            tier=tier.value,
            implicit=False,
            **_dates("started", at),
        )

    @classmethod
    def default(cls, *, tenant: str, at: datetime, inbound: str) -> Subscription:
        """A tenant first seen without a subscription is STANDARD (R-TIER-2)."""
        return cls(
            tenant=tenant,
            at=at,
            inbound=inbound,
            tier=Tier.STANDARD.value,
            implicit=True,
            **_dates("default", at),
        )

    # -- queries --------------------------------------------------------------------------

    @property
    def history(self) -> TierHistory:
        return [(at, Tier(tier)) for at, tier in self.changes]

    def tier_at(self, at: datetime) -> Tier:
        """Tier in force for service at ``at`` (R-BILL-1, R-TIER-2 before the start)."""
        return tier_at(self.history, at)

    def has_applied(self, inbound: str) -> bool:
        """Whether the inbound event ``(source, id)`` was already applied (R-IN-1)."""
        return inbound in self.inbound_keys

    # -- commands -------------------------------------------------------------------------

    def subscribe(self, *, at: datetime, inbound: str, tier: Tier) -> None:
        """The explicit start of a subscription first seen implicitly as STANDARD (R-TIER-2):
        in force now, billed from the next month (R-BILL-3)."""
        if not self.implicit:
            raise AlreadyStartedError(
                f"the subscription of {self.tenant} was already started on "
                f"{rfc3339(self.started_at)}; change its tier with subscription.tier_upgraded "
                "or subscription.tier_downgraded"
            )
        current = self.tier_at(at)
        if tier < current:
            raise SubscriptionTransitionError(
                f"start of {self.tenant} at {tier} rejected: it is lower than the tier in force, "
                f"{current}; a downgrade goes through customer support with its ticket",
                rule="R-BILL-4",
            )
        trigger(
            self,
            "Subscribed",
            at=at,
            inbound=inbound,
            from_tier=current.value,
            tier=tier.value,
            **_dates("started", at),
        )

    def upgrade(self, *, at: datetime, inbound: str, tier: Tier) -> None:
        """Self-service upgrade: in force now (R-BILL-1), billed next month (R-BILL-2)."""
        current = self.tier_at(at)
        if not tier > current:
            raise SubscriptionTransitionError(
                f"upgrade of {self.tenant} to {tier} rejected: it is not higher than the "
                f"current tier {current} (downgrades go through customer support)",
                rule="R-BILL-4",
            )
        trigger(
            self,
            "TierUpgraded",
            at=at,
            inbound=inbound,
            from_tier=current.value,
            tier=tier.value,
            **_dates("upgrade", at),
        )

    def downgrade(self, *, at: datetime, inbound: str, tier: Tier, support_ticket: str) -> None:
        """Downgrade applied by customer support (R-BILL-4)."""
        current = self.tier_at(at)
        if not tier < current:
            standard = " (a tenant without a subscription is STANDARD, R-TIER-2)"
            raise SubscriptionTransitionError(
                f"downgrade of {self.tenant} to {tier} rejected: it is not lower than the "
                f"current tier {current}" + (standard if self.implicit else ""),
                rule="R-BILL-4",
            )
        trigger(
            self,
            "TierDowngraded",
            at=at,
            inbound=inbound,
            from_tier=current.value,
            tier=tier.value,
            support_ticket=support_ticket,
            **_dates("downgrade", at),
        )

    def purchase_pack(self, *, at: datetime, inbound: str, pack_id: str, minutes: int) -> None:
        """A purchased expertise pack; it never expires (R-EXP-3)."""
        if any(pack[0] == pack_id for pack in self.packs):
            raise SubscriptionTransitionError(
                f"pack {pack_id} was already purchased by {self.tenant}", rule="R-IN-3"
            )
        if minutes <= 0:
            raise SubscriptionTransitionError(
                "a pack must hold at least one minute", rule="R-EXP-6"
            )
        trigger(self, "PackPurchased", at=at, inbound=inbound, pack_id=pack_id, minutes=minutes)

    def consume(
        self,
        *,
        at: datetime,
        inbound: str,
        minutes: int,
        ticket: str | None,
        expert: str | None,
        activity: str | None,
        catalog: Catalog = DEFAULT_CATALOG,
    ) -> None:
        """Record expert time and how it is funded (R-EXP-1, 4, 5)."""
        if minutes <= 0:
            raise SubscriptionTransitionError("consumption rounds to zero minutes", rule="R-EXP-6")
        month = Month.of(at)
        history = self.history
        allowance = month_allowance(history, month, at, catalog)
        privileged = has_privileged_access(history, at, catalog)
        packs = [(p[0], p[3]) for p in self.packs if p[1] <= at and p[3] > 0]
        split = allocate(
            minutes,
            allowance_left=allowance - self.allowance_used.get(str(month), 0),
            pack_balances=packs,
            privileged=privileged,
        )
        trigger(
            self,
            "HoursConsumed",
            at=at,
            inbound=inbound,
            minutes=minutes,
            ticket=ticket,
            expert=expert,
            activity=activity,
            month=str(month),
            tier=tier_at(history, at).value,
            privileged=privileged,
            allowance_minutes=allowance,
            from_allowance=split.from_allowance,
            from_packs=[[pack_id, m] for pack_id, m in split.from_packs],
            overage=split.overage,
            unfunded=split.unfunded,
        )

    # -- events ---------------------------------------------------------------------------
    # Each method declares an event class (triggered by the commands above with
    # ``events.trigger``) and is how that event changes the aggregate.

    @event(Subscribed)
    def _subscribed(
        self,
        *,
        at: datetime,
        inbound: str,
        from_tier: str,
        tier: str,
        billing_effective_at: datetime,
        service_rule: str,
        billing_rule: str,
    ) -> None:
        self.implicit = False
        self._record_change(at, tier, inbound)

    @event(TierUpgraded)
    def _tier_upgraded(
        self,
        *,
        at: datetime,
        inbound: str,
        from_tier: str,
        tier: str,
        billing_effective_at: datetime,
        service_rule: str,
        billing_rule: str,
    ) -> None:
        self._record_change(at, tier, inbound)

    @event(TierDowngraded)
    def _tier_downgraded(
        self,
        *,
        at: datetime,
        inbound: str,
        from_tier: str,
        tier: str,
        support_ticket: str,
        billing_effective_at: datetime,
        service_rule: str,
        billing_rule: str,
    ) -> None:
        self._record_change(at, tier, inbound)

    def _record_change(self, at: datetime, tier: str, inbound: str) -> None:
        self.changes.append([at, tier])
        self.changes.sort(key=lambda change: change[0])
        self.inbound_keys[inbound] = None

    @event("PackPurchased")
    def _pack_purchased(self, *, at: datetime, inbound: str, pack_id: str, minutes: int) -> None:
        self.packs.append([pack_id, at, minutes, minutes])
        self.packs.sort(key=lambda pack: pack[1])  # oldest purchase first (R-EXP-4)
        self.inbound_keys[inbound] = None

    @event("HoursConsumed")
    def _hours_consumed(
        self,
        *,
        at: datetime,
        inbound: str,
        minutes: int,
        ticket: str | None,
        expert: str | None,
        activity: str | None,
        month: str,
        tier: str,
        privileged: bool,
        allowance_minutes: int,
        from_allowance: int,
        from_packs: list[list[Any]],
        overage: int,
        unfunded: int,
    ) -> None:
        self.allowance_used[month] = self.allowance_used.get(month, 0) + from_allowance
        balances = dict(from_packs)
        for pack in self.packs:
            pack[3] -= balances.get(pack[0], 0)
        self.inbound_keys[inbound] = None


def _dates(kind: ChangeKind, at: datetime) -> dict[str, Any]:
    """The event fields dating a change of tier in force at ``at``, with their rules (R-BILL-5):
    decided here, when the change is applied, so read models copy them."""
    rules = change_rules(kind)
    return {
        "billing_effective_at": billing_effective_at(at),
        "service_rule": rules.service,
        "billing_rule": rules.billing,
    }
