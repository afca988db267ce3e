"""A dry run of a redrive (``deadletter redrive --dry-run``) goes through the submit path's own
checks, as the redrive itself does, and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.factories import opened, system_factory, ticket_fact
from tests.fakes import FakeDeadLetters
from ticketflow.contract import InboundEvent
from ticketflow.service.deadletters import DeadLetter, preview, redrive
from ticketflow.service.engine import Decision


def letter(entry: int, event: dict[str, Any]) -> DeadLetter:
    event = {**event, "id": f"a-{entry}"}
    return DeadLetter(
        file="ingest.jsonl",
        entry=entry,
        line=entry,
        id=event["id"],
        reason="unknown_ticket",
        rule="R-IN-3",
        detail="",
        origin="ingest",
        rejected_at="2026-01-06T10:00:00Z",
        original=json.dumps(event),
    )


def outcomes(results: Sequence[Any]) -> list[tuple[str | None, str, str | None]]:
    return [(r.id, r.status, r.rejection.reason if r.rejection else None) for r in results]


def test_a_fact_dated_far_in_the_future_previews_as_rejected_time_in_future(
    tmp_path: Path,
) -> None:
    system = system_factory(tmp_path)
    letters = [
        letter(1, opened("T-1", "2026-01-06T10:00:00Z", tenant="acme")),
        letter(2, opened("T-2", "2999-01-06T10:00:00Z", tenant="acme")),
    ]
    try:
        previewed = outcomes(preview(system.engine, letters))
        assert previewed == [
            ("a-1", "accepted", None),
            ("a-2", "rejected", "time_in_future"),
        ]
        assert (system.engine.recorder.max_notification_id() or 0) == 0  # nothing stored
        # The redrive does what its dry run said.
        assert outcomes(redrive(system.engine, letters, FakeDeadLetters())) == previewed
    finally:
        system.close()


class Raising:
    """The engine, but deciding ``bad`` raises (a library's bug on one input)."""

    def __init__(self, engine: Any, bad: str) -> None:
        self.engine, self.bad = engine, bad

    def decide(self, events: Sequence[InboundEvent]) -> Decision:
        if any(e.id == self.bad for e in events):
            raise RuntimeError("boom")
        return self.engine.decide(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def test_an_input_that_raises_previews_as_internal_error_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    system = system_factory(tmp_path)
    letters = [
        letter(1, opened("T-1", "2026-01-06T10:00:00Z", tenant="acme")),
        letter(2, ticket_fact("acknowledged", "T-1", "2026-01-06T10:05:00Z")),
    ]
    try:
        previewed = outcomes(preview(Raising(system.engine, "a-2"), letters))
        assert previewed == [("a-1", "accepted", None), ("a-2", "rejected", "internal_error")]
        assert (system.engine.recorder.max_notification_id() or 0) == 0  # nothing stored
    finally:
        system.close()
