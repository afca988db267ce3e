"""``/metrics``: the API's Prometheus metrics, with prometheus_client (DESIGN §1, operators).

Counted as they happen: events posted, by outcome and reason; requests, by route, with their
latency. Read at scrape time: each read model's lag behind the event store, in events and in
seconds (the age of the oldest event it has not applied), and the SLA figures of the moment
(open P1 clocks, at-risk and breached tickets), computed at most every
:data:`SLA_EVERY_S` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections import ALL
from ticketflow.errors import TicketflowError
from ticketflow.service import queries

if TYPE_CHECKING:
    from ticketflow.entrypoints.api.backend import Backend

SLA_EVERY_S = 15.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """The registry of one API process."""

    def __init__(self, backend: Backend) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "ticketflow_events",
            "Events posted to the API, by outcome and rejection reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.requests = Counter(
            "ticketflow_http_requests",
            "HTTP requests, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ticketflow_http_request_duration_seconds",
            "HTTP request latency, by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(backend))

    def count_outcomes(self, outcomes: list[dict[str, Any]]) -> None:
        for outcome in outcomes:
            self.events.labels(outcome["status"], outcome["reason"] or "").inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class Measured:
    """Counts each HTTP request and its latency by route: a plain ASGI middleware (Starlette's
    ``@app.middleware("http")`` would run every request and its answer through extra tasks and
    streams)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], path, status, time.perf_counter() - started)


class StoreCollector(Collector):
    """Figures read from the stores when scraped; a store that cannot be read leaves its
    figures out and sets ``ticketflow_store_up`` to 0."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._sla: tuple[float, dict[str, int]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ticketflow_store_up", "1 when the stores answered this scrape")
        try:
            families = [*self._lag(), *self._sla_figures()]
        except TicketflowError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _lag(self) -> list[GaugeMetricFamily]:
        events = GaugeMetricFamily(
            "ticketflow_projection_lag_events",
            "Events in the store that a read model has not applied",
            labels=["read_model"],
        )
        seconds = GaugeMetricFamily(
            "ticketflow_projection_lag_seconds",
            "Age of the oldest event a read model has not applied (0 when up to date)",
            labels=["read_model"],
        )
        backend = self.backend
        with backend.guarded():
            engine = backend.system().engine
            head = engine.recorder.max_notification_id() or 0
            positions = backend.readers.current().positions()
            for projection in ALL:
                position = _position(positions, projection.name, engine.name)
                events.add_metric([projection.name], max(head - position, 0))
                seconds.add_metric([projection.name], _age(engine, position, head))
        return [events, seconds]

    def _sla_figures(self) -> list[GaugeMetricFamily]:
        with self._lock:
            if self._sla is None or time.monotonic() - self._sla[0] > SLA_EVERY_S:
                rows = self.backend.read(lambda store: queries.sla(store))
                figures = {
                    "open_p1_clocks": sum(
                        r["clock_started_at"] is not None
                        and r["restored_at"] is None
                        and r["priority"] == "P1"
                        and r["status"] in ("running", "at_risk", "breached")
                        for r in rows
                    ),
                    "at_risk": sum(r["status"] == "at_risk" for r in rows),
                    "breached": sum(r["status"] == "breached" for r in rows),
                }
                self._sla = (time.monotonic(), figures)
            figures = self._sla[1]
        texts = {
            "open_p1_clocks": "P1 tickets whose GTR clock runs now (R-SLA-10)",
            "at_risk": "tickets at risk now: running, at least 75 % of the GTR elapsed",
            "breached": "tickets breached (R-SLA-10)",
        }
        out = []
        for name, text in texts.items():
            family = GaugeMetricFamily(f"ticketflow_sla_{name}", text)
            family.add_metric([], figures[name])
            out.append(family)
        return out


def _position(positions: dict[str, int], name: str, upstream: str) -> int:
    """Embedded: the read model's tracking of the event store. Kafka mode: the furthest event
    store position it has applied from any partition (``#position`` trackers)."""
    if f"{name}@{upstream}" in positions:
        return positions[f"{name}@{upstream}"]
    relayed = [
        p for k, p in positions.items() if k.startswith(f"{name}@") and k.endswith("#position")
    ]
    return max(relayed, default=0)


def _age(engine: Any, position: int, head: int) -> float:
    if position >= head:
        return 0.0
    [notification] = engine.recorder.select_notifications(position + 1, 1) or [None]
    if notification is None:
        return 0.0
    event = engine.mapper.to_domain_event(notification)
    at: datetime = event.timestamp
    return max((datetime.now(UTC) - at).total_seconds(), 0.0)
