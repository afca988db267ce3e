"""The Ticket aggregate: the life of one support ticket and its GTR clock cycles (R-SLA-*).

The SLA decision is taken in the command, from the tier in force at that instant (supplied by
the engine, R-SLA-4), and recorded in the event, so read models never need a join.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier
from ticketflow.domain.errors import TenantMismatchError, TicketTransitionError
from ticketflow.domain.events import create, trigger
from ticketflow.domain.ids import ticket_id
from ticketflow.domain.sla import Clock, NoClock, deadline_at, decide_clock

LEVELS = ("L1", "L2", "L3")


def clock_fields(decision: Clock | NoClock) -> dict[str, Any]:
    """The flat event fields recording a clock decision."""
    if isinstance(decision, Clock):
        return {
            "clock_started_at": decision.started_at,
            "clock_tier": decision.tier.value,
            "gtr_minutes": decision.gtr_minutes,
            "edition": decision.edition,
            "no_clock_rule": None,
            "no_clock_detail": None,
        }
    return {
        "clock_started_at": None,
        "clock_tier": None,
        "gtr_minutes": None,
        "edition": None,
        "no_clock_rule": decision.rule,
        "no_clock_detail": decision.detail,
    }


class Ticket(Aggregate):
    """One upstream ticket (subject of ``ticket.*`` events)."""

    class Opened(Aggregate.Created):
        """v2 adds ``edition`` (the catalog edition that fixed the GTR, R-TIER-1)."""

        class_version = 2
        ticket: str
        tenant: str
        at: datetime
        inbound: str
        priority: str
        channel: str
        language: str
        category: str
        beta_feature: bool
        summary: str | None
        tier: str
        in_planned_window: bool
        clock_started_at: datetime | None
        clock_tier: str | None
        gtr_minutes: int | None
        edition: str | None
        no_clock_rule: str | None
        no_clock_detail: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 events predate catalog editions: a clock they started used the first one.
            state["edition"] = "2025-01" if state.get("clock_started_at") else None

    class ServiceRestored(Aggregate.Event):
        """v2 adds ``deadline``: the deadline of the clock the fact stops (R-SLA-6)."""

        class_version = 2
        at: datetime
        inbound: str
        cycle: int
        stopped_clock: bool
        deadline: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["deadline"] = None  # unknown then: read models look it up

    class Resolved(ServiceRestored):
        """Resolved; stops a clock never stopped by a restoration (R-SLA-6)."""

    class Closed(ServiceRestored):
        """Closed (final); stops a clock still running (R-SLA-6)."""

    @staticmethod
    def create_id(ticket: str) -> UUID:
        return ticket_id(ticket)

    @event(Opened)
    def __init__(
        self,
        *,
        ticket: str,
        tenant: str,
        at: datetime,
        inbound: str,
        priority: str,
        channel: str,
        language: str,
        category: str,
        beta_feature: bool,
        summary: str | None,
        tier: str,
        in_planned_window: bool,
        clock_started_at: datetime | None,
        clock_tier: str | None,
        gtr_minutes: int | None,
        edition: str | None,
        no_clock_rule: str | None,
        no_clock_detail: str | None,
    ) -> None:
        self.ticket = ticket
        self.tenant = tenant
        self.priority = priority
        self.category = category
        self.beta_feature = beta_feature
        self.state = "open"
        self.level = "L1"
        self.acknowledged = False
        self.cycle = 1
        self.cycle_opened_at = at
        self.opened_at = at
        self.clock_running = clock_started_at is not None
        self.deadline = _deadline(clock_started_at, gtr_minutes)
        self.clock_cancelled = False
        self.stopped_at: datetime | None = None
        self.incidents: dict[str, None] = {}
        self.inbound_keys: dict[str, None] = {inbound: None}

    # -- commands -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        ticket: str,
        tenant: str,
        at: datetime,
        inbound: str,
        priority: str,
        channel: str,
        language: str,
        category: str,
        beta_feature: bool,
        summary: str | None,
        tier: Tier,
        catalog: Catalog = DEFAULT_CATALOG,
    ) -> Ticket:
        """Open a ticket; the clock starts now if a GTR applies (R-SLA-1, 2, 8, 9)."""
        from ticketflow.domain.calendar import in_planned_window

        decision = decide_clock(
            priority=priority,
            tier=tier,
            category=category,
            beta_feature=beta_feature,
            cycle_opened_at=at,
            at=at,
            catalog=catalog,
        )
        return create(
            cls,
            cls.Opened,
            ticket_id(ticket),
            ticket=ticket,
            tenant=tenant,
            at=at,
            inbound=inbound,
            priority=priority,
            channel=channel,
            language=language,
            category=category,
            beta_feature=beta_feature,
            summary=summary,
            tier=tier.value,
            in_planned_window=in_planned_window(at),
            **clock_fields(decision),
        )

    def has_applied(self, inbound: str) -> bool:
        """Whether the inbound event ``(source, id)`` was already applied (R-IN-1)."""
        return inbound in self.inbound_keys

    def require_tenant(self, tenant: str) -> None:
        """Facts about a ticket come from its own tenant (R-ACC-3); the refusal names no other
        tenant."""
        if tenant != self.tenant:
            raise TenantMismatchError(f"ticket {self.ticket} is not a ticket of tenant {tenant}")

    def acknowledge(self, *, at: datetime, inbound: str) -> None:
        self._require_active("acknowledge")
        self._in_order(at, "acknowledged")
        trigger(self, "Acknowledged", at=at, inbound=inbound)

    def escalate(self, *, at: datetime, inbound: str, level: str) -> None:
        self._require_active("escalate")
        if LEVELS.index(level) <= LEVELS.index(self.level):
            raise TicketTransitionError(
                f"ticket {self.ticket} is already at level {self.level}; "
                f"cannot escalate to {level}",
                rule="R-IN-3",
            )
        self._in_order(at, "escalated")
        trigger(self, "Escalated", at=at, inbound=inbound, level=level)

    def change_priority(
        self,
        *,
        at: datetime,
        inbound: str,
        priority: str,
        tier: Tier,
        catalog: Catalog = DEFAULT_CATALOG,
    ) -> None:
        """Raise to P1 starts a clock now (R-SLA-3, R-SLA-4); lowering cancels a running one."""
        self._require_active("change the priority of")
        if priority == self.priority:
            raise TicketTransitionError(
                f"ticket {self.ticket} already has priority {priority}", rule="R-IN-3"
            )
        effect = "none"
        new_cycle = False
        fields = clock_fields(NoClock("R-SLA-1", f"priority {priority} carries no GTR"))
        if priority == "P1" and self.state != "open":
            fields = clock_fields(NoClock("R-SLA-6", "service already restored in this cycle"))
        if self.clock_running and priority != "P1":
            effect = "cancelled"
        elif priority == "P1" and self.state == "open" and not self.clock_running:
            decision = decide_clock(
                priority=priority,
                tier=tier,
                category=self.category,
                beta_feature=self.beta_feature,
                cycle_opened_at=self.cycle_opened_at,
                at=at,
                catalog=catalog,
            )
            fields = clock_fields(decision)
            effect = "started" if isinstance(decision, Clock) else "none"
            new_cycle = self.clock_cancelled and isinstance(decision, Clock)
        self._in_order(at, "priority_changed")
        trigger(
            self,
            "PriorityChanged",
            at=at,
            cycle=self.cycle + 1 if new_cycle else self.cycle,
            inbound=inbound,
            priority=priority,
            from_priority=self.priority,
            tier=tier.value,
            clock_effect=effect,
            new_cycle=new_cycle,
            **fields,
        )

    def restore_service(self, *, at: datetime, inbound: str) -> None:
        """Service restored: stops the clock (R-SLA-6)."""
        if self.state != "open":
            raise TicketTransitionError(
                f"ticket {self.ticket} is {self.state}; service can only be restored on an "
                "open ticket" + ("" if self.state == "restored" else " (reopen it first)"),
                # Restored once per cycle (R-SLA-6); after that, only a reopening (R-SLA-7).
                rule="R-SLA-6" if self.state == "restored" else "R-SLA-7",
            )
        self._in_order(at, "service_restored")
        trigger(self, "ServiceRestored", at=at, inbound=inbound, **self._stop_fields())

    def resolve(self, *, at: datetime, inbound: str) -> None:
        """Resolving a ticket never marked restored stops its clock then (R-SLA-6)."""
        if self.state not in ("open", "restored"):
            raise TicketTransitionError(
                f"ticket {self.ticket} is already {self.state}", rule="R-IN-3"
            )
        self._in_order(at, "resolved")
        trigger(self, "Resolved", at=at, inbound=inbound, **self._stop_fields())

    def close(self, *, at: datetime, inbound: str) -> None:
        """Closing is final; a running clock stops then (R-SLA-6)."""
        if self.state == "closed":
            raise TicketTransitionError(f"ticket {self.ticket} is already closed", rule="R-IN-3")
        self._in_order(at, "closed")
        trigger(self, "Closed", at=at, inbound=inbound, **self._stop_fields())

    def reopen(
        self, *, at: datetime, inbound: str, tier: Tier, catalog: Catalog = DEFAULT_CATALOG
    ) -> None:
        """A new cycle with its own clock, rules applied at the reopening instant (R-SLA-7)."""
        if self.state not in ("restored", "resolved"):
            reason = "closed tickets are final" if self.state == "closed" else "it is open"
            raise TicketTransitionError(
                f"ticket {self.ticket} cannot be reopened: {reason}", rule="R-SLA-7"
            )
        decision = decide_clock(
            priority=self.priority,
            tier=tier,
            category=self.category,
            beta_feature=self.beta_feature,
            cycle_opened_at=at,
            at=at,
            catalog=catalog,
        )
        self._in_order(at, "reopened")
        trigger(
            self,
            "Reopened",
            at=at,
            inbound=inbound,
            cycle=self.cycle + 1,
            tier=tier.value,
            **clock_fields(decision),
        )

    def link_incident(self, *, at: datetime, inbound: str, platform_incident: str) -> None:
        """Link the ticket to a platform incident (R-PLAT-3): whom the incident concerns. It
        never changes a GTR, and it is recorded even when the incident is not known yet: the
        platform's facts travel on their own partition (R-PLAT-4). A ticket may be linked to
        several incidents, each once; a link may come in any state of the ticket, not before
        it was opened (R-SLA-2)."""
        if platform_incident in self.incidents:
            raise TicketTransitionError(
                f"ticket {self.ticket} is already linked to incident {platform_incident}",
                rule="R-PLAT-3",
            )
        if at < self.opened_at:
            raise TicketTransitionError(
                f"ticket {self.ticket}: linked_to_incident dated {at.isoformat()} is before "
                f"its opening ({self.opened_at.isoformat()})",
                rule="R-SLA-2",
            )
        trigger(
            self, "LinkedToIncident", at=at, inbound=inbound, platform_incident=platform_incident
        )

    def _stop_fields(self) -> dict[str, Any]:
        """What a restoration, resolution or closing records about the clock it stops."""
        stops = self.clock_running and self.state == "open"
        return {
            "cycle": self.cycle,
            "stopped_clock": stops,
            "deadline": self.deadline if stops else None,
        }

    def _in_order(self, at: datetime, fact: str) -> None:
        """Refuse a fact dated before the ticket's current cycle began (its opening or latest
        reopening): nothing happens to a ticket before it exists, and its clock never starts
        or stops earlier (R-SLA-2). A reopening may not predate the fact that ended the cycle
        it reopens (R-SLA-7). Other orders are accepted as they come (R-IN-4): dropping, say,
        a restoration because an escalation carried a later time would lose the fact the SLA
        depends on."""
        if at < self.cycle_opened_at:
            raise TicketTransitionError(
                f"ticket {self.ticket}: {fact} dated {at.isoformat()} is before its opening or "
                f"latest reopening ({self.cycle_opened_at.isoformat()})",
                rule="R-SLA-2",
            )
        if fact == "reopened" and self.stopped_at is not None and at < self.stopped_at:
            raise TicketTransitionError(
                f"ticket {self.ticket}: reopened dated {at.isoformat()} is before it was "
                f"{self.state} ({self.stopped_at.isoformat()})",
                rule="R-SLA-7",
            )

    def _require_active(self, verb: str) -> None:
        if self.state in ("resolved", "closed"):
            raise TicketTransitionError(
                f"cannot {verb} ticket {self.ticket}: it is {self.state} (reopen it first)",
                rule="R-SLA-7",
            )

    # -- events ---------------------------------------------------------------------------
    # Each method declares an event class (triggered by the commands above with
    # ``events.trigger``) and is how that event changes the aggregate.

    @event("Acknowledged")
    def _acknowledged(self, *, at: datetime, inbound: str) -> None:
        self.acknowledged = True
        self.inbound_keys[inbound] = None

    @event("Escalated")
    def _escalated(self, *, at: datetime, inbound: str, level: str) -> None:
        self.level = level
        self.inbound_keys[inbound] = None

    @event("PriorityChanged")
    def _priority_changed(
        self,
        *,
        at: datetime,
        cycle: int,
        inbound: str,
        priority: str,
        from_priority: str,
        tier: str,
        clock_effect: str,
        new_cycle: bool,
        clock_started_at: datetime | None,
        clock_tier: str | None,
        gtr_minutes: int | None,
        edition: str | None,
        no_clock_rule: str | None,
        no_clock_detail: str | None,
    ) -> None:
        self.priority = priority
        if clock_effect == "cancelled":
            self.clock_running = False
            self.clock_cancelled = True
        elif clock_effect == "started":
            self.clock_running = True
            self.deadline = _deadline(clock_started_at, gtr_minutes)
            if new_cycle:
                self.clock_cancelled = False
        self.cycle = cycle
        self.inbound_keys[inbound] = None

    @event("LinkedToIncident")
    def _linked_to_incident(self, *, at: datetime, inbound: str, platform_incident: str) -> None:
        self.incidents[platform_incident] = None
        self.inbound_keys[inbound] = None

    @event(ServiceRestored)
    def _service_restored(
        self,
        *,
        at: datetime,
        inbound: str,
        cycle: int,
        stopped_clock: bool,
        deadline: datetime | None,
    ) -> None:
        self._stop("restored", inbound, at)

    @event(Resolved)
    def _resolved(
        self,
        *,
        at: datetime,
        inbound: str,
        cycle: int,
        stopped_clock: bool,
        deadline: datetime | None,
    ) -> None:
        self._stop("resolved", inbound, at)

    @event(Closed)
    def _closed(
        self,
        *,
        at: datetime,
        inbound: str,
        cycle: int,
        stopped_clock: bool,
        deadline: datetime | None,
    ) -> None:
        self._stop("closed", inbound, at)

    def _stop(self, state: str, inbound: str, at: datetime) -> None:
        self.state = state
        self.clock_running = False
        self.stopped_at = at
        self.inbound_keys[inbound] = None

    @event("Reopened")
    def _reopened(
        self,
        *,
        at: datetime,
        inbound: str,
        cycle: int,
        tier: str,
        clock_started_at: datetime | None,
        clock_tier: str | None,
        gtr_minutes: int | None,
        edition: str | None,
        no_clock_rule: str | None,
        no_clock_detail: str | None,
    ) -> None:
        self.state = "open"
        self.cycle = cycle
        self.cycle_opened_at = at
        self.clock_running = clock_started_at is not None
        self.deadline = _deadline(clock_started_at, gtr_minutes)
        self.clock_cancelled = False
        self.inbound_keys[inbound] = None


def _deadline(started_at: datetime | None, gtr_minutes: int | None) -> datetime | None:
    if started_at is None or gtr_minutes is None:
        return None
    return deadline_at(started_at, gtr_minutes)
