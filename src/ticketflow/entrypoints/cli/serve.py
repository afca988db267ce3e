"""``ticketflow serve``: the HTTP API (DESIGN §7) on uvicorn, and whatever runs alongside it.

Services that should run in the same process as the API (the Kafka-mode workers) are started
by :func:`start_alongside` before the server and stopped after it, in reverse order.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from ticketflow.entrypoints.api import bind, serve, url_of
from ticketflow.errors import TicketflowError
from ticketflow.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class Alongside(Protocol):
    """Something started with the API and stopped when it stops."""

    def stop(self) -> None:
        """Stop and release resources; called once, after the API has stopped."""

    def failure(self) -> str | None:
        """What made it stop by itself, if it did."""


class WorkerThread:
    """Kafka-mode workers (inbound, relay, the three projections) in a background thread."""

    def __init__(self, settings: Settings, on_failure: Callable[[], None] | None = None) -> None:
        from ticketflow.entrypoints.cli.kafka import build_workers
        from ticketflow.entrypoints.workers import WorkerThreads

        self.workers = build_workers(settings, "all")
        self.halt = threading.Event()
        self.threads = WorkerThreads(self.workers, self.halt, on_failure)

    def failure(self) -> str | None:
        return self.threads.describe_failures() or None

    def stop(self) -> None:
        self.halt.set()
        self.threads.join(timeout=30)
        for worker in self.workers:
            worker.close()


class AlertsThread(WorkerThread):
    """Embedded: the alerter (and the webhooks) in background threads (R-ALERT-3)."""

    def __init__(self, settings: Settings, on_failure: Callable[[], None] | None = None) -> None:
        from ticketflow.entrypoints.alert_workers import alert_workers
        from ticketflow.entrypoints.workers import Retry, WorkerThreads

        self.workers = alert_workers(settings, embedded=True)
        self.halt = threading.Event()
        retry = Retry(timeout=settings.outage_timeout)
        self.threads = WorkerThreads(self.workers, self.halt, on_failure, retry=retry)


def start_alongside(
    args: argparse.Namespace, settings: Settings, on_failure: Callable[[], None] | None = None
) -> list[Alongside]:
    """Start what runs next to the API: with ``--kafka``, every Kafka-mode worker (alerts
    included); embedded, the alerter unless ``--no-alerts``.

    Called before the API serves; what it returns is stopped, last started first, after the
    API has stopped.
    """
    if not getattr(args, "kafka", False):
        if settings.mode == "embedded" and not getattr(args, "no_alerts", False):
            return [AlertsThread(settings, on_failure)]
        return []
    if settings.mode != "kafka":
        raise TicketflowError("--kafka needs TICKETFLOW_MODE=kafka and KAFKA_BOOTSTRAP_SERVERS")
    return [WorkerThread(settings, on_failure)]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API until interrupted (Ctrl-C or SIGTERM: uvicorn stops cleanly on both)."""
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise TicketflowError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    alongside: list[Alongside] = []
    servers: list[Any] = []

    def stop_api() -> None:
        # A worker that fails stops the API too: it would otherwise serve tables that no
        # longer move.
        for server in servers:
            server.should_exit = True

    try:
        alongside = start_alongside(args, settings, stop_api)
        url = url_of(sock)
        print(f"ticketflow API on {url} (OpenAPI: {url}/openapi.json)", flush=True)
        serve(settings, sock, workers=args.workers, on_started=servers.append)
    except KeyboardInterrupt:
        print("ticketflow: stopping", file=sys.stderr, flush=True)
    finally:
        sock.close()
        for service in reversed(alongside):
            service.stop()
    failures = [f for service in alongside if (f := service.failure())]
    if failures:
        print(
            f"ticketflow serve: stopped after a worker error ({'; '.join(failures)})",
            file=sys.stderr,
        )
        return 1
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return int(text)


def register(sub: Any) -> None:
    """Add ``serve`` to the ``ticketflow`` subcommands."""
    p = sub.add_parser("serve", help="run the HTTP API (GET /openapi.json describes it)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="API processes sharing the port (default 1; each serves requests concurrently)",
    )
    p.add_argument(
        "--kafka",
        action="store_true",
        help="also run the Kafka-mode workers (inbound, relay, projections) in this process",
    )
    p.add_argument(
        "--no-alerts",
        action="store_true",
        help="embedded: do not run the SLA alerter (and webhooks) in this process",
    )
    p.set_defaults(func=cmd_serve)


__all__ = ["AlertsThread", "Alongside", "register", "start_alongside"]
