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

The child answers on a pipe of its own (its descriptor is its first argument): ``ready`` once
it takes batches, then ``ok`` or why it failed. Its standard output is not read, so nothing a
library prints can be taken for an answer or fill a pipe nobody reads. A child that fails
before it is ready (it could not start) leaves the whole catch-up to this process, with a
warning; one that fails later ends the catch-up with :class:`ApplierError`.

Run as ``python -m ticketflow.adapters.pipelined FD FILE UPSTREAM NAME…`` by :class:`Applier`
only; :meth:`ticketflow.adapters.readmodels.ReadModelStore.applier` starts it.
"""

from __future__ import annotations

import contextlib
import logging
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

log = logging.getLogger(__name__)

# Events to go before a catch-up is split across two processes: below this, the child's start
# (about 0.2 s of CPU, while this process applies the first batches) would be most of its work.
PIPELINE_MIN = 100_000
FRAME = struct.Struct(">Q")  # each batch: its length, then its bytes; length 0 ends
READY = b"ready\n"  # the child's first answer once it takes batches; its last: ok, or the error
ANSWER_MAX = 4096  # bytes of an error the child tells


class ApplierError(TicketflowError, RuntimeError):
    """The child process applying a catch-up's records failed (its message says why); the
    positions it committed stand, and the next catch-up goes on from them."""


def registry() -> dict[str, Projection]:
    from projections import ALL

    return {p.name: p for p in ALL}


def cores() -> int:
    """The processors this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def worth_it(projections: Sequence[Projection], to_go: int) -> bool:
    """Whether a catch-up of ``to_go`` events of ``projections`` (registered ones only: the
    child finds them by name) goes on two processes (see the module)."""
    known = registry()
    return (
        to_go >= PIPELINE_MIN and cores() >= 2 and all(known.get(p.name) is p for p in projections)
    )


class Applier:
    """The child process that applies ``(position, record)`` batches to the read models."""

    def __init__(self, path: Path, projections: Sequence[Projection], upstream: str) -> None:
        answers, told = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ticketflow.adapters.pipelined",
                    str(told),
                    str(path),
                    upstream,
                    *(p.name for p in projections),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                pass_fds=(told,),
            )
        except BaseException:
            os.close(answers)
            raise
        finally:
            os.close(told)
        self._answers = os.fdopen(answers, "rb")
        self._ready = False
        self._gone = False  # failed before it was ready: this process does the work

    def ready(self) -> bool:
        """Whether the child has started (imports done, store open) and takes batches; never
        waits. Until it has, the reading process applies the batches itself, in order, so the
        child's start costs no time; a child that failed to start never is."""
        if self._ready:
            return True
        if self._gone:
            return False
        poller = select.poll()
        poller.register(self._answers, select.POLLIN)
        return bool(poller.poll(0)) and self._answered()

    def send(self, items: Sequence[tuple[int, Any]]) -> None:
        """One batch, applied in one transaction by the child (once :meth:`ready`)."""
        body = orjson.dumps(items, default=tuple)  # a record: its fields, as an array
        self._write(FRAME.pack(len(body)) + body)

    def finish(self) -> None:
        """Wait until every batch sent is applied; :class:`ApplierError` if any failed."""
        if self._gone:
            return
        if not self._ready and not self._answered():  # it failed to start: nothing was sent
            return
        self._write(FRAME.pack(0))
        self._close_input()
        answer = self._answers.read(ANSWER_MAX).decode("utf-8", "replace").strip()
        if self._process.wait() != 0 or answer != "ok":
            raise self._failed(answer)

    def close(self) -> None:
        """Stop the child if it still runs (after an error or an interruption here)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_input()
        self._answers.close()

    def _write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
            self._process.stdin.flush()
        except BrokenPipeError:  # the child failed: say what it said
            raise self._failed("") from None

    def _close_input(self) -> None:
        """Close the child's input; what a dead child left unread in the buffer is dropped."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):  # a broken pipe while flushing: the child is gone
                stdin.close()

    def _answered(self) -> bool:
        """The child's first answer (waiting for it): whether it is ready. A child that failed
        before it was ready is left behind (logged): this process goes on alone."""
        line = self._answers.readline(ANSWER_MAX)
        if line == READY:
            self._ready = True
            return True
        error = self._failed(line.decode("utf-8", "replace"))
        self._gone = True
        log.warning("catch-up on one process: the applying process could not start (%s)", error)
        return False

    def _failed(self, said: str) -> ApplierError:
        """The error of a child that failed: what it said, or its status. Its input is closed
        first, so a child still waiting for batches ends instead of waiting for ever."""
        self._close_input()
        said += self._answers.read(ANSWER_MAX).decode("utf-8", "replace")
        status = self._process.wait()
        said = said.strip()
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


def _apply_all(told: BinaryIO, path: str, upstream: str, names: list[str]) -> None:
    from projections.worker import apply_events
    from ticketflow.adapters.readmodels import ReadModelStore
    from ticketflow.bulk import bulk_collection
    from ticketflow.contract_events import Published

    record = tuple.__new__  # a record from its fields, without ``Published.__new__``'s call
    known = registry()
    chosen = [known[name] for name in names]
    store = ReadModelStore.sqlite(path)
    try:
        told.write(READY)  # batches from now on (the reader applied those before)
        told.flush()
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
    fd, path, upstream, *names = argv
    with os.fdopen(int(fd), "wb") as told:
        try:
            _apply_all(told, path, upstream, names)
        except Exception as exc:  # said to the reading process, which raises it
            told.write(f"{type(exc).__name__}: {exc}"[: ANSWER_MAX - 1].encode() + b"\n")
            return 1
        told.write(b"ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
