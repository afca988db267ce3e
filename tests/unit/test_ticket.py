"""The Ticket aggregate: transitions, and the clock facts recorded in its events (R-SLA-*).

Restoring a ticket that was never opened is refused by the engine (no aggregate exists), see
``tests/integration/test_engine.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.factories import key, utc
from ticketflow.domain.catalog import Tier
from ticketflow.domain.errors import TicketTransitionError, TransitionError
from ticketflow.domain.ids import ticket_id
from ticketflow.domain.ticket import Ticket


def open_ticket(
    *,
    at: str = "2026-05-04T10:00:00Z",
    priority: str = "P1",
    tier: Tier = Tier.GOLD,
    category: str = "compute",
    beta_feature: bool = False,
    inbound: str | None = None,
) -> Ticket:
    return Ticket.open(
        ticket="T-1",
        tenant="acme",
        at=utc(at),
        inbound=inbound or key(),
        priority=priority,
        channel="portal",
        language="fr",
        category=category,
        beta_feature=beta_feature,
        summary="VM down",
        tier=tier,
    )


def names(ticket: Ticket) -> list[str]:
    return [type(e).__name__ for e in ticket.collect_events()]


def last_event(ticket: Ticket) -> Any:
    return ticket.collect_events()[-1]


def deadline(event: Any) -> datetime:
    end: datetime = event.clock_started_at + timedelta(minutes=event.gtr_minutes)
    return end


# -- commands as callables, for parametrised transition tables --------------------------------


def ack(t: Ticket) -> None:
    t.acknowledge(at=utc("2026-05-04T10:05:00Z"), inbound=key())


def escalate(level: str) -> Callable[[Ticket], None]:
    def command(t: Ticket) -> None:
        t.escalate(at=utc("2026-05-04T10:10:00Z"), inbound=key(), level=level)

    return command


def priority(value: str, tier: Tier = Tier.GOLD, at: str = "2026-05-04T10:30:00Z") -> Any:
    def command(t: Ticket) -> None:
        t.change_priority(at=utc(at), inbound=key(), priority=value, tier=tier)

    return command


def restore(t: Ticket) -> None:
    t.restore_service(at=utc("2026-05-04T12:00:00Z"), inbound=key())


def restore_at(at: str) -> Callable[[Ticket], None]:
    def command(t: Ticket) -> None:
        t.restore_service(at=utc(at), inbound=key())

    return command


def resolve(t: Ticket) -> None:
    t.resolve(at=utc("2026-05-04T13:00:00Z"), inbound=key())


def close(t: Ticket) -> None:
    t.close(at=utc("2026-05-05T09:00:00Z"), inbound=key())


def reopen(tier: Tier = Tier.GOLD, at: str = "2026-05-05T08:00:00Z") -> Any:
    def command(t: Ticket) -> None:
        t.reopen(at=utc(at), inbound=key(), tier=tier)

    return command


class TestOpen:
    def test_state_after_opening(self) -> None:
        ticket = open_ticket(inbound="portal tk-1")
        assert ticket.id == ticket_id("T-1")
        assert (ticket.ticket, ticket.tenant, ticket.priority) == ("T-1", "acme", "P1")
        assert (ticket.state, ticket.level, ticket.cycle) == ("open", "L1", 1)
        assert ticket.acknowledged is False
        assert ticket.clock_running is True
        assert ticket.has_applied("portal tk-1")
        assert not ticket.has_applied("portal tk-2")

    def test_opened_event_records_the_request(self) -> None:
        event = last_event(open_ticket(at="2026-05-04T12:00:00+02:00", inbound="portal tk-1"))
        assert type(event).__name__ == "Opened"
        assert event.at == utc("2026-05-04T10:00:00Z")
        assert (event.ticket, event.tenant, event.inbound) == ("T-1", "acme", "portal tk-1")
        assert (event.channel, event.language, event.category) == ("portal", "fr", "compute")
        assert (event.beta_feature, event.summary) == (False, "VM down")


class TestClockAtOpening:
    """R-SLA-1, R-SLA-2, R-SLA-4: the clock starts at opening with the GTR of the tier then."""

    @pytest.mark.parametrize(
        ("tier", "gtr", "expected_deadline"),
        [
            (Tier.GOLD, 240, "2026-05-04T14:00:00Z"),  # 10:00Z + 4 h
            (Tier.SILVER, 480, "2026-05-04T18:00:00Z"),  # 10:00Z + 8 h
            (Tier.BRONZE, 480, "2026-05-04T18:00:00Z"),  # 10:00Z + 8 h
        ],
    )
    def test_p1_with_a_gtr(self, tier: Tier, gtr: int, expected_deadline: str) -> None:
        event = last_event(open_ticket(tier=tier))
        assert event.tier == tier.value
        assert event.clock_tier == tier.value
        assert event.clock_started_at == utc("2026-05-04T10:00:00Z")  # never earlier, R-SLA-2
        assert event.gtr_minutes == gtr
        assert deadline(event) == utc(expected_deadline)
        assert event.edition == "2025-01"
        assert (event.no_clock_rule, event.no_clock_detail) == (None, None)

    def test_standard_has_no_gtr(self) -> None:
        ticket = open_ticket(tier=Tier.STANDARD)
        assert ticket.clock_running is False
        event = last_event(ticket)
        assert event.tier == "STANDARD"
        assert (event.clock_started_at, event.clock_tier, event.gtr_minutes) == (None, None, None)
        assert event.edition is None
        assert event.no_clock_rule == "R-SLA-1"
        assert "STANDARD" in event.no_clock_detail

    @pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
    def test_not_p1_has_no_gtr(self, priority: str) -> None:
        event = last_event(open_ticket(priority=priority, tier=Tier.GOLD))
        assert event.clock_started_at is None
        assert event.tier == "GOLD"  # the tier is recorded even without a clock
        assert event.no_clock_rule == "R-SLA-1"
        assert priority in event.no_clock_detail

    def test_beta_feature_has_no_sla_rsla8(self) -> None:
        ticket = open_ticket(beta_feature=True, tier=Tier.GOLD)
        assert ticket.clock_running is False
        event = last_event(ticket)
        assert event.clock_started_at is None
        assert event.no_clock_rule == "R-SLA-8"

    # July 2026 has five Wednesdays (1, 8, 15, 22, 29): planned windows on all but the
    # second (the 8th), 00:00-06:00 Paris = 22:00-04:00Z the evening before (CEST, +02:00).
    @pytest.mark.parametrize(
        "at",
        [
            "2026-07-01T00:00:00+02:00",  # first Wednesday, window start (inclusive)
            "2026-07-01T01:00:00+02:00",  # = 2026-06-30T23:00Z, still July 1st in Paris
            "2026-07-29T05:59:59+02:00",  # last Wednesday, just before the end
        ],
    )
    def test_control_plane_in_planned_window_rsla9(self, at: str) -> None:
        event = last_event(open_ticket(at=at, category="control_plane"))
        assert event.in_planned_window is True
        assert event.clock_started_at is None
        assert event.no_clock_rule == "R-SLA-9"

    @pytest.mark.parametrize(
        "at",
        [
            "2026-07-08T01:00:00+02:00",  # second of five Wednesdays: no window
            "2026-07-01T06:00:00+02:00",  # window end is exclusive
            "2026-06-30T23:59:59+02:00",  # Tuesday night
        ],
    )
    def test_control_plane_outside_window_has_a_clock(self, at: str) -> None:
        event = last_event(open_ticket(at=at, category="control_plane"))
        assert event.in_planned_window is False
        assert event.clock_started_at == utc(at)
        assert event.gtr_minutes == 240

    @pytest.mark.parametrize("category", ["compute", "network", "storage", "backup", "other"])
    def test_other_categories_keep_their_clock_in_a_window(self, category: str) -> None:
        event = last_event(open_ticket(at="2026-07-01T01:00:00+02:00", category=category))
        assert event.in_planned_window is True
        assert event.clock_started_at == utc("2026-06-30T23:00:00Z")
        assert event.no_clock_rule is None


class TestValidPaths:
    def test_full_life(self) -> None:
        ticket = open_ticket()
        for command in (ack, escalate("L2"), escalate("L3"), restore, resolve, close):
            command(ticket)
        assert names(ticket) == [
            "Opened",
            "Acknowledged",
            "Escalated",
            "Escalated",
            "ServiceRestored",
            "Resolved",
            "Closed",
        ]
        assert (ticket.state, ticket.level, ticket.acknowledged) == ("closed", "L3", True)

    @pytest.mark.parametrize(
        ("commands", "state"),
        [
            ([escalate("L3")], "open"),  # L1 straight to L3
            ([restore], "restored"),
            ([restore, escalate("L2")], "restored"),
            ([restore, ack], "restored"),
            ([restore, priority("P2")], "restored"),
            ([resolve], "resolved"),  # resolved without restoration first
            ([close], "closed"),  # closed straight from open
            ([restore, close], "closed"),
            ([resolve, close], "closed"),
            ([restore, resolve, close], "closed"),
            ([restore, reopen()], "open"),
            ([resolve, reopen()], "open"),
            ([restore, resolve, reopen()], "open"),
            (
                [
                    restore,
                    reopen(),
                    restore_at("2026-05-05T12:00:00Z"),
                    reopen(at="2026-05-06T08:00:00Z"),
                ],
                "open",
            ),
            ([priority("P2"), priority("P1"), priority("P3")], "open"),
        ],
    )
    def test_reaches_state(self, commands: list[Callable[[Ticket], None]], state: str) -> None:
        ticket = open_ticket()
        for command in commands:
            command(ticket)
        assert ticket.state == state
        assert len(ticket.collect_events()) == 1 + len(commands)

    def test_every_applied_inbound_key_is_remembered(self) -> None:
        ticket = open_ticket(inbound="k0")
        ticket.acknowledge(at=utc("2026-05-04T10:01:00Z"), inbound="k1")
        ticket.escalate(at=utc("2026-05-04T10:02:00Z"), inbound="k2", level="L2")
        ticket.change_priority(
            at=utc("2026-05-04T10:03:00Z"), inbound="k3", priority="P2", tier=Tier.GOLD
        )
        ticket.restore_service(at=utc("2026-05-04T10:04:00Z"), inbound="k4")
        ticket.reopen(at=utc("2026-05-04T10:05:00Z"), inbound="k5", tier=Tier.GOLD)
        ticket.resolve(at=utc("2026-05-04T10:06:00Z"), inbound="k6")
        ticket.close(at=utc("2026-05-04T10:07:00Z"), inbound="k7")
        assert all(ticket.has_applied(f"k{i}") for i in range(8))
        assert not ticket.has_applied("k8")


class TestImpossibleTransitions:
    @pytest.mark.parametrize(
        ("before", "command", "words"),
        [
            pytest.param([restore], restore, "restored", id="restore-twice"),
            pytest.param([resolve], restore, "resolved", id="restore-resolved"),
            pytest.param([close], restore, "closed", id="restore-closed"),
            pytest.param([close], escalate("L2"), "closed", id="escalate-closed"),
            pytest.param([resolve], escalate("L2"), "resolved", id="escalate-resolved"),
            pytest.param([], escalate("L1"), "already at level L1", id="escalate-to-same-L1"),
            pytest.param([escalate("L2")], escalate("L2"), "level L2", id="escalate-to-same"),
            pytest.param([escalate("L3")], escalate("L2"), "level L3", id="escalate-to-lower"),
            pytest.param([], priority("P1"), "already has priority P1", id="same-priority"),
            pytest.param(
                [priority("P3")], priority("P3"), "already has priority P3", id="same-priority-2"
            ),
            pytest.param([close], priority("P2"), "closed", id="priority-on-closed"),
            pytest.param([resolve], priority("P2"), "resolved", id="priority-on-resolved"),
            pytest.param([close], ack, "closed", id="acknowledge-closed"),
            pytest.param([resolve], ack, "resolved", id="acknowledge-resolved"),
            pytest.param([], reopen(), "it is open", id="reopen-open"),
            pytest.param([restore, reopen()], reopen(), "it is open", id="reopen-reopened"),
            pytest.param([close], reopen(), "closed tickets are final", id="reopen-closed"),
            pytest.param(
                [restore, resolve, close], reopen(), "closed tickets are final", id="reopen-final"
            ),
            pytest.param([close], close, "already closed", id="close-twice"),
            pytest.param([resolve], resolve, "already resolved", id="resolve-twice"),
            pytest.param([close], resolve, "already closed", id="resolve-closed"),
        ],
    )
    def test_refused_without_effect(
        self,
        before: list[Callable[[Ticket], None]],
        command: Callable[[Ticket], None],
        words: str,
    ) -> None:
        ticket = open_ticket()
        for step in before:
            step(ticket)
        pending = len(ticket.collect_events())
        snapshot = (ticket.state, ticket.level, ticket.priority, ticket.cycle, ticket.version)
        with pytest.raises(TicketTransitionError, match=words) as info:
            command(ticket)
        assert isinstance(info.value, TransitionError)
        assert "T-1" in str(info.value)
        assert ticket.collect_events() == []  # nothing was recorded
        assert pending == 1 + len(before)
        after = (ticket.state, ticket.level, ticket.priority, ticket.cycle, ticket.version)
        assert after == snapshot


class TestFactsDatedBeforeTheCycle:
    """A fact dated before the ticket's opening or latest reopening is refused (R-SLA-2); a
    reopening dated before the fact that ended the cycle too (R-SLA-7). Other orders are
    accepted as they come (R-IN-4)."""

    @pytest.mark.parametrize(
        ("apply", "fact"),
        [
            (lambda t, at: t.acknowledge(at=at, inbound=key()), "acknowledged"),
            (lambda t, at: t.escalate(at=at, inbound=key(), level="L2"), "escalated"),
            (
                lambda t, at: t.change_priority(
                    at=at, inbound=key(), priority="P2", tier=Tier.GOLD
                ),
                "priority_changed",
            ),
            (lambda t, at: t.restore_service(at=at, inbound=key()), "service_restored"),
            (lambda t, at: t.resolve(at=at, inbound=key()), "resolved"),
            (lambda t, at: t.close(at=at, inbound=key()), "closed"),
        ],
    )
    def test_before_the_opening(self, apply: Callable[[Ticket, datetime], None], fact: str) -> None:
        ticket = open_ticket()  # 2026-05-04T10:00:00Z
        ticket.collect_events()
        with pytest.raises(TicketTransitionError, match=f"{fact} dated .* before its opening") as e:
            apply(ticket, utc("2026-05-04T09:59:59Z"))
        assert e.value.rule == "R-SLA-2"
        assert ticket.collect_events() == []
        apply(ticket, utc("2026-05-04T10:00:00Z"))  # at the opening instant: accepted
        assert len(ticket.collect_events()) == 1

    def test_before_the_latest_reopening(self) -> None:
        ticket = open_ticket()
        restore(ticket)
        reopen(at="2026-05-05T08:00:00Z")(ticket)
        with pytest.raises(TicketTransitionError, match="latest reopening") as e:
            ticket.restore_service(at=utc("2026-05-05T07:00:00Z"), inbound=key())
        assert e.value.rule == "R-SLA-2"

    def test_a_reopening_before_the_restoration_it_reopens(self) -> None:
        ticket = open_ticket()
        restore(ticket)  # 2026-05-04T12:00:00Z
        with pytest.raises(TicketTransitionError, match="before it was restored") as e:
            reopen(at="2026-05-04T11:00:00Z")(ticket)
        assert e.value.rule == "R-SLA-7"

    def test_other_orders_are_accepted(self) -> None:
        ticket = open_ticket()
        restore(ticket)  # 12:00
        escalate("L2")(ticket)  # 10:10, after the restoration arrived: kept
        assert (ticket.state, ticket.level) == ("restored", "L2")


class TestRSla6ClockStops:
    @pytest.mark.parametrize(
        ("commands", "event_name"),
        [
            ([restore], "ServiceRestored"),
            ([resolve], "Resolved"),  # never marked restored: resolving stops it
            ([close], "Closed"),  # never marked restored: closing stops it
        ],
    )
    def test_first_stop_stops_the_running_clock(
        self, commands: list[Callable[[Ticket], None]], event_name: str
    ) -> None:
        ticket = open_ticket()
        for command in commands:
            command(ticket)
        event = last_event(ticket)
        assert type(event).__name__ == event_name
        assert event.stopped_clock is True
        assert event.cycle == 1
        assert ticket.clock_running is False

    @pytest.mark.parametrize("later", [resolve, close])
    def test_after_restoration_nothing_more_stops(self, later: Callable[[Ticket], None]) -> None:
        ticket = open_ticket()
        restore(ticket)
        later(ticket)
        assert last_event(ticket).stopped_clock is False

    def test_no_clock_no_stop(self) -> None:
        ticket = open_ticket(priority="P3")
        restore(ticket)
        assert last_event(ticket).stopped_clock is False

    def test_restored_event_records_its_time(self) -> None:
        ticket = open_ticket()
        ticket.restore_service(at=utc("2026-05-04T15:30:00+02:00"), inbound=key())
        assert last_event(ticket).at == utc("2026-05-04T13:30:00Z")


class TestRSla3PriorityChanges:
    def test_raise_to_p1_starts_the_clock_at_the_change(self) -> None:
        ticket = open_ticket(priority="P3", at="2026-05-04T10:00:00Z")
        assert ticket.clock_running is False
        priority("P1", Tier.GOLD, at="2026-05-04T13:30:00+02:00")(ticket)  # = 11:30Z
        event = last_event(ticket)
        assert (event.from_priority, event.priority) == ("P3", "P1")
        assert event.clock_effect == "started"
        assert event.clock_started_at == utc("2026-05-04T11:30:00Z")  # not 10:00Z: no retroaction
        assert (event.clock_tier, event.gtr_minutes, event.edition) == ("GOLD", 240, "2025-01")
        assert deadline(event) == utc("2026-05-04T15:30:00Z")  # 11:30Z + 4 h
        assert (event.cycle, event.new_cycle) == (1, False)
        assert ticket.clock_running is True

    def test_gtr_comes_from_the_tier_at_the_change(self) -> None:
        # Opened as P3 under BRONZE; upgraded to GOLD before the raise (R-SLA-4).
        ticket = open_ticket(priority="P3", tier=Tier.BRONZE)
        priority("P1", Tier.GOLD, at="2026-05-04T11:00:00Z")(ticket)
        event = last_event(ticket)
        assert (event.tier, event.clock_tier, event.gtr_minutes) == ("GOLD", "GOLD", 240)

    def test_raise_under_standard_starts_nothing(self) -> None:
        ticket = open_ticket(priority="P3", tier=Tier.STANDARD)
        priority("P1", Tier.STANDARD)(ticket)
        event = last_event(ticket)
        assert event.clock_effect == "none"
        assert event.clock_started_at is None
        assert event.no_clock_rule == "R-SLA-1"
        assert ticket.clock_running is False

    def test_lowering_cancels_the_running_clock(self) -> None:
        ticket = open_ticket(priority="P1")
        priority("P2", at="2026-05-04T11:00:00Z")(ticket)
        event = last_event(ticket)
        assert (event.from_priority, event.priority) == ("P1", "P2")
        assert event.clock_effect == "cancelled"
        assert event.clock_started_at is None
        assert (event.cycle, event.new_cycle) == (1, False)
        assert ticket.clock_running is False
        assert ticket.clock_cancelled is True

    def test_raise_after_cancel_starts_a_new_cycle(self) -> None:
        ticket = open_ticket(priority="P1", at="2026-05-04T10:00:00Z")
        priority("P2", at="2026-05-04T11:00:00Z")(ticket)
        priority("P1", Tier.SILVER, at="2026-05-04T12:00:00Z")(ticket)
        event = last_event(ticket)
        assert event.clock_effect == "started"
        assert (event.cycle, event.new_cycle) == (2, True)
        assert event.clock_started_at == utc("2026-05-04T12:00:00Z")
        assert (event.clock_tier, event.gtr_minutes) == ("SILVER", 480)
        assert deadline(event) == utc("2026-05-04T20:00:00Z")  # 12:00Z + 8 h
        assert ticket.cycle == 2
        assert ticket.clock_running is True
        assert ticket.clock_cancelled is False

    def test_cancel_then_raise_twice_gives_three_cycles(self) -> None:
        ticket = open_ticket(priority="P1")
        for value, at in [
            ("P2", "2026-05-04T11:00:00Z"),
            ("P1", "2026-05-04T12:00:00Z"),
            ("P3", "2026-05-04T13:00:00Z"),
            ("P1", "2026-05-04T14:00:00Z"),
        ]:
            priority(value, at=at)(ticket)
        events: list[Any] = list(ticket.collect_events())
        effects = [(e.clock_effect, e.cycle) for e in events if hasattr(e, "clock_effect")]
        assert effects == [("cancelled", 1), ("started", 2), ("cancelled", 2), ("started", 3)]

    def test_lowering_again_has_no_clock_to_cancel(self) -> None:
        ticket = open_ticket(priority="P1")
        priority("P2", at="2026-05-04T11:00:00Z")(ticket)
        priority("P3", at="2026-05-04T11:30:00Z")(ticket)
        event = last_event(ticket)
        assert event.clock_effect == "none"
        assert event.cycle == 1

    def test_change_between_lower_priorities_does_nothing(self) -> None:
        ticket = open_ticket(priority="P4")
        priority("P2")(ticket)
        event = last_event(ticket)
        assert (event.clock_effect, event.no_clock_rule) == ("none", "R-SLA-1")

    def test_raise_after_restoration_starts_nothing(self) -> None:
        ticket = open_ticket(priority="P2")
        restore(ticket)
        priority("P1", at="2026-05-04T12:30:00Z")(ticket)
        event = last_event(ticket)
        assert event.clock_effect == "none"
        assert event.no_clock_rule == "R-SLA-6"
        assert ticket.clock_running is False

    def test_raise_of_a_beta_ticket_starts_nothing(self) -> None:
        ticket = open_ticket(priority="P3", beta_feature=True)
        priority("P1")(ticket)
        event = last_event(ticket)
        assert (event.clock_effect, event.no_clock_rule) == ("none", "R-SLA-8")

    def test_raise_of_a_control_plane_ticket_opened_in_a_window_starts_nothing(self) -> None:
        # Opened 2026-07-01T01:00+02:00 (a planned window); raised at 10:00 Paris, outside it.
        ticket = open_ticket(
            priority="P3", category="control_plane", at="2026-07-01T01:00:00+02:00"
        )
        priority("P1", at="2026-07-01T10:00:00+02:00")(ticket)
        event = last_event(ticket)
        assert (event.clock_effect, event.no_clock_rule) == ("none", "R-SLA-9")


class TestRSla7Reopen:
    def test_reopen_starts_a_new_cycle_with_the_tier_at_reopening(self) -> None:
        ticket = open_ticket(tier=Tier.GOLD, at="2026-05-04T10:00:00Z")
        restore(ticket)
        # Downgraded to SILVER since: the new cycle's GTR is SILVER's.
        reopen(Tier.SILVER, at="2026-05-05T10:00:00+02:00")(ticket)  # = 08:00Z
        event = last_event(ticket)
        assert type(event).__name__ == "Reopened"
        assert event.cycle == 2
        assert event.tier == "SILVER"
        assert event.clock_started_at == utc("2026-05-05T08:00:00Z")
        assert (event.clock_tier, event.gtr_minutes, event.edition) == ("SILVER", 480, "2025-01")
        assert deadline(event) == utc("2026-05-05T16:00:00Z")  # 08:00Z + 8 h
        assert (ticket.state, ticket.cycle, ticket.clock_running) == ("open", 2, True)

    def test_reopen_from_resolved(self) -> None:
        ticket = open_ticket()
        resolve(ticket)
        reopen(Tier.GOLD, at="2026-05-05T08:00:00Z")(ticket)
        event = last_event(ticket)
        assert (event.cycle, event.gtr_minutes) == (2, 240)

    def test_reopen_of_a_p2_ticket_has_no_clock(self) -> None:
        ticket = open_ticket(priority="P2")
        restore(ticket)
        reopen()(ticket)
        event = last_event(ticket)
        assert event.clock_started_at is None
        assert event.no_clock_rule == "R-SLA-1"
        assert ticket.clock_running is False

    def test_reopen_after_downgrade_to_standard_has_no_clock(self) -> None:
        ticket = open_ticket(tier=Tier.GOLD)
        restore(ticket)
        reopen(Tier.STANDARD)(ticket)
        event = last_event(ticket)
        assert (event.tier, event.clock_started_at, event.no_clock_rule) == (
            "STANDARD",
            None,
            "R-SLA-1",
        )

    def test_window_rule_applies_at_the_reopening_instant(self) -> None:
        # Opened in a window (no SLA); reopened outside any window: the new cycle has a clock.
        ticket = open_ticket(category="control_plane", at="2026-07-01T01:00:00+02:00")
        assert last_event(ticket).no_clock_rule == "R-SLA-9"
        ticket.restore_service(at=utc("2026-07-01T08:00:00+02:00"), inbound=key())
        reopen(Tier.GOLD, at="2026-07-02T09:00:00+02:00")(ticket)
        event = last_event(ticket)
        assert event.clock_started_at == utc("2026-07-02T07:00:00Z")
        # ... and reopened inside a window (Wed 15 July, 03:00 Paris): no clock.
        ticket.restore_service(at=utc("2026-07-02T10:00:00+02:00"), inbound=key())
        reopen(Tier.GOLD, at="2026-07-15T03:00:00+02:00")(ticket)
        assert last_event(ticket).no_clock_rule == "R-SLA-9"
        assert ticket.cycle == 3

    def test_after_reopen_the_clock_stops_again(self) -> None:
        ticket = open_ticket()
        restore(ticket)
        reopen()(ticket)
        ticket.restore_service(at=utc("2026-05-05T09:00:00Z"), inbound=key())
        event = last_event(ticket)
        assert (event.cycle, event.stopped_clock) == (2, True)
