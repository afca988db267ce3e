"""The one submit path (``ticketflow.service.submit``) and bulk ingest over it, against fakes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from tests.factories import opened
from tests.fakes import FakeDeadLetters, FakeEngine, FakePublisher, ports_factory
from ticketflow.contract import parse_event
from ticketflow.service.ingest import ingest_lines, publish_lines
from ticketflow.service.submit import Candidate, Intake

Ports = Callable[[], tuple[FakeEngine, FakeDeadLetters]]


@pytest.fixture
def ports() -> Ports:
    return ports_factory()


def line(ticket: str, time: str = "2026-03-10T08:00:00Z", tenant: str = "acme") -> str:
    """A ``ticket.opened`` line whose event id is ``id-<ticket>``."""
    event: dict[str, Any] = {**opened(ticket, time, tenant=tenant), "id": f"id-{ticket}"}
    return json.dumps(event)


def candidates(*texts: str) -> list[Candidate]:
    return [Candidate.of(n, text, parse_event, text) for n, text in enumerate(texts, start=1)]


class TestIntakeSubmit:
    def test_valid_events_are_decided_and_committed_in_order(self, ports: Ports) -> None:
        engine, dead = ports()
        results = Intake(dead, engine).submit(candidates(line("T-1"), line("T-2")))
        assert [(r.line, r.id, r.status) for r in results] == [
            (1, "id-T-1", "accepted"),
            (2, "id-T-2", "accepted"),
        ]
        assert [e.id for e in engine.committed] == ["id-T-1", "id-T-2"]
        assert dead.written == []

    def test_a_contract_rejection_names_its_rule_and_holds_nothing_up(self, ports: Ports) -> None:
        engine, dead = ports()
        naive = line("T-2", time="2026-03-10T08:00:00")  # no offset: R-IN-2
        results = Intake(dead, engine).submit(candidates(line("T-1"), "{not json", naive))
        assert [r.status for r in results] == ["accepted", "rejected", "rejected"]
        reasons = [(r.rejection.reason, r.rejection.rule) for r in results[1:] if r.rejection]
        assert reasons == [("not_json", "R-IN-3"), ("missing_offset", "R-IN-2")]
        assert [e.id for e in engine.committed] == ["id-T-1"]
        assert [(rej.line, original) for rej, original in dead.written] == [
            (2, "{not json"),
            (3, naive),
        ]

    def test_an_engine_rejection_is_dead_lettered_with_its_original(self, ports: Ports) -> None:
        engine, dead = ports()
        engine.reject("id-T-2", "already_opened", "R-IN-3")
        texts = (line("T-1"), line("T-2"))
        results = Intake(dead, engine).submit(candidates(*texts))
        rejection = results[1].rejection
        assert rejection is not None
        assert (rejection.line, rejection.id, rejection.reason, rejection.rule) == (
            2,
            "id-T-2",
            "already_opened",
            "R-IN-3",
        )
        assert dead.written == [(rejection, texts[1])]
        assert [e.id for e in engine.committed] == ["id-T-1"]

    def test_dead_letters_are_flushed_before_the_commit(self, ports: Ports) -> None:
        engine, dead = ports()
        engine.reject("id-T-2", "already_opened", "R-IN-3")
        Intake(dead, engine).submit(candidates("[]", line("T-1"), line("T-2")))
        steps = [step for step, _ in engine.journal]
        assert steps == ["dead_letter", "flush", "decide", "dead_letter", "flush", "commit"]

    def test_a_failing_dead_letter_sink_abandons_the_decision(self, ports: Ports) -> None:
        engine, dead = ports()
        engine.reject("id-T-1", "already_opened", "R-IN-3")
        dead.fail_on_write = True
        with pytest.raises(OSError, match="dead-letter sink unavailable"):
            Intake(dead, engine).submit(candidates(line("T-1"), line("T-2")))
        assert engine.abandoned == 1
        assert engine.committed == []

    def test_a_concurrency_conflict_decides_again_without_repeating_contract_rejects(
        self, ports: Ports
    ) -> None:
        engine, dead = ports()
        engine.conflicts = 1
        results = Intake(dead, engine).submit(candidates("nope", line("T-1")))
        assert [r.status for r in results] == ["rejected", "accepted"]
        assert engine.decided == 2
        assert engine.forgotten == 1
        assert len(dead.written) == 1
        assert [e.id for e in engine.committed] == ["id-T-1"]

    def test_tracking_is_committed_with_the_events(self, ports: Ports) -> None:
        engine, dead = ports()
        tracking = Tracking("ticketflow.inbound:0", 8)
        Intake(dead, engine).submit(candidates(line("T-1")), tracking)
        assert engine.tracking == [tracking]

    def test_an_intake_without_an_engine_cannot_decide(self) -> None:
        with pytest.raises(TypeError, match="only publishes"):
            Intake(FakeDeadLetters()).submit(candidates(line("T-1")))


class TestIntakePublish:
    def test_valid_events_are_published_keyed_by_tenant(self) -> None:
        dead, publish = FakeDeadLetters(), FakePublisher()
        texts = (line("T-1", tenant="acme"), "{", line("T-2", tenant="globex"))
        results = Intake(dead).publish(candidates(*texts), publish)
        assert [r.status for r in results] == ["published", "rejected", "published"]
        assert publish.sent == [("acme", texts[0]), ("globex", texts[2])]
        assert [original for _, original in dead.written] == ["{"]


class TestIngestLines:
    def test_counts_batches_and_blank_lines(self, ports: Ports) -> None:
        engine, dead = ports()
        engine.reject("id-T-3", "already_opened", "R-IN-3")
        lines = [line("T-1"), "", line("T-2"), "   ", line("T-3"), "oops"]
        report = ingest_lines(engine, lines, dead, batch_size=2)
        assert (report.accepted, report.duplicate, report.rejected) == (2, 0, 2)
        assert [(r.line, r.reason) for r in report.rejections] == [
            (5, "already_opened"),
            (6, "not_json"),
        ]
        assert engine.decided == 2  # batches of two non-blank lines

    def test_a_line_that_is_not_utf8_keeps_its_bytes(self, ports: Ports) -> None:
        engine, dead = ports()
        raw = b'{"id": "\xff"}\n'
        report = ingest_lines(engine, [raw, line("T-1").encode()], dead)
        assert [(r.line, r.reason, r.rule) for r in report.rejections] == [
            (1, "not_utf8", "R-IN-3")
        ]
        assert dead.written[0][1] == raw
        assert report.accepted == 1

    def test_publishing_counts_published_and_rejected(self) -> None:
        dead, publish = FakeDeadLetters(), FakePublisher()
        report = publish_lines(publish, [line("T-1"), "x", line("T-2")], dead, batch_size=1)
        assert (report.published, report.rejected) == (2, 1)
        assert len(publish.sent) == 2
