"""A long catch-up on two cores: this process reads the log and builds the published records,
a child process applies them to the read models.

Reading the notification log, decoding it and building each record is about as much work as
applying the records; on a machine with two cores or more, a rebuild from an empty file (or any
catch-up with many events to go) runs both at once. The records go to the child as batches of
orjson arrays over its standard input (a pipe: when the child is behind, writing waits, so at
most a batch or two is held). Until the child has started (its imports take a few tenths of a
second), the reading process applies the batches itself; from then on the child applies each
batch with its positions in one transaction, as the single-process loop does, so a catch-up
stopped half-way is resumed from the positions like any other. Only SQLite read models of the
registered projections (:data:`projections.ALL`) go this way: the child opens the same file and
finds the projections by name.

Run as ``python -m ticketflow.adapters.pipelined FILE UPSTREAM NAME…`` by :class:`Applier`
only; :meth:`ticketflow.adapters.readmodels.ReadModelStore.applier` starts it.
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from projections.base import Projection
from ticketflow.errors import TicketflowError

# Events to go before a catch-up is split across two processes: below this, the child's start
# (about 0.2 s of CPU, while this process applies the first batches) would be most of its work.
PIPELINE_MIN = 100_000
FRAME = struct.Struct(">Q")  # each batch: its length, then its bytes; length 0 ends
READY = b"ready\n"  # the child's first line once it takes batches; its last: ok, or the error
# ``0``: every catch-up in one process (to compare, or where a second process is unwelcome).
PIPELINE_VARIABLE = "TICKETFLOW_PIPELINE"


class ApplierError(TicketflowError, RuntimeError):
    """The child process applying a catch-up's records failed (its message says why); the
    positions it committed stand, and the next catch-up goes on from them."""


def registry() -> dict[str, Projection]:
    from projections import ALL

    return {p.name: p for p in ALL}


def worth_it(projections: Sequence[Projection], to_go: int) -> bool:
    """Whether a catch-up of ``to_go`` events of ``projections`` (registered ones only: the
    child finds them by name) goes on two processes (see the module)."""
    known = registry()
    return (
        to_go >= PIPELINE_MIN
        and (os.cpu_count() or 1) >= 2
        and os.environ.get(PIPELINE_VARIABLE, "1") != "0"
        and all(known.get(p.name) is p for p in projections)
    )


class Applier:
    """The child process that applies ``(position, record)`` batches to the read models."""

    def __init__(self, path: Path, projections: Sequence[Projection], upstream: str) -> None:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticketflow.adapters.pipelined",
                str(path),
                upstream,
                *(p.name for p in projections),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._ready = False

    def ready(self) -> bool:
        """Whether the child has started (imports done, store open) and takes batches; never
        waits. Until it has, the reading process applies the batches itself, in order, so the
        child's start costs no time."""
        return self._ready or self._answered(wait=False)

    def send(self, items: Sequence[tuple[int, Any]]) -> None:
        """One batch, applied in one transaction by the child."""
        body = orjson.dumps(items, default=tuple)  # a record: its fields, as an array
        self._write(FRAME.pack(len(body)) + body)

    def finish(self) -> None:
        """Wait until every batch sent is applied; :class:`ApplierError` if any failed."""
        self._write(FRAME.pack(0))
        assert self._process.stdin is not None
        self._process.stdin.close()
        if not self._ready:
            self._answered(wait=True)
        assert self._process.stdout is not None
        answer = self._process.stdout.read().decode("utf-8", "replace").strip()
        if self._process.wait() != 0 or answer != "ok":
            raise self._failed(answer)

    def close(self) -> None:
        """Stop the child if it still runs (after an error or an interruption here)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def _write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
            self._process.stdin.flush()
        except BrokenPipeError:  # the child failed: say what it said
            raise self._failed("") from None

    def _answered(self, wait: bool) -> bool:
        """Read the child's first line (``ready``, or why it failed) if it is there, or once it
        is with ``wait``: whether the child is ready."""
        stdout = self._process.stdout
        assert stdout is not None
        if not wait and not select.select([stdout], [], [], 0)[0]:
            return False
        line = stdout.readline()
        if line != READY:
            raise self._failed(line.decode("utf-8", "replace"))
        self._ready = True
        return True

    def _failed(self, said: str) -> ApplierError:
        """The error of a child that failed: what it said (read to its end), or its status."""
        assert self._process.stdout is not None
        said += self._process.stdout.read().decode("utf-8", "replace")
        said = said.removeprefix(READY.decode()).strip()
        status = self._process.wait()
        return ApplierError(said or f"the applying process ended with status {status}")


def _frames(stream: BinaryIO) -> Any:
    while True:
        head = stream.read(FRAME.size)
        if len(head) < FRAME.size:
            raise ApplierError("the reading process stopped in the middle of a catch-up")
        (size,) = FRAME.unpack(head)
        if size == 0:
            return
        body = stream.read(size)
        if len(body) < size:
            raise ApplierError("the reading process stopped in the middle of a batch")
        yield body


def _apply_all(path: str, upstream: str, names: list[str]) -> None:
    from projections.worker import apply_events
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.bulk import bulk_collection
    from ticketflow.contract_events import Published

    record = tuple.__new__  # a record from its fields, without ``Published.__new__``'s call
    known = registry()
    chosen = [known[name] for name in names]
    store = ReadModelStore.sqlite(path)
    try:
        sys.stdout.buffer.write(READY)  # batches from now on (the reader applied those before)
        sys.stdout.flush()
        with bulk_collection():
            for body in _frames(sys.stdin.buffer):
                items = [
                    (position, None if row is None else record(Published, row))
                    for position, row in orjson.loads(body)
                ]
                apply_events(store, chosen, upstream, items)
    finally:
        store.close()


def main(argv: list[str]) -> int:
    path, upstream, *names = argv
    try:
        _apply_all(path, upstream, names)
    except Exception as exc:  # said to the reading process, which raises it
        sys.stdout.write(f"{type(exc).__name__}: {exc}\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write("ok\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
