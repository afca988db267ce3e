"""Webhooks of the live SLA alerts (R-ALERT-3): configured by a file, each alert POSTed as a
CloudEvent (structured mode) with an HMAC-SHA256 signature, retried with exponential backoff,
delivered at least once; deliveries that keep failing end in a dead-letter list.

The file (``TICKETFLOW_ALERT_WEBHOOKS``) is JSON::

    {"endpoints": [{"name": "ops", "url": "https://ops.example/hooks/sla",
                    "secret": "…", "tenants": ["acme"], "max_attempts": 8, "backoff_s": 1}]}

``tenants`` (optional) limits an endpoint to those tenants' alerts. The body is the CloudEvent
as JSON (``Content-Type: application/cloudevents+json``); the header
``X-Ticketflow-Signature: sha256=<hex>`` is HMAC-SHA256 of the exact body bytes with the
endpoint's secret (UTF-8), in lowercase hex. A 2xx answer is a delivery; anything else (another
status, a refused connection, no answer within the timeout) is retried after
``backoff_s × 2^(attempt-1)`` seconds (at most :data:`MAX_BACKOFF_S`), and after ``max_attempts``
the delivery is ``dead``: listed by ``ticketflow alerts --dead-letters`` and
``GET /v1/alerts/deadletters``.

Which alerts an endpoint still has to get is tracked by the last alert ``seq`` queued for it
(``tracking``: ``webhook:<name>@sla_alerts``), written with the queued deliveries in one
transaction; a delivery is marked after its POST, so a crash in between posts it again
(at least once: receivers deduplicate by the CloudEvent ``id``, the alert id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from projections.base import instant
from projections.sla_alerts import TABLES
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.contract_events import alert_cloudevent
from ticketflow.domain.instants import rfc3339
from ticketflow.errors import ConfigurationError, TicketflowError
from ticketflow.service.alerter import COLUMNS

SIGNATURE_HEADER = "X-Ticketflow-Signature"
CONTENT_TYPE = "application/cloudevents+json"
TIMEOUT_S = 5.0
MAX_BACKOFF_S = 300.0
BATCH = 200


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    secret: str
    tenants: frozenset[str] | None = None
    max_attempts: int = 8
    backoff_s: float = 1.0

    def wants(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: doubling, bounded."""
        return timedelta(seconds=min(self.backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S))


def load_endpoints(path: Path) -> list[Endpoint]:
    """The endpoints of a webhooks file; a file that cannot be used is a configuration error."""
    try:
        document = json.loads(path.read_text("utf-8"))
        endpoints = [_endpoint(e) for e in document["endpoints"]]
    except OSError as error:
        raise ConfigurationError(
            f"TICKETFLOW_ALERT_WEBHOOKS: cannot read {path}: {error}"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            f"TICKETFLOW_ALERT_WEBHOOKS: {path} is not a webhooks file "
            f'({{"endpoints": [{{"name", "url", "secret", "tenants"?}}]}}): {error!r}'
        ) from None
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"TICKETFLOW_ALERT_WEBHOOKS: {path}: endpoint names repeat")
    return endpoints


def _endpoint(entry: dict[str, Any]) -> Endpoint:
    url = str(entry["url"])
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url {url!r}: expected http:// or https://")
    tenants = entry.get("tenants")
    attempts = int(entry.get("max_attempts", 8))
    backoff = float(entry.get("backoff_s", 1.0))
    if not 1 <= attempts <= 100 or not 0 < backoff <= MAX_BACKOFF_S:
        raise ValueError("max_attempts: 1 to 100; backoff_s: more than 0, at most 300")
    return Endpoint(
        str(entry["name"]),
        url,
        str(entry["secret"]),
        None if tenants is None else frozenset(str(t) for t in tenants),
        attempts,
        backoff,
    )


