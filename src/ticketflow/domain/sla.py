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
STATUSES: tuple[str, ...] = tuple(STATUS_SEVERITY)  # R-SLA-10, least severe first
Threshold = Literal[50, 75]
WARNING: Threshold = 50  # R-SLA-10, R-ALERT-1: ``sla.warning``
AT_RISK: Threshold = 75  # R-SLA-10: ``at_risk`` from here; R-ALERT-1: ``sla.at_risk``


def deadline_at(started_at: datetime, gtr_minutes: int) -> datetime:
    """The deadline of a clock (R-SLA-4): its start plus the GTR fixed then, counted 24x7 with no
    pause (R-SLA-5)."""
    return started_at + timedelta(minutes=gtr_minutes)


def threshold_at(started_at: datetime, gtr_minutes: int, threshold: Threshold) -> datetime:
    """When ``threshold`` % of the GTR has elapsed on a clock (R-SLA-10, R-ALERT-1)."""
    return started_at + timedelta(minutes=gtr_minutes * threshold / 100)


@dataclass(frozen=True)
class Clock:
    """A running GTR clock, fixed when it starts (R-SLA-4)."""

    started_at: datetime
    tier: Tier
    gtr_minutes: int
    edition: str

    @property
    def deadline(self) -> datetime:
        return deadline_at(self.started_at, self.gtr_minutes)

    @property
    def warning_at(self) -> datetime:
        return threshold_at(self.started_at, self.gtr_minutes, WARNING)

    @property
    def at_risk_at(self) -> datetime:
        return threshold_at(self.started_at, self.gtr_minutes, AT_RISK)


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
    # R-PLAT-1: the announced maintenance that exempts the cycle (``platform.exempting_window``)
    exempted_by: str | None = None

    @property
    def ended_at(self) -> datetime | None:
        """When the cycle's clock ended, cancelled or stopped (it can only end once)."""
        return self.cancelled_at if self.cancelled_at is not None else self.stopped_at


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


Outcome = Literal["met", "breached", "not_applicable"]


@dataclass(frozen=True)
class Settlement:
    """How a cycle whose clock ended came out; final, whatever instant it is looked at from."""

    outcome: Outcome
    reason: str | None  # the rule when ``not_applicable`` (R-SLA-3)
    breach_minutes: int


def settle(deadline: datetime, ended_at: datetime, *, cancelled: bool) -> Settlement:
    """The outcome of a clock that ended at ``ended_at`` (R-SLA-10).

    Stopped (R-SLA-6: restored, or resolved or closed unrestored) at or before the deadline it
    is ``met``, after it ``breached`` by the minutes late. Cancelled by lowering the priority
    (R-SLA-3) at or before the deadline, no GTR applies any more: ``not_applicable``, R-SLA-3.
    Cancelled after the deadline, the breach stands: lowering the priority does not erase it.
    Every surface (query, SQL columns ``outcome`` and ``breach_minutes``, report) uses this.
    """
    late = breach_minutes(deadline, ended_at)
    if late:
        return Settlement("breached", None, late)
    if cancelled:
        return Settlement("not_applicable", "R-SLA-3", 0)
    return Settlement("met", None, 0)


def cycle_status(cycle: Cycle, as_of: datetime) -> CycleStatus:
    """Status of a cycle as of ``as_of`` (R-SLA-10). A cycle exempted by an announced
    control-plane maintenance carries no SLA, whatever its clock (R-PLAT-1)."""
    if cycle.exempted_by is not None:
        return CycleStatus("not_applicable", "R-PLAT-1", 0, False, False)
    clock = cycle.clock
    if clock is None or as_of < clock.started_at:
        return CycleStatus("not_applicable", cycle.no_clock_rule or "R-SLA-1", 0, False, False)
    ended = cycle.ended_at
    if ended is not None and ended <= as_of:
        settled = settle(clock.deadline, ended, cancelled=cycle.cancelled_at is not None)
        if settled.outcome == "not_applicable":
            return CycleStatus(settled.outcome, settled.reason, 0, False, False)
        return CycleStatus(
            settled.outcome,
            settled.reason,
            settled.breach_minutes,
            clock.warning_at <= ended,
            clock.at_risk_at <= ended,
        )
    if as_of > clock.deadline:
        return CycleStatus("breached", None, breach_minutes(clock.deadline, as_of), True, True)
    if clock.at_risk_at <= as_of:
        return CycleStatus("at_risk", None, 0, True, True)
    return CycleStatus("running", None, 0, clock.warning_at <= as_of, False)


def clock_running(cycle: Cycle, as_of: datetime) -> bool:
    """Whether the cycle's GTR clock runs at ``as_of`` (R-SLA-10): started by then, neither
    stopped nor cancelled by then, and not exempted (R-PLAT-1). A clock past its deadline
    still runs (``breached``, and the minutes grow)."""
    clock = cycle.clock
    if clock is None or cycle.exempted_by is not None or as_of < clock.started_at:
        return False
    ended = cycle.ended_at
    return ended is None or ended > as_of


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
