"""Inputs never stop the pipeline: instants (R-IN-6), the per-record guard, Kafka modes,
keys (R-IN-5), dead letters that must not be lost, and outages retried then reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError, Tracking
from kafka.errors import KafkaTimeoutError

from tests.factories import event, opened, system_factory, ticket_fact
from tests.fakes import FakeDeadLetters, FakeEngine
from ticketflow.adapters import kafka as kafka_adapter
from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.kafka import DeadLetterTopic, decode_inbound, decode_record
from ticketflow.contract import InboundEvent, parse_event
from ticketflow.entrypoints.workers import OutageError, Retry, record_received, run_until
from ticketflow.errors import BrokerUnavailableError, ContractError, StoreUnavailableError
from ticketflow.service.engine import Decision
from ticketflow.service.ingest import ingest_lines
from ticketflow.service.submit import Candidate, Intake, Rejection
from ticketflow.settings import Settings

OUT_OF_RANGE = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
STRUCTURED = ("content-type", b"application/cloudevents+json")


def text(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def reason_of(raw: Any) -> tuple[str, str]:
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    return info.value.reason, info.value.rule


class TestInstantsRepresentableInUtc:
    @pytest.mark.parametrize("instant", OUT_OF_RANGE)
    @pytest.mark.parametrize("form", ["text", "bytes", "dict"])
    def test_an_instant_utc_cannot_express_is_time_out_of_range(
        self, instant: str, form: str
    ) -> None:
        obj = opened("T-1", instant)
        raw: Any = {"text": text(obj), "bytes": text(obj).encode(), "dict": obj}[form]
        assert reason_of(raw) == ("time_out_of_range", "R-IN-6")

    def test_the_extreme_instants_utc_can_express_are_accepted(self) -> None:
        assert parse_event(opened("T-1", "9999-12-31T23:59:59Z")).time.year == 9999
        assert parse_event(opened("T-2", "0001-01-01T14:00:00+14:00")).time.year == 1

    def test_ingest_rejects_the_line_and_applies_the_others(self, tmp_path: Path) -> None:
        system = system_factory(tmp_path)
        dead = DeadLetterFile(tmp_path / "d", "t")
        try:
            raw = [
                text(opened("T-1", "2026-05-05T10:00:00Z")),
                text(opened("T-2", OUT_OF_RANGE[0])),
                text(opened("T-3", "2026-05-05T11:00:00Z")),
            ]
            report = ingest_lines(system.engine, raw, dead)
        finally:
            dead.close()
            system.close()
        assert (report.accepted, report.rejected) == (2, 1)
        assert [(r.line, r.reason, r.rule) for r in report.rejections] == [
            (2, "time_out_of_range", "R-IN-6")
        ]


class TestOddTypes:
    @pytest.mark.parametrize("type_value", [[], {}, 1, None, True])
    def test_a_type_that_is_not_a_string_is_unknown_type(self, type_value: Any) -> None:
        obj = {**opened("T-1", "2026-05-05T10:00:00Z"), "type": type_value}
        assert reason_of(text(obj))[0] == "unknown_type"
        assert reason_of(obj)[0] == "unknown_type"


class TestNotInTheFuture:
    received = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)

    def intake(self, tolerance: timedelta | None) -> tuple[Intake, FakeEngine, FakeDeadLetters]:
        engine, dead = FakeEngine(), FakeDeadLetters()
        intake = Intake(dead, engine, future_tolerance=tolerance, received=lambda _: self.received)
        return intake, engine, dead

    def candidates(self, *times: str) -> list[Candidate]:
        raws = [text({**opened(f"T-{n}", t), "id": f"id-{n}"}) for n, t in enumerate(times, 1)]
        return [Candidate.of(n, raw, parse_event, raw) for n, raw in enumerate(raws, 1)]

    def test_more_than_the_tolerance_after_reception_is_time_in_future(self) -> None:
        intake, engine, dead = self.intake(timedelta(hours=24))
        results = intake.submit(
            self.candidates(
                "2026-05-06T09:59:59Z", "2026-05-06T10:00:01Z", "2026-05-06T12:00:01+02:00"
            )
        )
        assert [r.status for r in results] == ["accepted", "rejected", "rejected"]
        assert {(r.rejection.reason, r.rejection.rule) for r in results[1:] if r.rejection} == {
            ("time_in_future", "R-IN-6")
        }
        assert [e.id for e in engine.committed] == ["id-1"]
        assert [rejection.line for rejection, _ in dead.written] == [2, 3]

    def test_publishing_applies_the_same_rule(self) -> None:
        intake, _, _ = self.intake(timedelta(hours=1))
        sent: list[Any] = []
        results = intake.publish(
            self.candidates("2026-05-05T10:30:00Z", "2026-05-05T11:30:00Z"), sent.extend
        )
        assert [r.status for r in results] == ["published", "rejected"]
        assert len(sent) == 1

    def test_the_check_can_be_turned_off_for_synthetic_loads(self) -> None:
        intake, engine, _ = self.intake(None)
        intake.submit(self.candidates("2030-01-01T00:00:00Z"))
        assert len(engine.committed) == 1
        settings = Settings.from_env(env={"TICKETFLOW_FUTURE_TOLERANCE_HOURS": "off"})
        assert settings.future_tolerance is None
        assert Settings.from_env(env=settings.to_env()).future_tolerance is None
        assert Settings.from_env(env={}).future_tolerance == timedelta(hours=24)

    def test_a_kafka_record_is_received_at_its_timestamp(self) -> None:
        stamp = int(self.received.timestamp() * 1000)
        assert record_received(SimpleNamespace(timestamp=stamp)) == self.received
        assert record_received(SimpleNamespace(timestamp=-1)) > self.received  # none: now


class ExplodingEngine(FakeEngine):
    """Raises a library-like error whenever a batch holds the event ``id-BAD``."""

    def decide(self, events: Sequence[InboundEvent]) -> Decision:
        if any(e.id == "id-BAD" for e in events):
            raise ZeroDivisionError("a bug deep in a library")
        return super().decide(events)


class TestPerRecordGuard:
    def raws(self, *names: str) -> list[str]:
        return [
            text({**opened(name, "2026-05-05T10:00:00Z"), "id": f"id-{name}"}) for name in names
        ]

    def test_an_exception_deciding_one_event_rejects_that_event_only(self) -> None:
        engine, dead = ExplodingEngine(), FakeDeadLetters()
        raws = self.raws("A", "BAD", "C")
        batch = [Candidate.of(n, raw, parse_event, raw) for n, raw in enumerate(raws, 1)]
        results = Intake(dead, engine).submit(batch, Tracking("in:0", 3))
        assert [r.status for r in results] == ["accepted", "rejected", "accepted"]
        rejection = results[1].rejection
        assert rejection is not None
        assert (rejection.reason, rejection.rule, rejection.id) == (
            "internal_error",
            "R-IN-3",
            "id-BAD",
        )
        assert "ZeroDivisionError" in rejection.detail
        assert "traceback sha256:" in rejection.detail
        assert [e.id for e in engine.committed] == ["id-A", "id-C"]
        assert engine.tracking == [Tracking("in:0", 3)]  # stored once, after the others
        assert [(r.line, original) for r, original in dead.written] == [(2, raws[1])]

    def test_an_exception_while_decoding_is_an_internal_error(self) -> None:
        def decode(raw: str) -> InboundEvent:
            raise KeyError(raw)

        candidate = Candidate.of(7, "x", decode, "x")
        assert candidate.error is not None
        assert (candidate.error.reason, candidate.error.rule) == ("internal_error", "R-IN-3")

    def test_an_outage_is_not_the_record_s_fault(self) -> None:
        class DownEngine(FakeEngine):
            def decide(self, events: Sequence[InboundEvent]) -> Decision:
                raise OperationalError("connection refused")

        dead = FakeDeadLetters()
        with pytest.raises(OperationalError):
            Intake(dead, DownEngine()).submit(
                [Candidate.of(1, r, parse_event, r) for r in self.raws("A")]
            )
        assert dead.written == []


def headers(**attributes: str) -> list[tuple[str, bytes]]:
    return [
        (k.replace("_", "-") if k == "content_type" else k, v.encode())
        for k, v in attributes.items()
    ]


class TestKafkaModes:
    structured = opened("T-1", "2026-05-05T10:00:00Z")

    def test_content_type_decides_structured_mode_whatever_ce_headers(self) -> None:
        value = text(self.structured).encode()
        found = decode_inbound(value, [STRUCTURED, ("ce_traceparent", b"00-abc-01")])
        assert found.id == self.structured["id"]
        with_charset = [("content-type", b"application/cloudevents+json; charset=utf-8")]
        assert decode_inbound(value, with_charset).id == self.structured["id"]

    def test_a_batch_content_type_is_refused_with_a_reason(self) -> None:
        with pytest.raises(ContractError) as info:
            decode_inbound(b"[]", [("content-type", b"application/cloudevents-batch+json")])
        assert info.value.reason == "unsupported_content_type"

    def binary(self, content_type: str | None = "application/json") -> list[tuple[str, bytes]]:
        attributes = {
            "ce_specversion": "1.0",
            "ce_id": "b-1",
            "ce_source": "tests",
            "ce_type": "ticket.acknowledged",
            "ce_subject": "T-1",
            "ce_time": "2026-05-05T10:00:00Z",
            "ce_tenant": "acme",
        }
        found = [(k, v.encode()) for k, v in attributes.items()]
        return found + ([("content-type", content_type.encode())] if content_type else [])

    def test_binary_mode_with_no_value_for_a_type_without_data(self) -> None:
        assert decode_inbound(None, self.binary()).type == "ticket.acknowledged"
        assert decode_inbound(b"", self.binary(None)).type == "ticket.acknowledged"

    def test_binary_mode_content_type_is_the_datacontenttype(self) -> None:
        assert decode_inbound(b"{}", self.binary("application/json; charset=utf-8")).id == "b-1"
        with pytest.raises(ContractError) as info:
            decode_inbound(b"{}", self.binary("text/plain"))
        assert info.value.reason == "schema_violation"
        assert "datacontenttype" in info.value.detail

    def test_datacontenttype_with_parameters_and_missing_data(self) -> None:
        fact = ticket_fact("acknowledged", "T-1", "2026-05-05T10:00:00Z")
        del fact["data"]
        assert parse_event(fact).type == "ticket.acknowledged"
        assert parse_event({**fact, "datacontenttype": "application/json; charset=utf-8"})
        assert reason_of({**fact, "datacontenttype": "application/xml"})[0] == "schema_violation"


class TestKeys:
    value = text(opened("T-1", "2026-05-05T10:00:00Z", tenant="acme")).encode()

    @pytest.mark.parametrize("key", [None, b"T-1", b"other", b"\xff"])
    def test_a_record_not_keyed_by_its_tenant_is_wrong_key(self, key: bytes | None) -> None:
        with pytest.raises(ContractError) as info:
            decode_record(self.value, [STRUCTURED], key)
        assert (info.value.reason, info.value.rule) == ("wrong_key", "R-IN-5")

    def test_a_record_keyed_by_its_tenant_is_decoded(self) -> None:
        assert decode_record(self.value, [STRUCTURED], b"acme").tenant == "acme"

    def test_platform_facts_are_keyed_platform(self) -> None:
        from ticketflow.contract import kafka_key

        tenant_fact = parse_event(
            event("subscription.started", "acme", "2026-05-05T10:00:00Z", {"tier": "GOLD"})
        )
        assert kafka_key(tenant_fact) == "acme"
        platform_fact = SimpleNamespace(type="platform.incident_declared", tenant="")
        assert kafka_key(platform_fact) == "platform"  # type: ignore[arg-type]

    def test_publishing_keys_each_event_by_its_tenant(self) -> None:
        raws = [text(opened("T-1", "2026-05-05T10:00:00Z", tenant=t)) for t in ("acme", "globex")]
        sent: list[tuple[str, Any]] = []
        Intake(FakeDeadLetters()).publish(
            [Candidate.of(n, r, parse_event, r) for n, r in enumerate(raws)], sent.extend
        )
        assert [key for key, _ in sent] == ["acme", "globex"]


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.is_done = True
        self.exception = error

    def failed(self) -> bool:
        return self.exception is not None


class FakeProducer:
    def __init__(self, error: Exception | None = None, send_error: Exception | None = None):
        self.error, self.send_error, self.sent = error, send_error, 0

    def send(self, topic: str, **kwargs: Any) -> FakeFuture:
        if self.send_error is not None:
            raise self.send_error
        self.sent += 1
        return FakeFuture(self.error)

    def flush(self) -> None:
        pass


def record(value: bytes = b"x") -> SimpleNamespace:
    return SimpleNamespace(key=b"k", value=value, headers=[], topic="in", partition=0, offset=4)


class TestDeadLettersAreNeverLostSilently:
    rejection = Rejection(4, None, "not_json", "bad", "R-IN-3")

    def test_a_dead_letter_the_broker_did_not_take_fails_the_flush(self) -> None:
        sink = DeadLetterTopic(FakeProducer(error=KafkaTimeoutError("expired")), "dl")
        sink.write(self.rejection, record())
        with pytest.raises(BrokerUnavailableError):
            sink.flush()

    def test_a_send_error_is_a_broker_outage(self) -> None:
        sink = DeadLetterTopic(FakeProducer(send_error=KafkaTimeoutError("no metadata")), "dl")
        with pytest.raises(BrokerUnavailableError):
            sink.write(self.rejection, record())

    def test_written_dead_letters_flush_cleanly(self) -> None:
        sink = DeadLetterTopic(FakeProducer(), "dl")
        sink.write(self.rejection, record())
        sink.flush()
        assert sink.written == 1


class FlakyWorker:
    """Fails ``failures`` times with a database error, then does one unit of work."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or OperationalError("server closed the connection")
        self.consumer = FakeConsumer()

    def run_once(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return 1


class FakeConsumer:
    def __init__(self) -> None:
        self.sought: list[tuple[str, int]] = []

    def assignment(self) -> set[str]:
        return {"in-0"}

    def committed(self, tp: str, timeout_ms: int | None = None) -> int:
        return 17

    def seek(self, tp: str, offset: int) -> None:
        self.sought.append((tp, offset))


class TestOutages:
    def test_an_outage_is_retried_and_the_consumer_rewound(self) -> None:
        worker = FlakyWorker(failures=2)
        messages: list[str] = []
        retry = Retry(timeout=5, first=0.001, report=messages.append)
        assert retry.run(worker, threading.Event()) == 1
        assert worker.calls == 3
        assert worker.consumer.sought == [("in-0", 17), ("in-0", 17)]
        assert len(messages) == 2
        assert "retrying" in messages[0]

    def test_a_lasting_outage_stops_the_worker_with_a_clear_error(self) -> None:
        worker = FlakyWorker(failures=10**6, error=StoreUnavailableError("down", "check it"))
        retry = Retry(timeout=0.05, first=0.001, longest=0.01, report=lambda _: None)
        with pytest.raises(OutageError) as info:
            run_until([worker], threading.Event(), retry=retry)
        assert "gave up after" in str(info.value)
        assert info.value.hint == "check it"

    def test_a_stop_during_the_backoff_ends_at_once(self) -> None:
        stop = threading.Event()
        stop.set()
        worker = FlakyWorker(failures=10**6)
        assert Retry(timeout=600, first=60, report=lambda _: None).run(worker, stop) == 0

    def test_a_bug_is_not_retried(self) -> None:
        worker = FlakyWorker(failures=1, error=ZeroDivisionError("bug"))
        with pytest.raises(ZeroDivisionError):
            Retry(timeout=5, first=0.001).run(worker, threading.Event())


class TestConsumerSettings:
    def test_a_dead_member_s_session_expires_within_seconds(self) -> None:
        defaults = kafka_adapter.CONSUMER_DEFAULTS
        assert defaults["session_timeout_ms"] <= 6000
        assert defaults["heartbeat_interval_ms"] * 3 <= defaults["session_timeout_ms"]

    def test_closing_waits_for_the_broker_a_bounded_time(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[Any] = []
        monkeypatch.setattr(
            kafka_adapter.KafkaConsumer,
            "close",
            lambda self, autocommit=True, timeout_ms=None: seen.append(timeout_ms),
        )
        unconnected = kafka_adapter.Consumer.__new__(kafka_adapter.Consumer)
        unconnected.close()
        assert seen == [kafka_adapter.CLOSE_TIMEOUT_MS]