def signature(secret: str, body: bytes) -> str:
    """The value of ``X-Ticketflow-Signature``: ``sha256=`` and the HMAC's lowercase hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(endpoint: Endpoint, body: bytes) -> None:
    """POST one alert; raises :class:`DeliveryError` unless the answer is 2xx."""
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={"Content-Type": CONTENT_TYPE, SIGNATURE_HEADER: signature(endpoint.secret, body)},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            answer.read()
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"{type(error).__name__}: {reason}") from None


class DeliveryError(TicketflowError):
    """A webhook did not take an alert (a status other than 2xx, or no answer)."""


class Webhooks:
    """Queues each new alert for the endpoints that want it, and delivers what is due."""

    def __init__(
        self,
        store: ReadModelStore,
        endpoints: list[Endpoint],
        send: Callable[[Endpoint, bytes], None] = post,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Retries are paced by the wall clock: they are about the network, not business time.
        self.store, self.endpoints, self.send, self.now = store, endpoints, send, now
        store.create_tables([TABLES])

    def run_once(self) -> int:
        """Queue new alerts, then try the deliveries due; returns the POSTs that succeeded."""
        for endpoint in self.endpoints:
            self._queue(endpoint)
        return sum(self._deliver(endpoint) for endpoint in self.endpoints)

    def _queue(self, endpoint: Endpoint) -> None:
        cursor = f"webhook:{endpoint.name}@sla_alerts"
        with self.store.transaction() as c:
            seen = self.store.lock_position(c, cursor)
            c.execute(
                "SELECT alert_id, seq, tenant FROM sla_alerts WHERE seq > ? ORDER BY seq LIMIT ?",
                (seen, BATCH * 5),
            )
            rows = c.fetchall()
            if not rows:
                return
            stamp = rfc3339(self.now())
            for alert_id, seq, tenant in rows:
                if endpoint.wants(tenant):
                    c.execute(
                        "INSERT INTO alert_deliveries (endpoint, alert_id, seq, tenant, state, "
                        "attempts, next_attempt_at, last_error, updated_at) "
                        "VALUES (?, ?, ?, ?, 'pending', 0, ?, NULL, ?) "
                        "ON CONFLICT (endpoint, alert_id) DO NOTHING",
                        (endpoint.name, alert_id, seq, tenant, stamp, stamp),
                    )
            self.store.advance(c, cursor, int(rows[-1][1]))

    def _deliver(self, endpoint: Endpoint) -> int:
        now = self.now()
        with self.store.transaction() as c:
            c.execute(
                f"SELECT d.attempts, d.next_attempt_at, {', '.join('a.' + k for k in COLUMNS)} "
                "FROM alert_deliveries d JOIN sla_alerts a ON a.alert_id = d.alert_id "
                "WHERE d.endpoint = ? AND d.state = 'pending' ORDER BY d.seq LIMIT ?",
                (endpoint.name, BATCH),
            )
            pending = c.fetchall()
        delivered = 0
        for row in pending:
            if instant(row[1]) > now:
                break  # the endpoint's oldest alert waits for its retry; the others after it
            attempts, alert = int(row[0]), dict(zip(COLUMNS, row[2:], strict=True))
            alert["late"] = bool(alert["late"])
            event = alert_cloudevent(alert["type"].removeprefix("sla."), alert)
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            try:
                self.send(endpoint, body)
            except DeliveryError as error:
                self._failed(endpoint, alert["alert_id"], attempts + 1, str(error))
                if attempts + 1 < endpoint.max_attempts:
                    break  # keep the endpoint's order: later alerts wait for this one
                continue
            self._mark(endpoint, alert["alert_id"], "delivered", attempts + 1, None, None)
            delivered += 1
        return delivered

    def _failed(self, endpoint: Endpoint, alert_id: str, attempts: int, error: str) -> None:
        if attempts >= endpoint.max_attempts:
            self._mark(endpoint, alert_id, "dead", attempts, None, error)
        else:
            retry = rfc3339(self.now() + endpoint.backoff(attempts))
            self._mark(endpoint, alert_id, "pending", attempts, retry, error)

    def _mark(
        self,
        endpoint: Endpoint,
        alert_id: str,
        state: str,
        attempts: int,
        next_at: str | None,
        error: str | None,
    ) -> None:
        with self.store.transaction() as c:
            c.execute(
                "UPDATE alert_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                "last_error = coalesce(?, last_error), updated_at = ? "
                "WHERE endpoint = ? AND alert_id = ?",
                (state, attempts, next_at, error, rfc3339(self.now()), endpoint.name, alert_id),
            )
