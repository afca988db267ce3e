"""What the read models need of their storage: the port that
``ticketflow.adapters.readmodels.ReadModelStore`` implements on SQLite and PostgreSQL.

The worker loop writes through it and the service layer's queries, history and audit read
through it, so neither depends on a database driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from projections.base import Cursor, Projection


class Applier(Protocol):
    """Applies ``(position, record)`` batches, each in one transaction, somewhere else."""

    def ready(self) -> bool:
        """Whether it takes batches yet (never waits); until then the caller applies them."""
        ...

    def send(self, items: Sequence[tuple[int, Any]]) -> None: ...

    def finish(self) -> None:
        """Wait until every batch is applied; raises if one failed."""
        ...

    def close(self) -> None: ...


class ReadModelStorage(Protocol):
    """A read-model database with tracking positions."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgres``: the SQL a few statements must be written in."""
        ...

    def transaction(self) -> AbstractContextManager[Cursor]:
        """One transaction; buffered row changes are written before it commits."""
        ...

    def create_tables(self, projections: Sequence[Projection]) -> None: ...

    def loading(
        self, projections: Sequence[Projection], upstream: str
    ) -> AbstractContextManager[None]:
        """Around a catch-up: the store may fill empty tables in bulk (their indexes built at
        the end)."""
        ...

    def applier(
        self, projections: Sequence[Projection], upstream: str, to_go: int
    ) -> Applier | None:
        """For a catch-up of ``to_go`` events: a process of its own that applies the records
        while this one reads the log, where the store offers it; else ``None``."""
        ...

    def position(self, application_name: str) -> int: ...

    def positions(self, prefix: str = "") -> dict[str, int]: ...

    def lock_position(self, c: Cursor, application_name: str) -> int: ...

    def advance(self, c: Cursor, application_name: str, position: int) -> None: ...

    def close(self) -> None: ...
