"""The dead-letter topic read back for ``ticketflow deadletter list | redrive`` (Kafka mode).

Each record of ``ticketflow.deadletter`` holds the rejected record's key, bytes and headers,
plus headers naming the error and where it came from (``origin_topic``, ``origin_partition``,
``origin_offset``; ``adapters.kafka.deadletter_headers``). A letter is named by its own place,
``<dead-letter topic>:<partition>:<offset>``; the outcome of its redrive is kept in the table
``deadletter_redriven`` of the read-model database, so a letter is redriven once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kafka import KafkaConsumer, TopicPartition

from ticketflow.adapters.errors import translated
from ticketflow.adapters.kafka import _options, decode_inbound, decode_record
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.domain.instants import rfc3339
from ticketflow.service.deadletters import DeadLetter
from ticketflow.service.submit import Candidate
from ticketflow.settings import Settings

ERROR_HEADERS = frozenset(
    {
        "error_reason",
        "error_detail",
        "error_rule",
        "origin_topic",
        "origin_partition",
        "origin_offset",
        "error_value_dropped",
    }
)
LEDGER_DDL = """CREATE TABLE IF NOT EXISTS deadletter_redriven (
    letter TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    redriven_at TEXT NOT NULL
)"""


class TopicLetter(NamedTuple):
    """A dead-letter record: the original key, bytes and headers (the error's headers taken
    off), at its own place, which a new dead letter of its redrive names as its origin."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    origin_topic: str
    letter: DeadLetter


def read_letters(settings: Settings, done: dict[str, str]) -> list[TopicLetter]:
    """Every record of the dead-letter topic, oldest first per partition, with the outcome of
    its redrive from ``done`` (the ledger)."""
    with translated():
        consumer = KafkaConsumer(
            **_options(settings, KafkaConsumer),
            group_id=None,
            enable_auto_commit=False,
            consumer_timeout_ms=1000,
        )
        try:
            topic = settings.topic_deadletter
            partitions = sorted(consumer.partitions_for_topic(topic) or set())
            assigned = [TopicPartition(topic, p) for p in partitions]
            if not assigned:
                return []
            consumer.assign(assigned)
            ends = consumer.end_offsets(assigned)
            consumer.seek_to_beginning(*assigned)
            letters: list[TopicLetter] = []
            left = {tp: end for tp, end in ends.items() if end > 0}
            while left:
                batch = consumer.poll(timeout_ms=1000)
                if not batch:
                    break  # what remains is not readable now (compacted, or a broker away)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < left.get(tp, 0):
                            letters.append(_letter(record, done))
                    if records and records[-1].offset + 1 >= left.get(tp, 0):
                        left.pop(tp, None)
            return sorted(letters, key=lambda t: (t.partition, t.offset))
        finally:
            consumer.close()


def _letter(record: Any, done: dict[str, str]) -> TopicLetter:
    headers = list(record.headers or [])
    errors = {k: (v or b"").decode("utf-8", "replace") for k, v in headers if k in ERROR_HEADERS}
    original = [(k, v) for k, v in headers if k not in ERROR_HEADERS]
    origin_offset = errors.get("origin_offset", "")
    name = f"{record.topic}:{record.partition}"
    letter = DeadLetter(
        file=name,
        entry=int(record.offset),
        line=int(origin_offset) if origin_offset.lstrip("-").isdigit() else -1,
        id=_ce_id(original) or _structured_id(record.value),
        reason=errors.get("error_reason", ""),
        rule=errors.get("error_rule") or None,
        detail=errors.get("error_detail", ""),
        origin=f"{errors.get('origin_topic', '')}:{errors.get('origin_partition', '')}:"
        f"{origin_offset}",
        rejected_at=rfc3339(datetime.fromtimestamp(record.timestamp / 1000, UTC)) or "",
        original=record.value or b"",
        redriven=done.get(f"{name}:{record.offset}"),
    )
    return TopicLetter(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        original,
        errors.get("origin_topic", ""),
        letter,
    )


def _ce_id(headers: Sequence[tuple[str, bytes]]) -> str | None:
    for key, value in headers:
        if key == "ce_id" and value:
            return value.decode("utf-8", "replace")
    return None


def _structured_id(value: bytes | None) -> str | None:
    """The ``id`` of a structured-mode CloudEvent, when the bytes are one."""
    try:
        event = json.loads(value or b"")
    except ValueError:
        return None
    found = event.get("id") if isinstance(event, dict) else None
    return found if isinstance(found, str) else None


def candidates(settings: Settings, letters: Sequence[TopicLetter]) -> list[Candidate]:
    """Each letter decoded as the inbound worker decodes a record: with the key rule
    (R-IN-5) for records of the inbound topic; without it for events posted over HTTP, which
    never had a key."""
    out = []
    for n, t in enumerate(letters, start=1):
        if t.origin_topic == settings.topic_inbound:
            out.append(Candidate.of(n, t, decode_record, t.value, t.headers, t.key))
        else:
            out.append(Candidate.of(n, t, decode_inbound, t.value, t.headers))
    return out


class RedriveLedger:
    """Outcomes of redriven letters, by letter, in the read-model database."""

    def __init__(self, store: ReadModelStore) -> None:
        self.store = store
        with store.transaction() as c:
            c.execute(LEDGER_DDL)

    def outcomes(self) -> dict[str, str]:
        with self.store.transaction() as c:
            c.execute("SELECT letter, outcome FROM deadletter_redriven")
            return {str(letter): str(outcome) for letter, outcome in c.fetchall()}

    def record(self, outcomes: Iterable[tuple[TopicLetter, str]]) -> None:
        at = rfc3339(datetime.now(UTC))
        with self.store.transaction() as c:
            for t, outcome in outcomes:
                c.execute(
                    "INSERT INTO deadletter_redriven (letter, outcome, redriven_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (letter) DO NOTHING",
                    (f"{t.topic}:{t.partition}:{t.offset}", outcome, at),
                )


__all__ = ["RedriveLedger", "TopicLetter", "candidates", "read_letters"]
