"""Dead letters in a file: rejected inputs as JSON Lines, with where they came from, why, and
their original text (or bytes, base64) — the embedded mode's counterpart of the dead-letter
topic."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ticketflow.domain.instants import rfc3339
from ticketflow.service.submit import Rejection


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
