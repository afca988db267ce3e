"""Live SLA alerts (R-ALERT-1, R-ALERT-2) as a pure function of a clock cycle and an instant.

A cycle's clock crosses 50 % (``sla.warning``), 75 % (``sla.at_risk``) and 100 % of its GTR
(``sla.breached``); a clock that ends after its deadline says so once more (``sla.stopped``,
with the breach minutes). The instants come from the cycle (``ticketflow.domain.sla``); which of
them are due at an instant is decided here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ticketflow.domain.sla import breach_minutes

Threshold = Literal["warning", "at_risk", "breached", "stopped"]
THRESHOLDS: tuple[Threshold, ...] = ("warning", "at_risk", "breached", "stopped")
# The latency target of DESIGN §6: an alert emitted later than this after its instant is late.
LATE_AFTER = timedelta(seconds=5)


@dataclass(frozen=True)
class CycleClock:
    """What an alert needs of one cycle whose clock started (a row of ``sla_cycles``)."""

    started_at: datetime
    warning_at: datetime
    at_risk_at: datetime
    deadline: datetime
    ended_at: datetime | None = None  # stopped (R-SLA-6) or cancelled (R-SLA-3)


@dataclass(frozen=True)
class Due:
    """A threshold crossed: which, when, and (``stopped``) the breach minutes."""

    threshold: Threshold
    at: datetime
    breach_minutes: int | None = None


def crossings(clock: CycleClock, now: datetime) -> list[Due]:
    """The thresholds of ``clock`` crossed at or before ``now`` (R-ALERT-1).

    A threshold counts only while the clock runs: a clock that ended (stopped or cancelled) at
    or before a threshold's instant emits nothing for it. A clock that ended after its deadline
    adds ``stopped`` at its end, with the minutes past the deadline (rounded up, as the SLA's
    ``breach_minutes``). Nothing is due before its instant, whatever the log already holds."""
    ended = clock.ended_at
    instants: tuple[tuple[Threshold, datetime], ...] = (
        ("warning", clock.warning_at),
        ("at_risk", clock.at_risk_at),
        ("breached", clock.deadline),
    )
    due = [Due(name, at) for name, at in instants if at <= now and (ended is None or at < ended)]
    if ended is not None and ended > clock.deadline and ended <= now:
        due.append(Due("stopped", ended, breach_minutes(clock.deadline, ended)))
    return due


def is_late(threshold_at: datetime, emitted_at: datetime) -> bool:
    """An alert emitted more than :data:`LATE_AFTER` after its instant is ``late`` (R-ALERT-2):
    crossed while the alerter was down, or learnt from a fact that arrived after it."""
    return emitted_at - threshold_at > LATE_AFTER
