"""Calendar arithmetic in Europe/Paris; every instant in and out is timezone-aware UTC.

Months are Paris months (R-BILL-2, R-EXP-1); planned maintenance follows R-SLA-9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
WEDNESDAY = 2
MAINTENANCE_START = time(0, 0)
MAINTENANCE_END = time(6, 0)
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def require_aware(at: datetime) -> datetime:
    """Return ``at`` in UTC; naive datetimes are a programming error here (R-IN-2)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"instant {at.isoformat()} has no UTC offset")
    return at.astimezone(UTC)


def paris_midnight(day: date) -> datetime:
    """00:00 Europe/Paris on ``day``, as a UTC instant."""
    return datetime.combine(day, time(0, 0), tzinfo=PARIS).astimezone(UTC)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in Europe/Paris."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} is not between 1 and 12")

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``."""
        match = _MONTH_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"month {text!r} is not of the form YYYY-MM")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, at: datetime) -> Month:
        """The Paris month that contains the instant ``at``."""
        local = require_aware(at).astimezone(PARIS)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self) -> datetime:
        """00:00 Europe/Paris on the first day of the month, in UTC."""
        return paris_midnight(date(self.year, self.month, 1))

    def end(self) -> datetime:
        """The start of the next month (exclusive end)."""
        return self.next().start()

    def days(self) -> list[date]:
        first = date(self.year, self.month, 1)
        last = date(self.next().year, self.next().month, 1)
        return [first + timedelta(days=i) for i in range((last - first).days)]

    def index(self) -> int:
        """Months since year 0, for month arithmetic."""
        return self.year * 12 + self.month - 1

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from ``first`` to ``last`` inclusive."""
    months = []
    current = first
    while current <= last:
        months.append(current)
        current = current.next()
    return months


def maintenance_days(month: Month) -> list[date]:
    """The Wednesdays of planned maintenance in ``month`` (R-SLA-9).

    The first Wednesday and the last three: every Wednesday of a month of four,
    all but the second in a month of five.
    """
    wednesdays = [d for d in month.days() if d.weekday() == WEDNESDAY]
    chosen = {0, len(wednesdays) - 3, len(wednesdays) - 2, len(wednesdays) - 1}
    return [d for i, d in enumerate(wednesdays) if i in chosen]


@lru_cache(maxsize=512)
def _maintenance_days(month: Month) -> frozenset[date]:
    return frozenset(maintenance_days(month))


def maintenance_windows(month: Month) -> list[tuple[datetime, datetime]]:
    """Planned windows of ``month`` as UTC ``[start, end)`` pairs (R-SLA-9)."""
    return [
        (
            datetime.combine(d, MAINTENANCE_START, tzinfo=PARIS).astimezone(UTC),
            datetime.combine(d, MAINTENANCE_END, tzinfo=PARIS).astimezone(UTC),
        )
        for d in maintenance_days(month)
    ]


def in_planned_window(at: datetime) -> bool:
    """Whether ``at`` falls inside a planned maintenance window (R-SLA-9), start inclusive."""
    local = require_aware(at).astimezone(PARIS)
    if local.weekday() != WEDNESDAY or not MAINTENANCE_START <= local.time() < MAINTENANCE_END:
        return False
    return local.date() in _maintenance_days(Month(local.year, local.month))
