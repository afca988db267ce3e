"""Kafka mode commands: ``topics create`` and ``worker inbound|relay|projection NAME``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Any

from projections import ALL
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


def build_workers(settings: Settings, role: str, projection: str | None = None) -> list[Any]:
    """The workers for one role; ``all`` gives inbound, relay, the projections and the
    alerts (the alerter, its topic and webhooks)."""
    engine = open_engine(settings)
    workers: list[Any] = []
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
    if role in ("projection", "all"):
        names = list(PROJECTIONS) if projection in (None, "all") else [projection or ""]
        for name in names:
            if name not in PROJECTIONS:
                raise ConfigurationError(
                    f"unknown projection {name!r}; expected one of: {', '.join(PROJECTIONS)}"
                )
            workers.append(
                ProjectionWorker(
                    PROJECTIONS[name],
                    engine,
                    open_readmodels(settings),
                    kafka.consumer(
                        settings, settings.topic_events, f"{settings.group_prefix}-{name}"
                    ),
                )
            )
    if role in ("alerts", "all"):
        workers.extend(alert_workers(settings, embedded=False, producer=kafka.producer(settings)))
    return workers


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    workers = build_workers(settings, args.role, args.projection)
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
        choices=("inbound", "relay", "projection", "alerts", "all"),
        help="inbound: Kafka inbound to the event store; relay: event store to "
        "ticketflow.events; projection: ticketflow.events to read models; alerts: the SLA "
        "alerts to sla_alerts, ticketflow.alerts and the webhooks; all: every one",
    )
    w.add_argument(
        "projection",
        nargs="?",
        help=f"for projection: {', '.join(PROJECTIONS)} or all (default all)",
    )
    w.add_argument(
        "--exit-when-idle",
        type=int,
        metavar="ROUNDS",
        help="stop after ROUNDS polls in a row found nothing (batch runs)",
    )
    w.set_defaults(func=cmd_worker)
