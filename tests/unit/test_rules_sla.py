"""Guaranteed time to restore (R-SLA-*): clock decisions and status as of an instant."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from ticketflow.domain.catalog import Tier
from ticketflow.domain.sla import (
    Clock,
    Cycle,
    CycleStatus,
    NoClock,
    breach_minutes,
    cycle_status,
    deadline_at,
    decide_clock,
    settle,
    threshold_at,
    ticket_status,
)


def utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


def decide(
    *,
    at: str,
    opened: str | None = None,
    priority: str = "P1",
    tier: Tier = Tier.GOLD,
    category: str = "network",
    beta: bool = False,
) -> Clock | NoClock:
    return decide_clock(
        priority=priority,
        tier=tier,
        category=category,
        beta_feature=beta,
        cycle_opened_at=utc(opened or at),
        at=utc(at),
    )


def started(at: str, tier: Tier = Tier.GOLD, *, opened: str | None = None) -> Clock:
    decision = decide(at=at, opened=opened, tier=tier)
    assert isinstance(decision, Clock), decision
    return decision


def cycle(clock: Clock, *, stopped: str | None = None, cancelled: str | None = None) -> Cycle:
    return Cycle(
        opened_at=clock.started_at,
        clock=clock,
        no_clock_rule=None,
        stopped_at=None if stopped is None else utc(stopped),
        cancelled_at=None if cancelled is None else utc(cancelled),
    )


def status(cyc: Cycle, as_of: str) -> CycleStatus:
    return cycle_status(cyc, utc(as_of))


# A GOLD clock (GTR 4 h = 240 min) started 2026-06-10T08:00Z:
#   50 % = 08:00 + 120 min = 10:00Z, 75 % = 08:00 + 180 min = 11:00Z, deadline = 12:00Z.
GOLD_START = "2026-06-10T08:00:00+00:00"


class TestRSla1GtrOnlyForP1OfTiersWithOne:
    @pytest.mark.parametrize(
        ("tier", "gtr_minutes"),
        [(Tier.BRONZE, 480), (Tier.SILVER, 480), (Tier.GOLD, 240)],  # 8 h, 8 h, 4 h
    )
    def test_p1_of_a_tier_with_a_gtr(self, tier: Tier, gtr_minutes: int) -> None:
        clock = started(GOLD_START, tier)
        assert clock.tier is tier
        assert clock.gtr_minutes == gtr_minutes
        assert clock.edition == "2025-01"
        assert clock.deadline == utc(GOLD_START) + timedelta(minutes=gtr_minutes)

    @pytest.mark.parametrize("priority", ["P2", "P3", "P4"])
    def test_other_priorities_have_no_clock(self, priority: str) -> None:
        decision = decide(at=GOLD_START, priority=priority)
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-1"
        assert priority in decision.detail

    def test_standard_has_no_gtr(self) -> None:
        decision = decide(at=GOLD_START, tier=Tier.STANDARD)
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-1"
        assert "STANDARD" in decision.detail

    def test_cycle_without_clock_is_not_applicable_with_its_rule(self) -> None:
        no_clock = Cycle(opened_at=utc(GOLD_START), clock=None, no_clock_rule="R-SLA-1")
        assert status(no_clock, "2026-06-20T00:00:00+00:00") == CycleStatus(
            "not_applicable", "R-SLA-1", 0, False, False
        )


class TestRSla3RaisedOrLoweredPriority:
    def test_raised_to_p1_starts_at_the_change(self) -> None:
        # Opened P2 at 08:00Z, raised to P1 at 09:30Z: GOLD deadline 09:30 + 4 h = 13:30Z,
        # not 12:00Z (no retroactive start).
        clock = started("2026-06-10T09:30:00+00:00", opened=GOLD_START)
        assert clock.started_at == utc("2026-06-10T09:30:00+00:00")
        assert clock.deadline == utc("2026-06-10T13:30:00+00:00")

    def test_before_the_raise_nothing_applies(self) -> None:
        clock = started("2026-06-10T09:30:00+00:00", opened=GOLD_START)
        raised = Cycle(opened_at=utc(GOLD_START), clock=clock, no_clock_rule=None)
        assert status(raised, "2026-06-10T09:00:00+00:00").status == "not_applicable"
        # 13:00Z is 210 min after 09:30Z: past 75 % (180 min) of 240.
        assert status(raised, "2026-06-10T13:00:00+00:00").status == "at_risk"

    def test_lowered_before_restoration_cancels_the_clock(self) -> None:
        cancelled = cycle(started(GOLD_START), cancelled="2026-06-10T10:30:00+00:00")
        # Before the cancellation the clock runs: 10:15Z is 135 min in, past 50 % (120 min).
        before = status(cancelled, "2026-06-10T10:15:00+00:00")
        assert (before.status, before.crossed_50, before.crossed_75) == ("running", True, False)
        assert status(cancelled, "2026-06-10T10:30:00+00:00") == CycleStatus(
            "not_applicable", "R-SLA-3", 0, False, False
        )
        # Long after the deadline (12:00Z) a clock cancelled before it is still not breached.
        assert status(cancelled, "2026-06-11T00:00:00+00:00").status == "not_applicable"

    def test_lowered_after_the_deadline_keeps_the_breach(self) -> None:
        # GOLD from 08:00Z: deadline 12:00Z; lowered at 12:45Z → breached by 45 min, for good.
        late = cycle(started(GOLD_START), cancelled="2026-06-10T12:45:00+00:00")
        assert status(late, "2026-06-12T00:00:00+00:00") == CycleStatus(
            "breached", None, 45, True, True
        )


class TestRSla4GtrFixedAtClockStart:
    def test_tier_at_the_start_decides(self) -> None:
        # SILVER at 08:00Z: 8 h → deadline 16:00Z.
        silver = started(GOLD_START, Tier.SILVER)
        assert (silver.tier, silver.gtr_minutes) == (Tier.SILVER, 480)
        assert silver.deadline == utc("2026-06-10T16:00:00+00:00")

    def test_later_upgrade_does_not_shorten_a_running_deadline(self) -> None:
        # A SILVER clock from 08:00Z is not breached at 12:30Z (270 min < 480 min), even if
        # the tenant is GOLD (4 h) by then: the clock holds its own GTR.
        silver = cycle(started(GOLD_START, Tier.SILVER))
        result = status(silver, "2026-06-10T12:30:00+00:00")
        # 75 % of 480 = 360 min = 14:00Z; 50 % = 240 min = 12:00Z.
        assert (result.status, result.crossed_50, result.crossed_75) == ("running", True, False)

    def test_clock_is_immutable(self) -> None:
        clock = started(GOLD_START)
        with pytest.raises(dataclasses.FrozenInstanceError):
            clock.gtr_minutes = 480  # type: ignore[misc]


class TestRSla5ClockRunsAroundTheClock:
    def test_weekend_counts(self) -> None:
        # BRONZE from Friday 2026-06-12T20:00Z: + 480 min = Saturday 04:00Z.
        weekend = cycle(started("2026-06-12T20:00:00+00:00", Tier.BRONZE))
        assert weekend.clock is not None
        assert weekend.clock.deadline == utc("2026-06-13T04:00:00+00:00")
        assert status(weekend, "2026-06-13T04:00:01+00:00").status == "breached"

    def test_elapsed_time_not_wall_clock_across_dst(self) -> None:
        # 2026-03-29T00:30Z = 01:30 Paris (+01:00); GOLD + 4 h = 04:30Z = 06:30 Paris (+02:00):
        # the wall clock shows 5 h but 4 h have elapsed.
        clock = started("2026-03-29T01:30:00+01:00")
        assert clock.deadline == utc("2026-03-29T06:30:00+02:00")


class TestRSla6StopOnRestoration:
    def test_restored_before_deadline_is_met_for_ever(self) -> None:
        # Restored 10:30Z: 150 min of 240, past 50 % (120) but not 75 % (180).
        restored = cycle(started(GOLD_START), stopped="2026-06-10T10:30:00+00:00")
        assert status(restored, "2026-06-10T10:30:00+00:00") == CycleStatus(
            "met", None, 0, True, False
        )
        assert status(restored, "2026-07-01T00:00:00+00:00") == CycleStatus(
            "met", None, 0, True, False
        )

    def test_before_the_stop_the_clock_still_runs(self) -> None:
        restored = cycle(started(GOLD_START), stopped="2026-06-10T12:30:00+00:00")
        # As of 11:30Z (210 min in) the stop has not happened yet: at risk.
        assert status(restored, "2026-06-10T11:30:00+00:00").status == "at_risk"
        # As of 12:10Z: running 10 min past the 12:00Z deadline.
        assert status(restored, "2026-06-10T12:10:00+00:00") == CycleStatus(
            "breached", None, 10, True, True
        )
        # From 12:30Z on the breach is frozen at 30 min.
        assert status(restored, "2026-06-12T00:00:00+00:00") == CycleStatus(
            "breached", None, 30, True, True
        )

    def test_resolved_unrestored_stops_the_same_way(self) -> None:
        # The aggregate records a resolve/close without restoration as stopped_at too.
        resolved = cycle(started(GOLD_START), stopped="2026-06-10T08:45:00+00:00")
        assert status(resolved, "2026-06-10T20:00:00+00:00") == CycleStatus(
            "met", None, 0, False, False
        )


class TestRSla7ReopenedTicketsAndTicketStatus:
    MET = CycleStatus("met", None, 0, True, False)
    RUNNING = CycleStatus("running", None, 0, False, False)
    AT_RISK = CycleStatus("at_risk", None, 0, True, True)

    def test_reopening_starts_a_new_clock_with_the_rules_at_reopening(self) -> None:
        # Reopened 2026-06-11T09:00Z while SILVER: a fresh 480-min clock, deadline 17:00Z.
        reopened = started(
            "2026-06-11T09:00:00+00:00", Tier.SILVER, opened="2026-06-11T09:00:00+00:00"
        )
        assert reopened.deadline == utc("2026-06-11T17:00:00+00:00")

    def test_breached_if_any_cycle_is(self) -> None:
        breached = CycleStatus("breached", None, 30, True, True)
        assert ticket_status([self.MET, breached, self.RUNNING]) == CycleStatus(
            "breached", None, 30, True, True
        )
        assert ticket_status([breached, self.MET]).status == "breached"

    def test_breach_minutes_add_up_over_cycles(self) -> None:
        first = CycleStatus("breached", None, 5, True, True)
        second = CycleStatus("breached", None, 7, True, True)
        # 5 + 7 = 12
        assert ticket_status([first, second]).breach_minutes == 12

    def test_most_severe_otherwise(self) -> None:
        assert ticket_status([self.MET, self.RUNNING]) == CycleStatus(
            "running", None, 0, True, False
        )
        assert ticket_status([self.RUNNING, self.AT_RISK, self.MET]).status == "at_risk"
        na = CycleStatus("not_applicable", "R-SLA-3", 0, False, False)
        assert ticket_status([self.MET, na]).status == "met"

    def test_only_not_applicable_keeps_the_last_reason(self) -> None:
        first = CycleStatus("not_applicable", "R-SLA-9", 0, False, False)
        last = CycleStatus("not_applicable", "R-SLA-3", 0, False, False)
        assert ticket_status([first, last]) == last

    def test_a_ticket_has_a_cycle(self) -> None:
        with pytest.raises(ValueError, match="at least one cycle"):
            ticket_status([])

    def test_from_cycles(self) -> None:
        # First cycle restored at 13:00Z, 60 min late; reopened at 20:00Z, as of 21:00Z
        # 60 of 240 min elapsed. The ticket stays breached by 60 min.
        first = cycle(started(GOLD_START), stopped="2026-06-10T13:00:00+00:00")
        second = cycle(started("2026-06-10T20:00:00+00:00"))
        as_of = utc("2026-06-10T21:00:00+00:00")
        result = ticket_status([cycle_status(first, as_of), cycle_status(second, as_of)])
        assert (result.status, result.breach_minutes) == ("breached", 60)


class TestRSla8BetaFeatures:
    def test_beta_has_no_sla(self) -> None:
        decision = decide(at=GOLD_START, beta=True)
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-8"

    def test_beta_wins_over_maintenance(self) -> None:
        # 2026-04-01T02:00+02:00 is in the first Wednesday's window, but beta is checked first.
        decision = decide(at="2026-04-01T02:00:00+02:00", category="control_plane", beta=True)
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-8"


class TestRSla9PlannedMaintenance:
    @pytest.mark.parametrize(
        "opened",
        [
            "2026-04-01T00:00:00+02:00",  # first Wednesday of April, window start (inclusive)
            "2026-04-01T05:59:59+02:00",
            "2026-04-29T03:00:00+02:00",  # last Wednesday
            "2026-03-11T03:00:00+01:00",  # second Wednesday of a four-Wednesday month
            "2026-03-03T23:30:00+00:00",  # = 2026-03-04T00:30 Paris, first Wednesday of March
        ],
    )
    def test_control_plane_ticket_opened_in_a_window(self, opened: str) -> None:
        decision = decide(at=opened, category="control_plane")
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-9"

    @pytest.mark.parametrize(
        "opened",
        [
            "2026-04-01T06:00:00+02:00",  # window end is exclusive
            "2026-03-31T23:59:59+02:00",  # Tuesday, just before the window
            "2026-04-08T03:00:00+02:00",  # second Wednesday of a five-Wednesday month
        ],
    )
    def test_control_plane_ticket_outside_windows(self, opened: str) -> None:
        assert isinstance(decide(at=opened, category="control_plane"), Clock)

    def test_other_categories_are_unaffected(self) -> None:
        assert isinstance(decide(at="2026-04-01T02:00:00+02:00", category="network"), Clock)

    def test_raised_to_p1_after_the_window_still_has_no_sla(self) -> None:
        # Opened at 02:00 Paris inside the window, raised to P1 at 09:00 Paris outside it:
        # the opening instant is what counts.
        decision = decide(
            opened="2026-04-01T02:00:00+02:00",
            at="2026-04-01T09:00:00+02:00",
            category="control_plane",
        )
        assert isinstance(decision, NoClock)
        assert decision.rule == "R-SLA-9"


class TestRSla10Status:
    gold = cycle(started(GOLD_START))

    @pytest.mark.parametrize(
        ("as_of", "expected"),
        [
            (
                "2026-06-10T07:59:59+00:00",
                CycleStatus("not_applicable", "R-SLA-1", 0, False, False),
            ),
            ("2026-06-10T08:00:00+00:00", CycleStatus("running", None, 0, False, False)),
            ("2026-06-10T09:59:59+00:00", CycleStatus("running", None, 0, False, False)),
            # 50 % of 240 = 120 min → 10:00Z
            ("2026-06-10T10:00:00+00:00", CycleStatus("running", None, 0, True, False)),
            ("2026-06-10T10:59:59+00:00", CycleStatus("running", None, 0, True, False)),
            # 75 % of 240 = 180 min → 11:00Z
            ("2026-06-10T11:00:00+00:00", CycleStatus("at_risk", None, 0, True, True)),
            # exactly at the deadline a running clock is at risk, not breached
            ("2026-06-10T12:00:00+00:00", CycleStatus("at_risk", None, 0, True, True)),
            # 1 µs late rounds up to 1 minute
            ("2026-06-10T12:00:00.000001+00:00", CycleStatus("breached", None, 1, True, True)),
            ("2026-06-10T12:01:00+00:00", CycleStatus("breached", None, 1, True, True)),
            # 61 s late → ceil(61 / 60) = 2
            ("2026-06-10T12:01:01+00:00", CycleStatus("breached", None, 2, True, True)),
            # 2 h 30 late → 150
            ("2026-06-10T14:30:00+00:00", CycleStatus("breached", None, 150, True, True)),
        ],
    )
    def test_running_clock(self, as_of: str, expected: CycleStatus) -> None:
        assert status(self.gold, as_of) == expected

    @pytest.mark.parametrize(
        ("stopped", "expected"),
        [
            ("2026-06-10T09:00:00+00:00", CycleStatus("met", None, 0, False, False)),
            ("2026-06-10T10:00:00+00:00", CycleStatus("met", None, 0, True, False)),
            ("2026-06-10T11:30:00+00:00", CycleStatus("met", None, 0, True, True)),
            # restored exactly at the deadline is met
            ("2026-06-10T12:00:00+00:00", CycleStatus("met", None, 0, True, True)),
            # restored 30 s late → ceil(30 / 60) = 1
            ("2026-06-10T12:00:30+00:00", CycleStatus("breached", None, 1, True, True)),
            # restored 3 h late → 180
            ("2026-06-10T15:00:00+00:00", CycleStatus("breached", None, 180, True, True)),
        ],
    )
    def test_stopped_clock(self, stopped: str, expected: CycleStatus) -> None:
        stopped_cycle = cycle(started(GOLD_START), stopped=stopped)
        assert status(stopped_cycle, "2026-06-30T00:00:00+00:00") == expected

    def test_bronze_fractions(self) -> None:
        # BRONZE 480 min from 22:00Z: 50 % = 240 min → 02:00Z, 75 % = 360 → 04:00Z,
        # deadline 06:00Z next day.
        bronze = cycle(started("2026-06-10T22:00:00+00:00", Tier.BRONZE))
        assert bronze.clock is not None
        assert bronze.clock.warning_at == utc("2026-06-11T02:00:00+00:00")
        assert bronze.clock.at_risk_at == utc("2026-06-11T04:00:00+00:00")
        assert status(bronze, "2026-06-11T01:59:00+00:00").crossed_50 is False
        assert status(bronze, "2026-06-11T02:00:00+00:00").crossed_50 is True
        assert status(bronze, "2026-06-11T03:59:00+00:00").status == "running"
        assert status(bronze, "2026-06-11T04:00:00+00:00").status == "at_risk"
        assert status(bronze, "2026-06-11T06:00:00+00:00").status == "at_risk"
        assert status(bronze, "2026-06-11T06:00:59+00:00").breach_minutes == 1

    @pytest.mark.parametrize(
        ("late_by", "minutes"),
        [
            (timedelta(0), 0),
            (timedelta(seconds=-30), 0),
            (timedelta(seconds=1), 1),
            (timedelta(seconds=59), 1),
            (timedelta(seconds=60), 1),
            (timedelta(seconds=60, microseconds=1), 2),
            (timedelta(hours=2), 120),
            (timedelta(days=1, seconds=1), 1441),  # 1440 + 1
        ],
    )
    def test_breach_minutes_round_up(self, late_by: timedelta, minutes: int) -> None:
        deadline = utc("2026-06-10T12:00:00+00:00")
        assert breach_minutes(deadline, deadline + late_by) == minutes


class TestOneFunctionPerRuleRSla11:
    """The functions every surface uses: deadline, thresholds, and a settled cycle's outcome."""

    def test_deadline_and_thresholds(self) -> None:
        start = utc(GOLD_START)
        assert deadline_at(start, 240) == utc("2026-06-10T12:00:00+00:00")
        assert threshold_at(start, 240, 50) == utc("2026-06-10T10:00:00+00:00")
        assert threshold_at(start, 240, 75) == utc("2026-06-10T11:00:00+00:00")
        clock = started(GOLD_START)
        assert (clock.deadline, clock.warning_at, clock.at_risk_at) == (
            deadline_at(start, 240),
            threshold_at(start, 240, 50),
            threshold_at(start, 240, 75),
        )

    @pytest.mark.parametrize(
        ("ended", "cancelled", "expected"),
        [
            ("2026-06-10T11:00:00+00:00", False, ("met", None, 0)),
            ("2026-06-10T12:00:00+00:00", False, ("met", None, 0)),
            ("2026-06-10T12:00:01+00:00", False, ("breached", None, 1)),
            ("2026-06-10T11:00:00+00:00", True, ("not_applicable", "R-SLA-3", 0)),
            ("2026-06-10T12:00:00+00:00", True, ("not_applicable", "R-SLA-3", 0)),
            # Lowered at 20:00Z, 8 h after the 12:00Z deadline: the breach stands.
            ("2026-06-10T20:00:00+00:00", True, ("breached", None, 480)),
        ],
    )
    def test_settle(
        self, ended: str, cancelled: bool, expected: tuple[str, str | None, int]
    ) -> None:
        settled = settle(utc("2026-06-10T12:00:00+00:00"), utc(ended), cancelled=cancelled)
        assert (settled.outcome, settled.reason, settled.breach_minutes) == expected

    @pytest.mark.parametrize("cancelled", [False, True])
    def test_cycle_status_after_the_end_is_the_settlement(self, cancelled: bool) -> None:
        end = "2026-06-10T20:00:00+00:00"
        ended = cycle(started(GOLD_START), **{"cancelled" if cancelled else "stopped": end})
        settled = settle(utc("2026-06-10T12:00:00+00:00"), utc(end), cancelled=cancelled)
        result = status(ended, "2026-07-01T00:00:00+00:00")
        assert (result.status, result.breach_minutes) == (settled.outcome, settled.breach_minutes)
