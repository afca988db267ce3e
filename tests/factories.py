"""Factories for CloudEvents lines and embedded systems used across the test suite."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ticketflow.bootstrap import System
from ticketflow.contract import parse_event
from ticketflow.settings import Settings

_ids = itertools.count(1)


def event(
    type_: str, subject: str, time: str, data: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A CloudEvent as a dict; ``tenant`` defaults to the subject for tenant events."""
    tenant = extra.pop("tenant", subject if not type_.startswith("ticket.") else "acme")
    return {
        "specversion": "1.0",
        "id": extra.pop("id", f"e-{next(_ids)}"),
        "source": extra.pop("source", "tests"),
        "type": type_,
        "subject": subject,
        "time": time,
        "tenant": tenant,
        "data": data if data is not None else {},
        **extra,
    }


def opened(ticket: str, time: str, priority: str = "P1", **data: Any) -> dict[str, Any]:
    tenant = data.pop("tenant", "acme")
    body = {"priority": priority, "channel": "portal", "language": "fr", "category": "compute"}
    return event("ticket.opened", ticket, time, {**body, **data}, tenant=tenant)


def ticket_fact(
    type_: str, ticket: str, time: str, tenant: str = "acme", **data: Any
) -> dict[str, Any]:
    return event(f"ticket.{type_}", ticket, time, data, tenant=tenant)


_inbound_keys = itertools.count(1)


def utc(text: str) -> datetime:
    """An instant written with its offset, in UTC."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, "test instants carry an offset"
    return parsed.astimezone(UTC)


def key() -> str:
    """A fresh inbound key ``(source, id)``."""
    return f"tests e-{next(_inbound_keys)}"


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(e) for e in events]


def system_factory(tmp_path: Path, name: str = "data") -> System:
    return System.open(Settings.from_env(env={}, data_dir=tmp_path / name))


def apply(system: System, events: list[dict[str, Any]]) -> list[str]:
    """Apply events through the engine and project; returns each outcome's status."""
    outcomes = system.engine.apply_batch([parse_event(e) for e in events])
    system.project()
    return [o.status if o.error is None else f"rejected:{o.error.reason}" for o in outcomes]
