"""What a projection is: a name, its tables, and one handler per domain event it reads.

Handlers get a :class:`Cursor` of the read-model database inside the transaction that also
records the tracking position, and the event as published on ``ticketflow.events``
(``ticketflow.contract_events.Published``: subject, tenant, business time, plain JSON data).
They map events to rows; the arithmetic lives in ``ticketflow.domain``. Handlers never touch Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ticketflow.domain.instants import parse_rfc3339


class Cursor(Protocol):
    """What handlers get (``ticketflow.adapters.rows.Rows``): the slice of a DB-API cursor they use,
    with SQL written with ``?`` placeholders, and row changes written in bulk."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def insert(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None: ...

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None: ...

    def increment(self, table: str, key: dict[str, Any], deltas: dict[str, int]) -> None: ...

    def upsert_add(self, table: str, key: dict[str, Any], values: dict[str, int]) -> None: ...

    def defer(self, work: Callable[[Any, list[Any]], None], key: Any) -> None: ...


Handler = Callable[[Cursor, Any], None]


@dataclass(frozen=True)
class Projection:
    """One read model."""

    name: str
    tables: tuple[str, ...]
    ddl: tuple[str, ...]
    handlers: dict[str, Handler] = field(default_factory=dict)
    postgres_ddl: tuple[str, ...] = ()  # functions and views for analysts, PostgreSQL only
    # What each table and column means, for analysts reading the database itself: written as
    # COMMENT ON on PostgreSQL ({table: (what a row is, {column: meaning})}).
    comments: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    # Indexes the handlers' own reads go through: kept while a rebuild fills empty tables (the
    # others are built once at its end, ``ReadModelStore.loading``).
    working_indexes: tuple[str, ...] = ()

    def handler_for(self, event: Any) -> Handler | None:
        """The handler of a published record's ``type`` (``ticketflow.ticket.opened.v1``)."""
        return None if event is None else self.handlers.get(event.type)


def among(column: str, values: Collection[str]) -> tuple[str, list[str]]:
    """``column IN (?, …)`` and its parameters, for a set of values (an API key's tenants, a
    page's tickets): the caller answers nothing for an empty set before asking."""
    return f"{column} IN ({', '.join('?' * len(values))})", sorted(values)


def instant(value: Any) -> datetime:
    """An instant read back from a read-model column (not NULL): RFC 3339 text (SQLite, and
    PostgreSQL through the store's loader) or a datetime."""
    if isinstance(value, datetime):
        return value
    return parse_rfc3339(str(value))
