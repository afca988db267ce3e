"""What a projection is: a name, its tables, and one handler per domain event it reads.

Handlers get a :class:`Cursor` of the read-model database inside the transaction that also
records the tracking position, and the decoded domain event. They map events to rows; the
arithmetic lives in ``ticketflow.domain``. Handlers never touch Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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

    def handler_for(self, event: Any) -> Handler | None:
        return self.handlers.get(type(event).__qualname__)


class Owners:
    """Aggregate id → (name, tenant), learnt from creation events.

    Ids are derived from names (``ticketflow.domain.ids``), so the mapping is true for every
    store and never changes; remembering it saves a query per event. A miss falls back to the
    read model's own table.
    """

    LIMIT = 500_000

    def __init__(self) -> None:
        self._known: dict[Any, tuple[str, str]] = {}

    def learn(self, aggregate_id: Any, name: str, tenant: str) -> None:
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        self._known[aggregate_id] = (name, tenant)

    def get(self, c: Cursor, aggregate_id: Any, sql: str) -> tuple[str, str]:
        found = self._known.get(aggregate_id)
        if found is None:
            c.execute(sql, (str(aggregate_id),))
            row = c.fetchone()
            found = (str(row[0]), str(row[1]))
            self.learn(aggregate_id, *found)
        return found


OWNERS = Owners()
