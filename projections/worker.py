"""The shared worker loop of the embedded mode: the event store's notification log is polled
(the SQLite recorder has no push subscription) and every projection that is behind gets each
event; a batch of rows and the new positions are committed in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any, NamedTuple

from eventsourcing.persistence import Mapper, Notification

from projections.base import Cursor, Projection
from projections.storage import Applier, ReadModelStorage
from ticketflow.bulk import bulk_collection
from ticketflow.contract_events import TYPES, Outbound

BATCH = 5000
Progress = Callable[[int, int], None]  # (position reached, last position)


def upstream_name(projection: Projection, upstream: str) -> str:
    return f"{projection.name}@{upstream}"


class EventFilter:
    """Keep only facts up to an instant, by business time (``at``) or recording time."""

    def __init__(self, until: datetime | None = None, recorded_until: datetime | None = None):
        self.until = until
        self.recorded_until = recorded_until
        self.kept = self.left_out = 0  # events a projection reads, by outcome

    @property
    def unbounded(self) -> bool:
        """Whether it keeps every event: the catch-up then reads as without a filter (no
        decoding, two processes where it pays) and counts what it applies."""
        return self.until is None and self.recorded_until is None

    def __call__(self, event: Any) -> bool:
        return self.admits(event.at, event.timestamp)

    def admits(self, at: datetime, timestamp: datetime) -> bool:
        """Whether a fact that happened at ``at`` and was recorded at ``timestamp`` is kept
        (counted either way)."""
        keep = (self.until is None or at <= self.until) and (
            self.recorded_until is None or timestamp <= self.recorded_until
        )
        if keep:
            self.kept += 1
        else:
            self.left_out += 1
        return keep


def apply_events(
    store: ReadModelStorage,
    projections: Sequence[Projection],
    upstream: str,
    items: Sequence[tuple[int, Any]],
) -> int:
    """Apply ``(position, published record)`` pairs in one transaction; returns events applied."""
    if not items:
        return 0
    with store.transaction() as c:
        return apply_in(c, store, projections, upstream, items)


def apply_in(
    c: Cursor,
    store: ReadModelStorage,
    projections: Sequence[Projection],
    upstream: str,
    items: Sequence[tuple[int, Any]],
) -> int:
    """Apply ``(position, published record)`` pairs inside the caller's transaction.

    Each projection skips what its tracking position says it has seen, so a redelivered or
    replayed batch changes nothing (idempotent consumers). Positions are read under a lock in
    the same transaction, so two workers never apply the same position twice.
    """
    if not items:
        return 0
    applied = 0
    last = items[-1][0]
    for projection in projections:
        name = upstream_name(projection, upstream)
        seen = store.lock_position(c, name)
        if last <= seen:
            continue
        handler_of = projection.handlers.get  # ``projection.handler_for``, once per batch
        for position, event in items:
            if position <= seen or event is None:
                continue
            handler = handler_of(event.type)
            if handler is not None:
                handler(c, event)
                applied += 1
        store.advance(c, name, last)
    return applied


def catch_up(
    recorder: Any,
    mapper: Mapper[Any],
    store: ReadModelStorage,
    projections: Sequence[Projection],
    *,
    upstream: str,
    keep: Callable[[Any], bool] | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> int:
    """Bring ``projections`` up to the end of the notification log; returns events decoded.

    Each stored event is given to the projections as it is published on ``ticketflow.events``
    (:class:`ticketflow.contract_events.Outbound`: read from its stored JSON where that gives
    the same record, else decoded once). ``keep`` sees the domain event; an
    :class:`EventFilter` sees only its instants, read from the stored JSON too (one without
    bounds only counts)."""
    counted = keep if isinstance(keep, EventFilter) and keep.unbounded else None
    run = _Run(
        recorder,
        Outbound(recorder, mapper, f"ticketflow/{upstream}"),
        store,
        projections,
        upstream,
        None if counted is not None else keep,
        batch,
        progress,
        counted,
    )
    with bulk_collection():
        return _catch_up(run)


class _Run(NamedTuple):
    """One catch-up: where it reads, what it feeds, and how."""

    recorder: Any
    outbound: Outbound
    store: ReadModelStorage
    projections: Sequence[Projection]
    upstream: str
    keep: Callable[[Any], bool] | None
    batch: int
    progress: Progress | None
    counted: EventFilter | None  # a filter keeping everything: only its count is kept


def _catch_up(run: _Run) -> int:
    store, projections, upstream = run.store, run.projections, run.upstream
    store.create_tables(projections)
    handled = {name for p in projections for name in p.handlers}
    read = {q for q, t in TYPES.items() if t.name in handled}
    names = [upstream_name(p, upstream) for p in projections]
    start = min(store.position(name) for name in names) + 1
    last = run.recorder.max_notification_id() or 0
    decoded = 0
    # From the log's start (a rebuild, a first start): in bulk, if the tables are empty.
    bulk = store.loading(projections, upstream) if start == 1 <= last else nullcontext()
    applier: Applier | None = None
    with bulk:
        try:
            # A long catch-up on two processes, where the store offers it (a filter, if any,
            # is applied here: the child applies the records it is given).
            applier = store.applier(projections, upstream, last - start + 1)
            decoded = _read_and_apply(run, start, last, read, applier)
            if applier is not None:
                applier.finish()  # every batch applied before the indexes are built
        finally:
            if applier is not None:
                applier.close()
    return decoded


class _Reads(dict[str, bool]):
    """Stored topic → whether one of the projections reads its events (worked out once)."""

    def __init__(self, read: set[str]) -> None:
        super().__init__()
        self.read = read

    def __missing__(self, topic: str) -> bool:
        found = self[topic] = topic.rsplit(":", 1)[-1] in self.read
        return found


def _read_and_apply(
    run: _Run, start: int, last: int, read: set[str], applier: Applier | None
) -> int:
    """The loop of :func:`_catch_up`: batches read, turned into records, and applied here or
    sent to ``applier``. Events no projection reads are not even decoded. A recorder with
    ``select_stored`` gives plain rows (no UUID, no ``Notification``) unless ``keep`` is a
    filter other than :class:`EventFilter`, which needs the domain events."""
    recorder, outbound, keep, batch = run.recorder, run.outbound, run.keep, run.batch
    decoded = 0
    reads = _Reads(read)
    # Plain rows where the recorder gives them, and the filter (if any) reads them.
    rows_of = getattr(recorder, "select_stored", None)
    if keep is not None and not isinstance(keep, EventFilter):
        rows_of = None
    admits = keep.admits if isinstance(keep, EventFilter) else None
    record, record_as_of = outbound.record_stored, outbound.record_stored_as_of
    while start <= last:
        items: list[tuple[int, Any]]
        if rows_of is not None:
            rows = rows_of(start, batch, last)
            if not rows:
                break
            if admits is None:
                items = [(row[0], record(row)) for row in rows if reads[row[3]]]
            else:  # as of an instant: the instants read from the same stored JSON
                items = [
                    (row[0], found)
                    for row in rows
                    if reads[row[3]] and (found := record_as_of(row, admits)) is not None
                ]
            end, count = rows[-1][0], len(rows)
        else:
            notifications: Sequence[Notification] = recorder.select_notifications(
                start, batch, stop=last
            )
            if not notifications:
                break
            items = []
            for notification in notifications:
                if not reads[notification.topic]:
                    continue
                if keep is None:  # the record from the stored JSON, where that gives it
                    items.append((notification.id, outbound.record(notification)))
                    continue
                event = outbound.decode(notification)
                if keep(event):
                    items.append((notification.id, outbound.record(notification, event)))
            end, count = notifications[-1].id, len(notifications)
        decoded += count
        if run.counted is not None:
            run.counted.kept += len(items)
        # Positions move to the last notification read, even when filtered out.
        if not items or items[-1][0] != end:
            items.append((end, None))
        if applier is None or not applier.ready():
            apply_events(run.store, run.projections, run.upstream, items)
        else:
            applier.send(items)
        start = end + 1
        if run.progress is not None:
            run.progress(end, last)
    return decoded
