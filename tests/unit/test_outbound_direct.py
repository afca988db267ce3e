"""Published records read from the stored JSON (the relay's path) are the records built from
the decoded domain events, field for field and byte for byte; what the direct path does not
read (older class versions, instants with another offset) goes the domain event's way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from tests.factories import system_factory
from ticketflow.contract import parse_event
from ticketflow.contract_events import TYPES, Outbound
from ticketflow.errors import ContractError
from ticketflow_tools import demo
from ticketflow_tools.synthetic import generate


def parsed(line: str) -> Any:
    """The event of a line, ``None`` for one the contract refuses (the demo has a few)."""
    try:
        return parse_event(line)
    except ContractError:
        return None


def through_domain_events(engine: Any, notifications: list[Any]) -> list[Any]:
    outbound = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
    return [outbound.record(n, engine.mapper.to_domain_event(n)) for n in notifications]


def direct(engine: Any, notifications: list[Any]) -> list[Any]:
    outbound = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
    return [outbound.record(n) for n in notifications]


def from_rows(engine: Any, backwards: bool = False) -> list[Any]:
    """The records of the log read as plain rows (``select_stored``, as a catch-up reads it),
    in the log's order or backwards."""
    outbound = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
    rows = engine.recorder.select_stored(1, 100_000, engine.recorder.max_notification_id())
    return [outbound.record_stored(row) for row in (rows[::-1] if backwards else rows)]


def read_directly(engine: Any, notification: Any) -> bool:
    outbound = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
    return outbound._from_state(notification) is not None


def same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x == y
        assert x.value() == y.value()
        assert x.headers() == y.headers()
        assert list(x.data) == list(y.data)  # the model's order


def test_every_synthetic_event_reads_the_same_from_its_json(tmp_path: Path) -> None:
    system = system_factory(tmp_path)
    try:
        engine = system.engine
        lines = [*demo.generate(seed=5, tenants=4, months=2), *generate(2000, seed=11)]
        engine.apply_batch([e for line in lines if (e := parsed(line)) is not None])
        notifications = engine.recorder.select_notifications(1, 100_000)
        types = {n.topic.rsplit(":", 1)[-1] for n in notifications}
        assert len(types) >= 15, types
        # Each read directly, the first of its aggregate or a later one alike.
        assert all(read_directly(engine, n) for n in notifications)
        same(through_domain_events(engine, notifications), direct(engine, notifications))
        same(through_domain_events(engine, notifications), from_rows(engine))
        # In reverse order: a later event's owner is learnt before its aggregate's first.
        backwards = notifications[::-1]
        same(through_domain_events(engine, backwards), direct(engine, backwards))
        same(through_domain_events(engine, backwards), from_rows(engine, backwards=True))
    finally:
        system.close()


def test_what_the_direct_path_does_not_read_goes_through_the_domain_event(
    tmp_path: Path,
) -> None:
    from tests.unit.test_upcasting import write_v1

    system = system_factory(tmp_path)
    try:
        engine = system.engine
        aggregate_id = write_v1(engine, ticket="T-OLD", with_clock=True)  # class version 1
        paris = timezone(timedelta(hours=2))
        states = [
            # another offset than UTC: converted by rfc3339
            {"at": datetime(2025, 6, 2, 14, 30, tzinfo=paris), "cycle": 1, "stopped_clock": True},
            # a fraction of a second
            {"at": datetime(2025, 6, 2, 12, 30, 0, 5, tzinfo=UTC), "cycle": 1},
        ]
        for version, state in enumerate(states, start=2):
            full = {
                "timestamp": datetime(2025, 6, 2, 13, 0, 1, tzinfo=UTC),
                "inbound": f"portal restore-{version}",
                "stopped_clock": False,
                "deadline": None,
                "class_version": 2,
                **state,
            }
            engine.recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=aggregate_id,
                        originator_version=version,
                        topic="ticketflow.domain.ticket:Ticket.ServiceRestored",
                        state=engine.mapper.transcoder.encode(full),
                    )
                ]
            )
        notifications = engine.recorder.select_notifications(1, 10)
        reads = [read_directly(engine, n) for n in notifications]
        assert reads == [False, False, True]
        records = direct(engine, notifications)
        same(through_domain_events(engine, notifications), records)
        same(records, from_rows(engine))
        same(records[::-1], from_rows(engine, backwards=True))
        # The opening (class version 1) is decoded, the last stop read directly: the owner
        # learnt from the first serves the second, whichever path read each.
        reads = []
        outbound = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
        select_events = engine.recorder.select_events
        engine.recorder.select_events = lambda *a, **k: reads.append(a) or select_events(*a, **k)
        rows = engine.recorder.select_stored(1, 10, 10)
        same(records, [outbound.record_stored(row) for row in rows])
        assert reads == []
        assert [r.time for r in records[1:]] == [
            "2025-06-02T12:30:00Z",
            "2025-06-02T12:30:00.000005Z",
        ]
        assert records[0].data["deadline"] == "2025-06-02T12:00:00Z"
    finally:
        system.close()


def test_every_published_type_is_known_to_the_direct_path() -> None:
    from ticketflow.contract_events import _shape

    for qualname in TYPES:
        module = {
            "Ticket": "ticket",
            "Subscription": "subscription",
            "Maintenance": "platform",
            "Incident": "platform",
        }[qualname.split(".")[0]]
        shape = _shape(f"ticketflow.domain.{module}:{qualname}")
        assert shape is not None
        assert shape.qualname == qualname
