"""The loops that make the alerts live (R-ALERT-1..3), as workers of
:mod:`ticketflow.entrypoints.workers` (``run_once`` / ``close``, supervised the same way):

- :class:`AlertsWorker`: checks the clock against the SLA read model every
  :data:`CHECK_INTERVAL_S` and writes the alerts due into ``sla_alerts`` (embedded, it first
  brings the read models up to date from the event store);
- :class:`AlertsPublisher`: ``sla_alerts`` → ``ticketflow.alerts`` (Kafka mode), CloudEvents in
  binary mode keyed by tenant, its position recorded in ``tracking`` after the broker confirmed;
- :class:`WebhookWorker`: ``sla_alerts`` → the configured webhooks.

``ticketflow serve`` runs them in background threads (embedded); ``ticketflow worker alerts``
runs them in Kafka mode.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ticketflow.adapters.kafka import flush_confirmed
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.adapters.webhooks import Webhooks, load_endpoints
from ticketflow.bootstrap import System, open_readmodels
from ticketflow.contract_events import alert_cloudevent, alert_headers
from ticketflow.service.alerter import COLUMNS, Alerter, create_tables
from ticketflow.settings import Settings

CHECK_INTERVAL_S = 0.25  # well within the 5 s latency target of DESIGN §6
BATCH = 1000


class AlertsWorker:
    """The alerter on a loop; ``system`` (embedded) is projected before each check."""

    def __init__(self, settings: Settings, store: ReadModelStore, system: System | None = None):
        self.store, self.system = store, system
        self.alerter = Alerter(store, settings.clock, settings.alert_horizon)

    def run_once(self, timeout_ms: int = 0) -> int:
        if self.system is not None:
            self.system.project()
        emitted = len(self.alerter.check())
        if not emitted:
            time.sleep(CHECK_INTERVAL_S)
        return emitted

    def close(self) -> None:
        if self.system is not None:
            self.system.close()
        else:
            self.store.close()


class AlertsPublisher:
    """``sla_alerts`` → ``ticketflow.alerts``, at least once (consumers dedupe by ``ce_id``)."""

    def __init__(self, settings: Settings, store: ReadModelStore, producer: Any) -> None:
        self.topic, self.store, self.producer = settings.topic_alerts, store, producer
        self.name = f"alerts@{self.topic}"
        create_tables(store)

    def run_once(self, timeout_ms: int = 0) -> int:
        seen = self.store.position(self.name)
        with self.store.transaction() as c:
            c.execute(
                f"SELECT {', '.join(COLUMNS)} FROM sla_alerts WHERE seq > ? ORDER BY seq LIMIT ?",
                (seen, BATCH),
            )
            rows = [dict(zip(COLUMNS, r, strict=True)) for r in c.fetchall()]
        if not rows:
            time.sleep(CHECK_INTERVAL_S)
            return 0
        sent = []
        for row in rows:
            row["late"] = bool(row["late"])
            event = alert_cloudevent(row["type"].removeprefix("sla."), row)
            value = json.dumps(event["data"], separators=(",", ":"), ensure_ascii=False)
            sent.append(
                self.producer.send(
                    self.topic,
                    key=row["tenant"].encode(),
                    value=value.encode(),
                    headers=alert_headers(event),
                )
            )
        flush_confirmed(self.producer, sent, f"alert(s) not confirmed on {self.topic}")
        with self.store.transaction() as c:
            if self.store.lock_position(c, self.name) < rows[-1]["seq"]:
                self.store.advance(c, self.name, int(rows[-1]["seq"]))
        return len(rows)

    def close(self) -> None:
        self.producer.close()
        self.store.close()


class WebhookWorker:
    """The webhooks of ``TICKETFLOW_ALERT_WEBHOOKS`` fed from ``sla_alerts``."""

    def __init__(self, settings: Settings, store: ReadModelStore) -> None:
        assert settings.alert_webhooks is not None
        self.store = store
        self.webhooks = Webhooks(store, load_endpoints(settings.alert_webhooks))

    def run_once(self, timeout_ms: int = 0) -> int:
        delivered = self.webhooks.run_once()
        if not delivered:
            time.sleep(CHECK_INTERVAL_S)
        return delivered

    def close(self) -> None:
        self.store.close()


def alert_workers(settings: Settings, *, embedded: bool, producer: Any = None) -> list[Any]:
    """The alerter, and what follows ``sla_alerts``: the Kafka topic (with ``producer``) and
    the webhooks (when a file is set)."""
    if embedded:
        system = System.open(settings)
        workers: list[Any] = [AlertsWorker(settings, system.readmodels, system)]
    else:
        workers = [AlertsWorker(settings, open_readmodels(settings))]
    if producer is not None:
        workers.append(AlertsPublisher(settings, open_readmodels(settings), producer))
    if settings.alert_webhooks is not None:
        workers.append(WebhookWorker(settings, open_readmodels(settings)))
    return workers
