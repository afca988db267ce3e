"""Bulk ingest of JSON Lines CloudEvents (``ticketflow ingest``), with a dead-letter file.

Every line is validated (contract) then applied (engine) in order, in batches of one
transaction each. A rejected line never blocks the lines after it (R-IN-3); it is reported with
its line number, id and reason, and written to the dead-letter file with its original text.
Blank lines are skipped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ticketflow.bulk import bulk_collection
from ticketflow.contract import InboundEvent, parse_event
from ticketflow.domain.instants import rfc3339
from ticketflow.entrypoints.progress import Progress
from ticketflow.errors import ContractError
from ticketflow.service.engine import Engine
from ticketflow.settings import Settings


@dataclass(frozen=True)
class Rejection:
    line: int
    id: str | None
    reason: str
    detail: str
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestReport:
    accepted: int = 0
    duplicate: int = 0
    published: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    dead_letter: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "published": self.published,
            "rejected": self.rejected,
            "rejections": [r.as_dict() for r in self.rejections],
            "dead_letter": str(self.dead_letter) if self.dead_letter else None,
        }


class DeadLetterFile:
    """Rejected lines as JSON Lines: where they came from, why, and the original text."""

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self.origin = origin
        self._file: IO[str] | None = None

    def write(self, rejection: Rejection, original: str | bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        record: dict[str, Any] = {
            **rejection.as_dict(),
            "origin": self.origin,
            "rejected_at": rfc3339(datetime.now(UTC)),
        }
        if isinstance(original, bytes):  # not UTF-8: kept byte for byte
            record["original_base64"] = base64.b64encode(original).decode()
        else:
            record["original"] = original
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def decode_line(line: str | bytes) -> str:
    """A line as text; raises :class:`ContractError` (``not_utf8``) for invalid UTF-8."""
    if isinstance(line, str):
        return line.rstrip("\r\n")
    try:
        return line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ContractError("not_utf8", f"line is not UTF-8: {exc}") from None


def ingest_lines(
    engine: Engine,
    lines: Iterable[str | bytes],
    dead_letter: DeadLetterFile,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate and apply every line; return the counts and the rejections."""
    report = IngestReport()
    pending: list[tuple[int, str, InboundEvent]] = []

    def reject(number: int, original: str | bytes, rejection: Rejection) -> None:
        report.rejected += 1
        report.rejections.append(rejection)
        dead_letter.write(rejection, original)
        report.dead_letter = dead_letter.path

    def flush() -> None:
        outcomes = engine.apply_batch([event for _, _, event in pending])
        for (number, original, event), outcome in zip(pending, outcomes, strict=True):
            if outcome.status == "accepted":
                report.accepted += 1
            elif outcome.status == "duplicate":
                report.duplicate += 1
            else:
                assert outcome.error is not None
                error = outcome.error
                reject(
                    number,
                    original,
                    Rejection(number, event.id, error.reason, error.detail, error.rule),
                )
        pending.clear()

    number = 0
    with bulk_collection():
        for number, line in enumerate(lines, start=1):
            try:
                text = decode_line(line)
            except ContractError as exc:
                reject(number, line, Rejection(number, None, exc.reason, exc.detail, "R-IN-3"))
                continue
            if not text.strip():
                continue
            try:
                pending.append((number, text, parse_event(text)))
            except ContractError as exc:
                rule = "R-IN-2" if exc.reason == "missing_offset" else "R-IN-3"
                reject(number, text, Rejection(number, exc.event_id, exc.reason, exc.detail, rule))
            if len(pending) >= batch_size:
                flush()
            if progress is not None:
                progress.update(number)
        if pending:
            flush()
    if progress is not None:
        progress.update(number)
        progress.finish()
    dead_letter.close()
    report.rejections.sort(key=lambda r: r.line)
    return report


def publish_lines(
    settings: Settings,
    lines: Iterable[str | bytes],
    dead_letter: DeadLetterFile,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Kafka mode: validate each line, publish the valid ones to the inbound topic (keyed by
    tenant); the engine worker applies them. Contract rejects stay here, in the dead-letter
    file; duplicates and impossible transitions go to the dead-letter topic."""
    from ticketflow.adapters.kafka import publish_inbound

    report = IngestReport()
    keyed: list[tuple[str, str]] = []
    number = 0
    for number, line in enumerate(lines, start=1):
        original: str | bytes = line
        try:
            text = original = decode_line(line)
            if not text.strip():
                continue
            keyed.append((parse_event(text).tenant, text))
        except ContractError as exc:
            rule = "R-IN-2" if exc.reason == "missing_offset" else "R-IN-3"
            rejection = Rejection(number, exc.event_id, exc.reason, exc.detail, rule)
            report.rejected += 1
            report.rejections.append(rejection)
            dead_letter.write(rejection, original)
            report.dead_letter = dead_letter.path
        if len(keyed) >= settings.batch_size:
            report.published += publish_inbound(settings, keyed)
            keyed.clear()
        if progress is not None:
            progress.update(number)
    report.published += publish_inbound(settings, keyed) if keyed else 0
    if progress is not None:
        progress.finish()
    dead_letter.close()
    return report
