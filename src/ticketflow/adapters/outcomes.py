"""What became of each event posted for publishing, by ``(source, id)`` (R-IN-7), in the read
models' database (next to the API keys).

Kafka mode: the API writes ``pending`` before it publishes an event to the inbound topic, and
``rejected`` for an event it refused itself; the inbound worker writes the engine's outcome
(``accepted``, ``duplicate``, ``rejected`` with reason and rule) of every event it decides, with
its dead letters, before it commits the events. A crash in between repeats the decision, and
the same outcome is written again (at least once, as dead letters).

Which outcome stays when an id is seen again: an acceptance is final (the event is in; a
duplicate or a malformed copy sent later with the same id does not hide it); ``pending`` only
replaces a rejection (an event sent again after a fix is decided again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from ticketflow.contract import InboundEvent
from ticketflow.domain.instants import rfc3339
from ticketflow.service.engine import as_sender_sees
from ticketflow.service.submit import Candidate, Publish, Result

DDL = """CREATE TABLE IF NOT EXISTS event_outcomes (
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    detail TEXT,
    rule TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, id)
)"""

STATUSES = ("pending", "accepted", "duplicate", "rejected")

_UPSERT = (
    "INSERT INTO event_outcomes (source, id, tenant, status, reason, detail, rule, updated_at)"
    " VALUES {values} ON CONFLICT (source, id) DO UPDATE SET"
    " tenant = excluded.tenant, status = excluded.status, reason = excluded.reason,"
    " detail = excluded.detail, rule = excluded.rule, updated_at = excluded.updated_at"
)
# PostgreSQL: a whole group as one JSON parameter, an array of rows each an array of the
# columns' texts (written by orjson from the tuples as they are, read with ``->>``), so the
# statement's text stays the same whatever the batch's size (psycopg parses it once; the VALUES
# form was parsed again for every batch) and no value is adapted one by one in Python.
_COLUMNS = ("source", "id", "tenant", "status", "reason", "detail", "rule", "updated_at")
_UPSERT_JSON = _UPSERT.replace(
    "VALUES {values}",
    "SELECT "
    + ", ".join(f"r->>{i}" for i in range(len(_COLUMNS)))
    + " FROM json_array_elements(?::json) AS r",
)
_REPLACES = {
    # status written → which stored outcome it replaces (the others: any but an acceptance)
    "accepted": "",
    "pending": " WHERE event_outcomes.status = 'rejected'",
}
_NOT_ACCEPTED = " WHERE event_outcomes.status <> 'accepted'"


CHUNK = 500
MAX_KEY = 500


def _replaces(new: str, old: str) -> bool:
    """Whether an outcome ``new`` replaces a stored ``old`` (the SQL of :data:`_REPLACES`)."""
    if new == "pending":
        return old == "rejected"
    return new == "accepted" or old != "accepted"


def _row(o: EventOutcome, now: str) -> tuple[Any, ...]:
    return (o.source, o.id, o.tenant, o.status, o.reason, o.detail, o.rule, now)


class EventOutcome(NamedTuple):
    """The outcome of one event: ``tenant`` is ``None`` for a platform fact or an event whose
    tenant could not be read (a named tuple: the inbound worker makes one per event)."""

    source: str
    id: str
    tenant: str | None
    status: str
    reason: str | None = None
    detail: str | None = None
    rule: str | None = None
    updated_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "rule": self.rule,
            "updated_at": self.updated_at,
        }


class OutcomeTable:
    """``event_outcomes`` on the read-model database; ``store`` gives the store to use (the
    calling thread's own, in the API)."""

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store

    def create_table(self) -> None:
        with self._store().transaction() as c:
            c.execute(DDL)

    def record(self, outcomes: Sequence[EventOutcome]) -> None:
        """Write ``outcomes`` in one transaction, a few hundred rows per statement (see the
        module's rules on what stays)."""
        merged: dict[tuple[str, str], EventOutcome] = {}
        for o in outcomes:  # the same rules within a batch, so each id is written once
            old = merged.get((o.source, o.id))
            if old is None or _replaces(o.status, old.status):
                merged[(o.source, o.id)] = o
        if not merged:
            return
        now = rfc3339(datetime.now(UTC))
        rows = list(merged.values())
        store = self._store()
        with store.transaction() as c:
            for status in {o.status for o in rows}:
                group = [o for o in rows if o.status == status]
                if getattr(store, "dialect", None) == "postgres":
                    document = orjson.dumps([_row(o, now) for o in group]).decode()
                    c.execute(_UPSERT_JSON + _REPLACES.get(status, _NOT_ACCEPTED), (document,))
                    continue
                for start in range(0, len(group), CHUNK):
                    chunk = group[start : start + CHUNK]
                    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                    c.execute(
                        _UPSERT.format(values=values) + _REPLACES.get(status, _NOT_ACCEPTED),
                        [v for o in chunk for v in _row(o, now)],
                    )

    def find(self, source: str, event_id: str) -> EventOutcome | None:
        with self._store().transaction() as c:
            c.execute(
                "SELECT source, id, tenant, status, reason, detail, rule, updated_at"
                " FROM event_outcomes WHERE source = ? AND id = ?",
                (source, event_id),
            )
            row = c.fetchone()
        return None if row is None else EventOutcome(*row)


class Outcomes:
    """How a publisher (the API, ``ticketflow ingest``) in Kafka mode keeps the outcomes of
    what it publishes (R-IN-7): each event ``pending`` before it is on the inbound topic (so
    the worker's outcome, written after, is never hidden by it), and each event it refused
    itself ``rejected``."""

    def __init__(self, table: OutcomeTable) -> None:
        self.table = table

    def publishing(self, publish: Publish) -> Publish:
        """``publish``, each event recorded ``pending`` first."""

        def pending_first(keyed: Sequence[tuple[str, Any]]) -> int:
            found = (identity(None, original) for _, original in keyed)
            self.table.record([EventOutcome(*f, "pending") for f in found if f is not None])
            return publish(keyed)

        return pending_first

    def decided(self, done: Sequence[tuple[Candidate, Result]]) -> None:
        """Record decided events (the ``decided`` hook of the submit path)."""
        self.table.record([o for c, r in done if (o := outcome_of(c, r)) is not None])


def outcome_of(candidate: Candidate, result: Result) -> EventOutcome | None:
    """The outcome of a decided candidate, or ``None`` when its ``(source, id)`` cannot be read
    (a record that is not an event has no outcome to look up)."""
    found = identity(candidate.event, candidate.original)
    if found is None:
        return None
    source, event_id, tenant = found
    rejection = result.rejection
    if rejection is None:
        return EventOutcome(source, event_id, tenant, result.status)
    reason, detail, rule = rejection.reason, rejection.detail, rejection.rule
    event = candidate.event
    if event is not None:  # what any key that sees the tenant may read (R-ACC-3)
        reason, detail, rule = as_sender_sees(event.type, event.subject, reason, detail, rule)
    return EventOutcome(source, event_id, tenant, "rejected", reason, detail[:1000], rule)


def identity(event: InboundEvent | None, original: Any) -> tuple[str, str, str | None] | None:
    """``(source, id, tenant)`` of an event, or of the original form of one the contract
    refused (JSON text, or a Kafka record in structured or binary mode) as far as it can be
    read; the tenant is ``None`` for a platform fact."""
    source: Any
    type_: Any
    event_id: Any
    tenant: Any
    if event is not None:
        source, event_id, tenant, type_ = event.source, event.id, event.tenant, event.type
    else:
        document = _document(original)
        source, event_id = document.get("source"), document.get("id")
        tenant, type_ = document.get("tenant"), document.get("type")
        if not isinstance(source, str) or not isinstance(event_id, str):
            return None
    if not _keyable(source) or not _keyable(event_id):
        return None
    if not isinstance(tenant, str) or not _keyable(tenant) or str(type_).startswith("platform."):
        return source, event_id, None
    return source, event_id, tenant


def _keyable(text: str) -> bool:
    """Whether ``text`` can be a key of the table (and of a URL): not empty, no NUL (which
    PostgreSQL's text refuses), at most :data:`MAX_KEY` characters (an index entry is bounded)."""
    return 0 < len(text) <= MAX_KEY and "\x00" not in text


def _document(original: Any) -> dict[str, Any]:
    headers = getattr(original, "headers", None)
    if headers is not None:  # a Kafka record
        attributes = {
            k[3:]: v.decode("utf-8", "replace")
            for k, v in headers
            if k.startswith("ce_") and isinstance(v, bytes)
        }
        if "id" in attributes:
            return attributes
        original = getattr(original, "value", None)
    try:
        document = json.loads(original) if isinstance(original, (str, bytes)) else None
    except (ValueError, RecursionError):  # any poison: not JSON, not UTF-8, nested too deep
        return {}
    return document if isinstance(document, dict) else {}
