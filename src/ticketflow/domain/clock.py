"""Where "now" comes from: one small port, the system clock by default.

Every reading of "now" that has business meaning (the default instant of a status query, the
tolerance for facts dated in the future, R-IN-6, the instant an alert is due, R-ALERT-1) asks a
:class:`Clock`. ``TICKETFLOW_NOW`` or ``--now T`` fix it (:class:`FixedClock`) for tests and demos.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The source of "now"."""

    def now(self) -> datetime:
        """The current instant, in UTC."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that always says the same instant (``TICKETFLOW_NOW``, ``--now T``)."""

    def __init__(self, at: datetime) -> None:
        if at.utcoffset() is None:
            raise ValueError(f"instant {at.isoformat()} has no UTC offset")
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at


SYSTEM_CLOCK = SystemClock()
