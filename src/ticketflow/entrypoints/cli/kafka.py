"""Kafka mode commands: ``topics create`` and ``worker inbound|relay|projections [NAME …]``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from projections import ALL, Projection
from ticketflow.adapters import kafka
from ticketflow.bootstrap import open_engine, open_readmodels
from ticketflow.bulk import bulk_collection
from ticketflow.entrypoints import render
from ticketflow.entrypoints.alert_workers import alert_workers
from ticketflow.entrypoints.cli.options import add_format
from ticketflow.entrypoints.workers import (
    InboundWorker,
    OutageError,
    ProjectionWorker,
    Relay,
    Retry,
    WorkerThreads,
    run_until,
)
from ticketflow.errors import ConfigurationError
from ticketflow.settings import Settings

PROJECTIONS = {p.name: p for p in ALL}


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    created = kafka.create_topics(settings)
    for name, configs in kafka.topic_configs(settings).items():
        retention = configs["retention.ms"]
        kept = "unlimited" if retention == "-1" else f"{int(retention) // kafka.DAY_MS} days"
        print(
            f"{name}: {'created' if name in created else 'exists'} ({settings.partitions} "
            f"partitions and retention {kept} when created)"
        )
    return 0


def cmd_topics_describe(args: argparse.Namespace, settings: Settings) -> int:
    """The topics as the broker has them (a topic not created shows empty cells)."""
    rows = kafka.describe_topics(settings)
    print(render.rows(rows, list(rows[0]), args.format))
    return 0


def projections_named(names: Sequence[str] | None) -> list[Projection]:
    """The registered read models named (every one when none or ``all`` is named), in the
    registry's order, which is also the order their tracking rows are locked in."""
    wanted = set(PROJECTIONS) if not names or list(names) == ["all"] else set(names)
    unknown = sorted(wanted - set(PROJECTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown read model(s) {', '.join(map(repr, unknown))}; expected: "
            f"{', '.join(PROJECTIONS)} (or all)"
        )
    return [p for p in PROJECTIONS.values() if p.name in wanted]


def projections_group(settings: Settings, names: Sequence[str] | None) -> str:
    """The consumer group of ``worker projections [NAME …]``: ``<prefix>-projections`` for every
    read model, ``<prefix>-<name>`` for one (the group of ``worker projection NAME``, so a read
    model moves between the two commands without a second group), ``<prefix>-<a>+<b>`` for a
    set. Workers started with the same names share the partitions of one group."""
    chosen = projections_named(names)
    if not names or list(names) == ["all"]:
        return f"{settings.group_prefix}-projections"
    return f"{settings.group_prefix}-{'+'.join(p.name for p in chosen)}"


def projections_worker(
    settings: Settings, chosen: Sequence[Projection], group: str
) -> ProjectionWorker:
    return ProjectionWorker(
        chosen,
        None,
        open_readmodels(settings),
        kafka.consumer(settings, settings.topic_events, group),
    )


def build_workers(
    settings: Settings,
    role: str,
    projection: str | None = None,
    names: Sequence[str] | None = None,
    group: str | None = None,
) -> list[Any]:
    """The workers for one role; ``all`` gives inbound, relay, one consumer feeding every
    read model, and the alerts (the alerter, its topic and webhooks). ``projection [NAME]``:
    one consumer group per read model (``all``: each of them); ``projections [NAME …]``: one
    consumer for the named read models (``group``, else :func:`projections_group`)."""
    workers: list[Any] = []
    if role in ("inbound", "relay", "all"):
        engine = open_engine(settings)
    if role in ("inbound", "all"):
        workers.append(
            InboundWorker(
                settings,
                engine,
                kafka.consumer(settings, settings.topic_inbound, f"{settings.group_prefix}-engine"),
                kafka.producer(settings),
                outcomes=open_readmodels(settings),
            )
        )
    if role in ("relay", "all"):
        workers.append(
            Relay(settings, engine, kafka.producer(settings), chain=open_readmodels(settings))
        )
    if role == "projection":
        for chosen in projections_named([projection] if projection else None):
            group_id = f"{settings.group_prefix}-{chosen.name}"
            workers.append(projections_worker(settings, [chosen], group_id))
    if role in ("projections", "all"):
        chosen_all = projections_named(names)
        workers.append(
            projections_worker(settings, chosen_all, group or projections_group(settings, names))
        )
    if role in ("alerts", "all"):
        workers.extend(alert_workers(settings, embedded=False, producer=kafka.producer(settings)))
    return workers


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    names = list(args.names)
    if args.role != "projections" and (len(names) > 1 or (names and args.role != "projection")):
        takes = "one read model" if args.role == "projection" else "no name"
        raise ConfigurationError(
            f"worker {args.role} takes {takes}; worker projections NAME … feeds several "
            "from one consumer"
        )
    if args.group is not None and args.role != "projections":
        raise ConfigurationError("--group is for worker projections")
    workers = build_workers(
        settings,
        args.role,
        names[0] if args.role == "projection" and names else None,
        names=names if args.role == "projections" else None,
        group=args.group,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"ticketflow worker {args.role}: running ({len(workers)} loop(s)); SIGTERM to stop",
        flush=True,
    )
    threads = None
    retry = Retry(timeout=settings.outage_timeout)
    try:
        # A worker is bulk work for as long as it runs (see ticketflow.bulk).
        with contextlib.suppress(KeyboardInterrupt), bulk_collection():
            if args.exit_when_idle is not None:
                run_until(workers, stop, idle_rounds=args.exit_when_idle, retry=retry)
            else:
                threads = WorkerThreads(workers, stop, retry=retry)
                threads.join()
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):  # stopping must not hang on a closed server
                worker.close()
    if threads is not None and threads.failures:
        outage = all(isinstance(exc, OutageError) for _, exc in threads.failures)
        print(
            f"ticketflow worker {args.role}: stopped after "
            f"{'an outage' if outage else 'an error'} ({threads.describe_failures()}); "
            "restart it: it resumes from the positions it recorded",
            file=sys.stderr,
        )
        return 3 if outage else 1
    return 0


def register(sub: Any) -> None:
    t = sub.add_parser("topics", help="Kafka topics of ticketflow")
    actions = t.add_subparsers(dest="action", required=True, metavar="ACTION", help="action")
    actions.add_parser(
        "create",
        help="create the inbound, events, dead-letter and alerts topics with their settings",
    ).set_defaults(func=cmd_topics)
    d = actions.add_parser(
        "describe", help="partitions and retention of each topic, as the broker reports them"
    )
    add_format(d)
    d.set_defaults(func=cmd_topics_describe)
    w = sub.add_parser("worker", help="run a Kafka-mode worker")
    w.add_argument(
        "role",
        choices=("inbound", "relay", "projections", "projection", "alerts", "all"),
        help="inbound: Kafka inbound to the event store; relay: event store to "
        "ticketflow.events; projections: ticketflow.events to the named read models from one "
        "consumer; projection: one read model in a consumer group of its own; alerts: the SLA "
        "alerts to sla_alerts, ticketflow.alerts and the webhooks; all: inbound, relay, "
        "projections and alerts in one process",
    )
    w.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"read models ({', '.join(PROJECTIONS)}); default all",
    )
    w.add_argument(
        "--group",
        help="for projections: the consumer group (default <prefix>-projections for all, "
        "<prefix>-<name>[+<name>…] for the names given)",
    )
    w.add_argument(
        "--exit-when-idle",
        type=int,
        metavar="ROUNDS",
        help="stop after ROUNDS polls in a row found nothing (batch runs)",
    )
    w.set_defaults(func=cmd_worker)
