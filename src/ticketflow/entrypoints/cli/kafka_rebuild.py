"""``replay --promote [--diff]`` in Kafka mode: a new version of every read model built beside
the live ones from the live log, diffed and promoted.

The new version is a set of projection workers of their own consumer groups
(``<prefix>-<projection>-rebuild-<time>``), reading ``ticketflow.events`` from its start into
tables of a schema of their own (``ticketflow_rebuild_<time>``), with tracking by topic
partition as the live workers keep it. Once it has caught up with the live read models'
positions, the live tracking rows are locked (the live workers wait at their next batch), the
version catches up with the positions read under that lock, is compared row by row with the
live tables (``--diff``), and its schema is swapped in, in that one transaction. The live
workers then go on from their committed offsets: what the new tables have already seen is
skipped by its tracking, so nothing is applied twice or missed.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from projections import ALL
from ticketflow.adapters import kafka
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import open_engine, open_readmodels, open_rebuild
from ticketflow.entrypoints import render
from ticketflow.entrypoints.workers import ProjectionWorker
from ticketflow.errors import TicketflowError
from ticketflow.service.diff import DIFF_FIELDS, Difference, compare
from ticketflow.settings import Settings

CATCH_UP_TIMEOUT_S = 600.0


class RebuildBehindError(TicketflowError):
    """The new version did not reach the live read models' positions in time."""


def replay_kafka(args: argparse.Namespace, settings: Settings) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    schema = f"ticketflow_rebuild_{stamp}"
    assert settings.pg_dsn is not None
    engine = open_engine(settings)
    live = open_readmodels(settings)
    target = open_rebuild(settings, schema)
    workers = [
        ProjectionWorker(
            projection,
            engine,
            ReadModelStore.postgres(settings.pg_dsn, schema=schema),
            kafka.consumer(
                settings,
                settings.topic_events,
                f"{settings.group_prefix}-{projection.name}-rebuild-{stamp}",
            ),
        )
        for projection in ALL
    ]
    differences: list[Difference] = []
    try:
        # First without holding the live workers, then again under the lock: a short wait.
        catch_up(workers, target, live.positions())

        def inspect() -> None:
            differences.extend(compare(live, target, ALL))

        live.promote(
            target,
            ALL,
            catch_up=lambda positions: catch_up(workers, target, positions),
            inspect=inspect if args.diff else None,
            swap=True,
        )
    finally:
        for worker in workers:
            worker.close()
        target.drop_schema()  # promoted: gone already; else abandoned
        target.close()
        live.close()
        engine.close()
    print(
        f"rebuilt every read model from {settings.topic_events} in schema {schema} "
        f"(consumer groups {settings.group_prefix}-<read model>-rebuild-{stamp})"
    )
    if args.diff:
        print(f"{len(differences)} rows differed from the live read models:")
        if differences:
            print(render.rows([d.row() for d in differences], DIFF_FIELDS, args.format))
    print("promoted: the live read models are the rebuilt ones")
    return 0


def catch_up(
    workers: list[ProjectionWorker],
    target: ReadModelStore,
    positions: dict[str, int],
    timeout: float = CATCH_UP_TIMEOUT_S,
) -> None:
    """Run the new version's workers until its tracking has reached ``positions`` (the live
    read models', by ``<read model>@<topic>:<partition>``)."""
    deadline = time.monotonic() + timeout
    while True:
        reached = target.positions()
        behind = {n: p for n, p in positions.items() if reached.get(n, 0) < p}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise RebuildBehindError(
                f"the rebuild did not catch up with the live read models in {timeout:g} s "
                f"({len(behind)} positions behind, e.g. {min(behind)}); nothing was promoted"
            )
        for worker in workers:
            worker.run_once(timeout_ms=200)


__all__ = ["catch_up", "replay_kafka"]
