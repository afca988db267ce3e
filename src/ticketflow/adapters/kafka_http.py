"""Kafka for the HTTP API: rejected posts to the dead-letter topic, the dead letters read back
for operators, and the broker probe of ``/readyz``."""

from __future__ import annotations

import base64
import json
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from ticketflow.adapters.kafka import _options, deadletter_headers, producer
from ticketflow.service.submit import Rejection
from ticketflow.settings import Settings

PROBE_TIMEOUT_MS = 3000


class HttpDeadLetterTopic:
    """A :class:`~ticketflow.service.submit.DeadLetters` sink on the dead-letter topic for
    events posted over HTTP (R-IN-3): the original JSON as the value, the error in headers,
    the origin named ``http`` (no topic, partition or offset: it never was a record)."""

    def __init__(self, settings: Settings, origin: str) -> None:
        self.settings = settings
        self.origin = origin
        self.written = 0
        self._client: Any = None

    def write(self, rejection: Rejection, original: Any) -> None:
        if self._client is None:
            self._client = producer(self.settings)
        value = original if isinstance(original, bytes) else str(original).encode("utf-8")
        headers = deadletter_headers(
            [("content-type", b"application/cloudevents+json")],
            reason=rejection.reason,
            detail=rejection.detail,
            rule=rejection.rule,
            topic=self.origin,
            partition=-1,
            offset=-1,
        )
        self._client.send(self.settings.topic_deadletter, key=None, value=value, headers=headers)
        self.written += 1

    def flush(self) -> None:
        if self._client is not None:
            self._client.flush()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def broker_reachable(settings: Settings) -> None:
    """Raise kafka-python's error unless a broker answers a metadata request."""
    admin = KafkaAdminClient(
        **_options(settings, KafkaAdminClient),
        request_timeout_ms=PROBE_TIMEOUT_MS,
        api_version_auto_timeout_ms=PROBE_TIMEOUT_MS,
    )
    try:
        admin.list_topics()
    finally:
        admin.close()


def read_deadletter_topic(settings: Settings, limit: int = 10_000) -> list[dict[str, Any]]:
    """The dead-letter topic's records, oldest first per partition, as dead-letter rows."""
    consumer = KafkaConsumer(
        **_options(settings, KafkaConsumer),
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic_deadletter) or set()
        assigned = [TopicPartition(settings.topic_deadletter, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        rows = []
        for record in consumer:
            rows.append(_row(record))
            if len(rows) >= limit:
                break
        return rows
    finally:
        consumer.close()


def _row(record: Any) -> dict[str, Any]:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or []}
    value: bytes = record.value or b""
    row: dict[str, Any] = {
        "line": int(record.offset),
        "id": headers.get("ce_id"),
        "reason": headers.get("error_reason", ""),
        "detail": headers.get("error_detail", ""),
        "rule": headers.get("error_rule") or None,
        "origin": f"{headers.get('origin_topic', '')}:{headers.get('origin_partition', '')}",
        "rejected_at": None,
    }
    try:
        row["original"] = value.decode("utf-8")
        event = json.loads(row["original"])
        if row["id"] is None and isinstance(event, dict):
            row["id"] = event.get("id") if isinstance(event.get("id"), str) else None
    except ValueError:
        row["original_base64"] = base64.b64encode(value).decode()
    if "ce_tenant" in headers:
        row["tenant"] = headers["ce_tenant"]
    return row
