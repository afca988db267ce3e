"""Instants as text: RFC 3339 in UTC with ``Z`` (DESIGN §3b, §7), written and read here only.

Read models, JSON output, history, the report and dead-letter records all show instants through
:func:`rfc3339`, so the same instant is always the same text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def rfc3339(at: datetime) -> str: ...


@overload
def rfc3339(at: None) -> None: ...


@overload
def rfc3339(at: datetime | None) -> str | None: ...


def rfc3339(at: datetime | None) -> str | None:
    """``at`` as RFC 3339 UTC text ending in ``Z`` (a fraction of a second only when it has one);
    ``None`` stays ``None``. Naive datetimes are a programming error."""
    if at is None:
        return None
    if at.tzinfo is not UTC:  # instants are already UTC almost always: skip the conversion then
        if at.utcoffset() is None:
            raise ValueError(f"instant {at.isoformat()} has no UTC offset")
        at = at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


@overload
def parse_rfc3339(text: str) -> datetime: ...


@overload
def parse_rfc3339(text: None) -> None: ...


@overload
def parse_rfc3339(text: str | None) -> datetime | None: ...


def parse_rfc3339(text: str | None) -> datetime | None:
    """Text written by :func:`rfc3339` (or any RFC 3339 instant with an offset) back to a UTC
    instant; ``None`` stays ``None``."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"instant {text!r} has no UTC offset")
    return value if value.tzinfo is UTC else value.astimezone(UTC)
