"""Wiring from settings: the engine, the read-model store, and keeping them in step."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError

from projections import ALL
from projections.base import Projection
from projections.worker import catch_up, upstream_name
from ticketflow.adapters.eventstore import eventstore_env
from ticketflow.adapters.keys import KeyTable
from ticketflow.adapters.readers import ThreadStores, reader_factory
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.domain.catalog import DEFAULT_CATALOG, Catalog, Edition
from ticketflow.service.audit import extend_chain
from ticketflow.service.engine import Engine
from ticketflow.service.whatif import WhatIfError, Window, what_if
from ticketflow.settings import Settings

READMODELS_FILE = "readmodels.sqlite3"
ANSWERING_TIMEOUT_S = 3


def open_engine(
    settings: Settings, attempts: int = 5, connect_timeout_s: int | None = None
) -> Engine:
    """The engine on the configured store. Processes starting together on a new PostgreSQL
    database race to create its tables; the loser sees the winner's tables on a retry.
    ``connect_timeout_s`` bounds each wait for a PostgreSQL connection (a server answering
    requests, such as the API, says "unavailable" soon rather than hold its caller)."""
    env = eventstore_env(settings)
    if connect_timeout_s is not None and "POSTGRES_CONNECT_TIMEOUT" in env:
        env["POSTGRES_CONNECT_TIMEOUT"] = str(connect_timeout_s)
    for attempt in range(1, attempts + 1):
        try:
            return Engine(env=env)
        except PersistenceError:
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def open_readmodels(settings: Settings, directory: Path | None = None) -> ReadModelStore:
    """The read models: PostgreSQL by settings, else a SQLite file in ``directory``."""
    if settings.store == "postgres" and directory is None:
        assert settings.pg_dsn is not None
        store = ReadModelStore.postgres(settings.pg_dsn)
    else:
        target = directory or settings.data_dir
        target.mkdir(parents=True, exist_ok=True)
        store = ReadModelStore.sqlite(target / READMODELS_FILE)
        store.catchup_processes = settings.catchup_processes
    store.create_tables(ALL)
    return store


def open_rebuild(settings: Settings, name: str) -> ReadModelStore:
    """Empty read models beside the live PostgreSQL ones, in their own schema ``name``, for a
    rebuild to promote (``replay --promote``)."""
    assert settings.pg_dsn is not None
    store = ReadModelStore.postgres(settings.pg_dsn, schema=name)
    store.create_tables(ALL)
    return store


def open_readers(settings: Settings) -> ThreadStores:
    """Read-model connections for concurrent readers, one per thread (the HTTP API)."""
    if settings.store == "postgres":
        assert settings.pg_dsn is not None
        return ThreadStores(reader_factory("postgres", settings.pg_dsn))
    return ThreadStores(reader_factory("sqlite", settings.data_dir / READMODELS_FILE))


def open_keys(settings: Settings) -> tuple[KeyTable, ReadModelStore]:
    """The API keys (R-ACC-1) in the store's database, and the store to close after use."""
    store = open_readmodels(settings)
    keys = KeyTable(lambda: store)
    keys.create_table()
    return keys, store


@contextmanager
def scratch_system(settings: Settings, catalog: Catalog) -> Iterator[tuple[Engine, ReadModelStore]]:
    """An engine deciding with ``catalog`` and read models, both in SQLite files of a
    temporary directory removed afterwards (``whatif``): nothing of the live store is used."""
    with tempfile.TemporaryDirectory(prefix="ticketflow-whatif-") as directory:
        scratch = settings.model_copy(
            update={"store": "sqlite", "mode": "embedded", "data_dir": Path(directory)}
        )
        engine = open_engine(scratch)
        engine.catalog = catalog
        store = open_readmodels(scratch)
        try:
            yield engine, store
        finally:
            store.close()
            engine.close()


def live_position(settings: Settings, engine: Engine, live: ReadModelStore) -> int:
    """The log position the live read models describe: in embedded mode the least position
    of the read models (a what-if stops there, so both sides saw the same facts); in Kafka
    mode, where the workers track topic offsets, the end of the log."""
    if settings.mode == "kafka":
        return int(engine.recorder.max_notification_id() or 0)
    positions = {p.name: live.position(upstream_name(p, engine.name)) for p in ALL}
    if len(set(positions.values())) > 1:
        at = ", ".join(f"{name} at {position}" for name, position in sorted(positions.items()))
        raise WhatIfError(
            f"the live read models have not all read the log as far ({at}): bring them up to "
            "date first (any query does, e.g. ticketflow query sla), then try again"
        )
    return min(positions.values())


def whatif(
    settings: Settings,
    engine: Engine,
    live: ReadModelStore,
    edition: Edition,
    window: Window,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The live log decided again with ``edition`` in a scratch store, compared with the
    live read models ``live`` (only read); returns the position reached and the report."""
    upto = live_position(settings, engine, live)
    report = what_if(
        engine.recorder,
        engine.mapper,
        live,
        edition=edition,
        live_catalog=DEFAULT_CATALOG,
        window=window,
        scratch=lambda catalog: scratch_system(settings, catalog),
        upto=upto,
        projections=ALL,
        progress=progress,
    )
    return upto, report


@dataclass
class System:
    """The engine and its read models, embedded."""

    settings: Settings
    engine: Engine
    readmodels: ReadModelStore

    @classmethod
    def open(cls, settings: Settings, *, answering: bool = False) -> System:
        """The system; ``answering``: for a server answering requests, which tries once and
        waits a few seconds at most for the database rather than retry."""
        if answering:
            engine = open_engine(settings, attempts=1, connect_timeout_s=ANSWERING_TIMEOUT_S)
        else:
            engine = open_engine(settings)
        return cls(settings, engine, open_readmodels(settings))

    def project(
        self,
        projections: Sequence[Projection] = ALL,
        progress: Callable[[int, int], None] | None = None,
        keep: Callable[[Any], bool] | None = None,
        into: ReadModelStore | None = None,
    ) -> int:
        """Bring read models up to date with the event store (embedded worker loop), and
        extend the audit chain over the new events."""
        target = into or self.readmodels
        if into is None and self.settings.mode == "kafka":
            # The projection workers own the live read models; only the audit chain moves.
            extend_chain(self.engine.recorder, target)
            return 0
        decoded = catch_up(
            self.engine.recorder,
            self.engine.mapper,
            target,
            projections,
            upstream=self.engine.name,
            keep=keep,
            progress=progress,
        )
        extend_chain(self.engine.recorder, target)
        return decoded

    def close(self) -> None:
        self.readmodels.close()
        self.engine.close()
