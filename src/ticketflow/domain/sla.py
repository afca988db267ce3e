"""Guaranteed time to restore (R-SLA-*) as pure functions.

A ticket has one or more *cycles*. A cycle begins when the ticket is opened (R-SLA-2), reopened
(R-SLA-7), or raised to P1 again after its clock was cancelled (R-SLA-3); it holds at most one
clock. The decision whether a clock runs, and with which GTR, is taken when the cycle's clock
would start and recorded in the event (R-SLA-4); status as of any instant is derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ticketflow.domain.calendar import in_planned_window
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Tier

Status = Literal["met", "breached", "at_risk", "running", "not_applicable"]
STATUS_SEVERITY: dict[str, int] = {
    "not_applicable": 0,
    "met": 1,
    "running": 2,
    "at_risk": 3,
    "breached": 4,
}
AT_RISK_FRACTION = 0.75
WARN_FRACTION = 0.5


@dataclass(frozen=True)
class Clock:
    """A running GTR clock, fixed when it starts (R-SLA-4)."""

    started_at: datetime
    tier: Tier
    gtr_minutes: int
    edition: str

    @property
    def deadline(self) -> datetime:
        return self.started_at + timedelta(minutes=self.gtr_minutes)

    def fraction_at(self, fraction: float) -> datetime:
        return self.started_at + timedelta(minutes=self.gtr_minutes * fraction)


@dataclass(frozen=True)
class NoClock:
    """Why no clock runs, with the rule that says so."""

    rule: str
    detail: str


def decide_clock(
    *,
    priority: str,
    tier: Tier,
    category: str,
    beta_feature: bool,
    cycle_opened_at: datetime,
    at: datetime,
    catalog: Catalog = DEFAULT_CATALOG,
) -> Clock | NoClock:
    """Whether a clock starts at ``at`` for a cycle opened at ``cycle_opened_at``.

    ``tier`` is the tier in force for service at ``at`` (R-SLA-4, R-BILL-1).
    """
    if beta_feature:
        return NoClock("R-SLA-8", "ticket about a beta feature")
    if category == "control_plane" and in_planned_window(cycle_opened_at):
        return NoClock("R-SLA-9", "control-plane ticket opened in a planned maintenance window")
    if priority != "P1":
        return NoClock("R-SLA-1", f"priority {priority} carries no GTR")
    edition = catalog.edition_at(at)
    gtr = edition.terms(tier).gtr_minutes
    if gtr is None:
        return NoClock("R-SLA-1", f"tier {tier} has no GTR")
    return Clock(started_at=at, tier=tier, gtr_minutes=gtr, edition=edition.id)


@dataclass(frozen=True)
class Cycle:
    """The facts of one cycle, as recorded by the Ticket aggregate."""

    opened_at: datetime
    clock: Clock | None
    no_clock_rule: str | None  # why the cycle has no clock (when clock is None)
    cancelled_at: datetime | None = None  # R-SLA-3: lowered from P1 before restoration
    stopped_at: datetime | None = None  # R-SLA-6: restored, or resolved/closed unrestored


@dataclass(frozen=True)
class CycleStatus:
    status: Status
    reason: str | None
    breach_minutes: int
    crossed_50: bool
    crossed_75: bool


def breach_minutes(deadline: datetime, end: datetime) -> int:
    """Whole minutes past the deadline, rounded up (a breach is at least one minute)."""
    seconds = (end - deadline).total_seconds()
    return max(0, math.ceil(seconds / 60))


def cycle_status(cycle: Cycle, as_of: datetime) -> CycleStatus:
    """Status of a cycle as of ``as_of`` (R-SLA-10)."""
    clock = cycle.clock
    if clock is None or as_of < clock.started_at:
        return CycleStatus("not_applicable", cycle.no_clock_rule or "R-SLA-1", 0, False, False)
    if cycle.cancelled_at is not None and cycle.cancelled_at <= as_of:
        if cycle.cancelled_at > clock.deadline:
            # Lowering the priority once the deadline has passed does not erase the breach.
            late = breach_minutes(clock.deadline, cycle.cancelled_at)
            return CycleStatus("breached", None, late, True, True)
        return CycleStatus("not_applicable", "R-SLA-3", 0, False, False)
    stopped = cycle.stopped_at is not None and cycle.stopped_at <= as_of
    end = cycle.stopped_at if stopped and cycle.stopped_at is not None else as_of
    crossed_50 = clock.fraction_at(WARN_FRACTION) <= end
    crossed_75 = clock.fraction_at(AT_RISK_FRACTION) <= end
    if stopped:
        if end <= clock.deadline:
            return CycleStatus("met", None, 0, crossed_50, crossed_75)
        return CycleStatus("breached", None, breach_minutes(clock.deadline, end), True, True)
    if as_of > clock.deadline:
        return CycleStatus("breached", None, breach_minutes(clock.deadline, as_of), True, True)
    if crossed_75:
        return CycleStatus("at_risk", None, 0, True, True)
    return CycleStatus("running", None, 0, crossed_50, False)


def ticket_status(statuses: list[CycleStatus]) -> CycleStatus:
    """A ticket is breached if any cycle is (R-SLA-7); otherwise its most severe cycle."""
    if not statuses:
        raise ValueError("a ticket has at least one cycle")
    worst = max(statuses, key=lambda s: STATUS_SEVERITY[s.status])
    if worst.status == "not_applicable":
        worst = statuses[-1]
    return CycleStatus(
        worst.status,
        worst.reason,
        sum(s.breach_minutes for s in statuses),
        any(s.crossed_50 for s in statuses),
        any(s.crossed_75 for s in statuses),
    )
