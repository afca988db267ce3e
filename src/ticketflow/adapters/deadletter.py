"""Dead letters in a file: rejected inputs as JSON Lines, with where they came from, why, and
their original text (or bytes, base64) — the embedded mode's counterpart of the dead-letter
topic."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ticketflow.domain.instants import rfc3339
from ticketflow.errors import QueryError
from ticketflow.service.deadletters import DeadLetter
from ticketflow.service.submit import Rejection

LEDGER = "redriven.jsonl"  # outcomes of redriven letters, kept beside them


class DeadLetterFile:
    """A :class:`~ticketflow.service.submit.DeadLetters` sink appending to ``path``; the file
    is created with the first rejection only."""

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self.origin = origin
        self.written = 0
        self._file: IO[str] | None = None

    def write(self, rejection: Rejection, original: Any) -> None:
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
        self.written += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_directory(directory: Path) -> list[DeadLetter]:
    """Every dead letter in ``directory`` (oldest file first), with its redrive outcome."""
    if not directory.is_dir():
        return []
    done = _ledger(directory / LEDGER)
    letters: list[DeadLetter] = []
    for path in sorted(directory.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name)):
        if path.name == LEDGER:
            continue
        for entry, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if text.strip():
                letter = _letter(path.name, entry, text)
                letters.append(_with(letter, done.get(letter.key)))
    return letters


def _letter(name: str, entry: int, text: str) -> DeadLetter:
    try:
        record = json.loads(text)
        original: str | bytes = (
            base64.b64decode(record["original_base64"])
            if "original_base64" in record
            else record["original"]
        )
        return DeadLetter(
            file=name,
            entry=entry,
            line=int(record["line"]),
            id=record.get("id"),
            reason=str(record["reason"]),
            rule=record.get("rule"),
            detail=str(record.get("detail", "")),
            origin=str(record.get("origin", "")),
            rejected_at=str(record.get("rejected_at", "")),
            original=original,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError(f"{name}, entry {entry}: not a dead-letter record ({exc})") from None


def _with(letter: DeadLetter, outcome: str | None) -> DeadLetter:
    return letter if outcome is None else replace(letter, redriven=outcome)


def _ledger(path: Path) -> dict[tuple[str, int], str]:
    if not path.is_file():
        return {}
    done: dict[tuple[str, int], str] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        if text.strip():
            record = json.loads(text)
            done[(record["file"], int(record["entry"]))] = str(record["outcome"])
    return done


def record_redriven(directory: Path, outcomes: Iterable[tuple[DeadLetter, str]]) -> None:
    """Append each redriven letter's new outcome to the directory's ledger."""
    with (directory / LEDGER).open("a", encoding="utf-8") as ledger:
        for letter, outcome in outcomes:
            entry = {"file": letter.file, "entry": letter.entry, "outcome": outcome}
            ledger.write(json.dumps(entry) + "\n")
