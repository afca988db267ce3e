"""The published contract (DESIGN §3b): one versioned type per domain event, ``schemas/events``
generated from the models without drift, and every record ``ticketflow log`` prints valid
against its type's schema, older stored versions included."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from jsonschema import Draft202012Validator

from tests.factories import system_factory
from ticketflow.contract_events import TYPES, event_json_schemas
from ticketflow.domain.platform import Incident, Maintenance
from ticketflow.domain.subscription import Subscription
from ticketflow.domain.ticket import Ticket
from ticketflow.entrypoints.cli import main
from ticketflow_tools.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "schemas" / "events"
BASES = ("Event", "Created")  # the library's bases, never stored themselves
FIX = "run `ticketflow schemas export --dir schemas` and commit the result"


def domain_events() -> set[str]:
    found = set()
    for aggregate in (Ticket, Subscription, Maintenance, Incident):
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in BASES:
                found.add(value.__qualname__)
    return found


def validators() -> dict[str, Draft202012Validator]:
    return {
        path.stem: Draft202012Validator(
            json.loads(path.read_text("utf-8")), format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for path in EVENTS_DIR.glob("*.json")
    }


class TestTypes:
    def test_every_domain_event_has_one_published_type(self) -> None:
        assert set(TYPES) == domain_events()
        names = [t.name for t in TYPES.values()]
        assert len(set(names)) == len(names)

    def test_names_are_versioned_and_independent_of_code_layout(self) -> None:
        for t in TYPES.values():
            assert re.fullmatch(
                r"ticketflow\.(ticket|subscription|expertise|platform)\.[a-z_]+\.v\d+", t.name
            )


class TestSchemasDrift:
    def test_checked_in_schemas_equal_the_models(self) -> None:
        generated = event_json_schemas()
        on_disk = {p.stem: json.loads(p.read_text("utf-8")) for p in EVENTS_DIR.glob("*.json")}
        assert set(on_disk) == set(generated), FIX
        for name, schema in generated.items():
            assert on_disk[name] == json.loads(json.dumps(schema)), f"{name}: {FIX}"


def ingest(tmp_path: Path, raw: list[str]) -> Path:
    data = tmp_path / "store"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(raw) + "\n", "utf-8")
    main(["--data-dir", str(data), "ingest", str(source)])
    return data


def logged(data: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["--data-dir", str(data), "log", *extra]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


class TestLog:
    def test_every_record_is_valid_and_complete(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = ingest(tmp_path, list(generate(400, seed=3)))
        records = logged(data, capsys)
        checks = validators()
        seen = set()
        for r in records:
            for attribute in ("id", "source", "type", "subject", "time", "tenant", "position"):
                assert r[attribute] not in (None, ""), (attribute, r)
            assert r["specversion"] == "1.0"
            assert r["time"].endswith("Z")
            assert r["dataschema"].endswith(f"/{r['type']}.json")
            errors = list(checks[r["type"]].iter_errors(r["data"]))
            assert not errors, (r, errors[0].message)
            seen.add(r["type"])
        assert [r["position"] for r in records] == list(range(1, len(records) + 1))
        assert {"ticketflow.ticket.opened.v1", "ticketflow.ticket.acknowledged.v1"} <= seen
        assert "_type_" not in json.dumps(records)  # no transcoding of the event store

    def test_from_position_and_table(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = ingest(tmp_path, list(generate(60, seed=4)))
        records = logged(data, capsys)
        tail = logged(data, capsys, "--from", "10")
        assert tail == records[9:]
        capsys.readouterr()
        assert main(["--data-dir", str(data), "log", "--format", "table"]) == 0
        out = capsys.readouterr().out
        assert records[0]["type"] in out
        assert "position" in out

    def test_without_a_store_creates_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--data-dir", str(tmp_path / "none"), "log"]) == 2
        assert not (tmp_path / "none").exists()


class TestOlderStoredVersions:
    def test_version_1_events_are_published_under_their_declared_types(
        self, tmp_path: Path
    ) -> None:
        """An opening without ``edition`` and a stop without ``deadline`` (class version 1)
        are upcast, then published as the ``v1`` types with valid ``data``."""
        from eventsourcing.persistence import StoredEvent

        from tests.unit.test_upcasting import write_v1
        from ticketflow.contract_events import Outbound

        system = system_factory(tmp_path)
        try:
            aggregate_id = write_v1(system.engine, ticket="T-OLD", with_clock=True)
            restored = {
                "timestamp": datetime(2025, 6, 2, 13, 0, 1, tzinfo=UTC),
                "at": datetime(2025, 6, 2, 12, 30, 0, 250000, tzinfo=UTC),
                "inbound": "portal restore-T-OLD",
                "cycle": 1,
                "stopped_clock": True,
            }
            system.engine.recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=aggregate_id,
                        originator_version=2,
                        topic="ticketflow.domain.ticket:Ticket.ServiceRestored",
                        state=system.engine.mapper.transcoder.encode(restored),
                    )
                ]
            )
            outbound = Outbound(system.engine.recorder, system.engine.mapper, "ticketflow/t")
            opened, stop = (
                outbound.record(n) for n in system.engine.recorder.select_notifications(1, 10)
            )
        finally:
            system.close()
        assert (opened.type, stop.type) == (
            "ticketflow.ticket.opened.v1",
            "ticketflow.ticket.service_restored.v1",
        )
        assert opened.data["edition"] == "2025-01"
        assert opened.data["deadline"] == "2025-06-02T12:00:00Z"
        # The stop names its ticket and tenant although its stored event does not.
        assert (stop.subject, stop.tenant, stop.time) == (
            "T-OLD",
            "acme",
            "2025-06-02T12:30:00.250000Z",
        )
        assert stop.data["deadline"] is None
        checks = validators()
        for record in (opened, stop):
            assert not list(checks[record.type].iter_errors(record.data))


class TestOwners:
    def test_owners_are_remembered_in_bounded_memory_and_read_back_when_forgotten(
        self, tmp_path: Path
    ) -> None:
        """An event after its aggregate's first names its subject and tenant as well when the
        owner was forgotten (read back from the aggregate's first event); the owners held stay
        within the limits, whatever the log's length."""
        from ticketflow.bootstrap import open_engine
        from ticketflow.contract_events import Outbound
        from ticketflow.settings import Settings

        data = ingest(tmp_path, list(generate(400, seed=5)))
        engine = open_engine(Settings.from_env(env={}, data_dir=data))
        try:
            notifications = engine.recorder.select_notifications(1, 1000)
            roomy = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
            small = Outbound(engine.recorder, engine.mapper, "ticketflow/t")
            small.LIMIT, small.TENANT_LIMIT = 3, 2
            reads = 0
            select_events = engine.recorder.select_events

            def counted(*args: Any, **kwargs: Any) -> Any:
                nonlocal reads
                reads += 1
                return select_events(*args, **kwargs)

            small.recorder = _Counting(engine.recorder, counted)
            # Each aggregate's last events first, then the ones before: the owners are read
            # back, and those forgotten in between read again.
            ordered = sorted(notifications, key=lambda n: (-n.originator_version, n.id))
            for notification in ordered:
                assert small.record(notification) == roomy.record(notification)
                assert len(small._owners) <= 3
                assert len(small._older) <= 3
                assert len(small._tenants) <= 2
        finally:
            engine.close()
        assert len(notifications) == 400
        assert reads > len({n.originator_id for n in notifications if n.originator_version > 1})


class _Counting:
    """A recorder whose ``select_events`` is counted."""

    def __init__(self, recorder: Any, select_events: Any) -> None:
        self._recorder, self.select_events = recorder, select_events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)
