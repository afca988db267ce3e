"""Kafka clients from settings, and CloudEvents on Kafka records (DESIGN §3, §4).

Inbound records are CloudEvents in binary mode (``ce_*`` headers, ``data`` as the value) or
structured mode (the whole event as the value, content type ``application/cloudevents+json``);
as the CloudEvents Kafka binding says, the ``content-type`` header decides, whatever ``ce_``
headers (such as ``ce_traceparent``) a structured record also carries. A record's key must be
its tenant, or ``platform`` for platform facts (R-IN-5).
Outbound domain events carry CloudEvents headers and the stored event's JSON as the value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from ticketflow.adapters.errors import BROKER_HINT, translated
from ticketflow.contract import InboundEvent, kafka_key, parse_event
from ticketflow.errors import BrokerUnavailableError, ConfigurationError, ContractError
from ticketflow.service.submit import Rejection
from ticketflow.settings import KAFKA_OPTION_PREFIX, Settings

Headers = Sequence[tuple[str, bytes]]


def _options(settings: Settings, client: type) -> dict[str, Any]:
    """Bootstrap servers and the ``TICKETFLOW_KAFKA_OPTION_*`` options that ``client`` takes (SASL
    and TLS options go to every client; e.g. ``fetch_min_bytes`` only to consumers)."""
    if not settings.kafka_bootstrap:
        raise ConfigurationError("Kafka mode needs KAFKA_BOOTSTRAP_SERVERS (host:port,...)")
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap.split(",")}
    for key, value in settings.kafka_options.items():
        if not any(key in kind.DEFAULT_CONFIG for kind in KAFKA_CLIENTS):
            raise ConfigurationError(
                f"{KAFKA_OPTION_PREFIX}{key.upper()}: {key!r} is not a kafka-python client option"
            )
        if key in client.DEFAULT_CONFIG:  # type: ignore[attr-defined]
            options[key] = _option_value(key, value)
    return options


KAFKA_CLIENTS = (KafkaProducer, KafkaConsumer, KafkaAdminClient)
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def _option_value(key: str, text: str) -> Any:
    """An option's text as the client expects it: a boolean where the client's default is one,
    text for names, paths and secrets (a numeric password stays text), else an integer when the
    text is one."""
    default = next(kind.DEFAULT_CONFIG[key] for kind in KAFKA_CLIENTS if key in kind.DEFAULT_CONFIG)
    if isinstance(default, bool):
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigurationError(
            f"{KAFKA_OPTION_PREFIX}{key.upper()}={text!r}: expected true or false"
        )
    if isinstance(default, str) or key.startswith(("ssl_", "sasl_")) or key.endswith("_id"):
        return text
    return int(text) if text.isdigit() else text


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all, retries without duplicates)."""
    options = {"linger_ms": 10, "batch_size": 256 * 1024, **_options(settings, KafkaProducer)}
    return KafkaProducer(**{**options, **overrides, "enable_idempotence": True, "acks": "all"})


# Fetches wait up to 100 ms for 128 KiB (about 200 events) rather than returning at once with
# the few records that arrived: fewer, larger batches, each one database transaction.
# A 6 s group session (the broker's smallest by default; kafka-python's default is 45 s): a
# killed worker's partitions go to the others, or to its replacement, within seconds.
CONSUMER_DEFAULTS = {
    "fetch_min_bytes": 128 * 1024,
    "fetch_max_wait_ms": 100,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}
# Closing leaves the group (so the partitions move at once) but waits at most this long for
# the broker: a worker stopped while it rejoins its group would otherwise wait for
# ``request_timeout_ms`` (30 s) in kafka-python's ``maybe_leave_group``.
CLOSE_TIMEOUT_MS = 2000


class Consumer(KafkaConsumer):  # type: ignore[misc]
    """kafka-python's consumer, whose ``close`` is bounded by :data:`CLOSE_TIMEOUT_MS`."""

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        limit = CLOSE_TIMEOUT_MS if timeout_ms is None else timeout_ms
        super().close(autocommit=autocommit, timeout_ms=limit)


def consumer(settings: Settings, topic: str, group: str, **overrides: Any) -> KafkaConsumer:
    """A consumer with manual commits only, reading from the start for a new group.

    It learns the topic's partitions before it subscribes. Subscribed first, its first join
    has no partitions to assign and a second join follows once metadata arrives; with
    kafka-python 3.0.12, a ``poll`` that times out during that second join can lose its
    assignment for good (the member stays in the group with no partitions, and its poll
    spins; seen about once in twenty starts with 100 ms polls). One join with the partitions
    known avoids that, and is faster.
    """
    options = {**CONSUMER_DEFAULTS, **_options(settings, KafkaConsumer), **overrides}
    client = Consumer(
        group_id=group, enable_auto_commit=False, auto_offset_reset="earliest", **options
    )
    client.partitions_for_topic(topic)
    client.subscribe([topic])
    return client


DAY_MS = 24 * 3600 * 1000


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic's settings, stated rather than left to the broker's defaults (DESIGN §3b):
    ``ticketflow.events`` is the public log and forgets nothing (unlimited retention, by time
    and by size); the inbound topic keeps a week (the event store keeps what it produced, so
    this is the window to re-read raw input); dead letters keep 30 days to be inspected and
    redriven; alerts keep 30 days (they are live news; ``sla_alerts`` keeps them all)."""
    keep = {"cleanup.policy": "delete", "retention.bytes": "-1"}
    return {
        settings.topic_inbound: {**keep, "retention.ms": str(7 * DAY_MS)},
        settings.topic_events: {**keep, "retention.ms": "-1"},
        settings.topic_deadletter: {**keep, "retention.ms": str(30 * DAY_MS)},
        settings.topic_alerts: {**keep, "retention.ms": str(30 * DAY_MS)},
    }


def create_topics(settings: Settings) -> list[str]:
    """Create the inbound, events, dead-letter and alerts topics with ``settings.partitions``
    partitions and :func:`topic_configs`; returns those created (existing ones are left as
    they are: ``topics describe`` shows what they have)."""
    admin = KafkaAdminClient(**_options(settings, KafkaAdminClient))
    created = []
    try:
        existing = set(admin.list_topics())
        for name, configs in topic_configs(settings).items():
            if name in existing:
                continue
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=settings.partitions,
                            replication_factor=1,
                            topic_configs=configs,
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    return created


DESCRIBED = ("cleanup.policy", "retention.ms", "retention.bytes")


def describe_topics(settings: Settings) -> list[dict[str, Any]]:
    """What the broker says of each topic: partitions and the settings of :data:`DESCRIBED`
    (``None`` for a topic that does not exist)."""
    admin = KafkaAdminClient(**_options(settings, KafkaAdminClient))
    try:
        names = list(topic_configs(settings))
        existing = set(admin.list_topics())
        present = [n for n in names if n in existing]
        partitions = {
            t["name"]: len(t["partitions"])
            for t in (admin.describe_topics(present) if present else [])
        }
        configs: dict[str, dict[str, Any]] = {}
        if present:
            found = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n, list(DESCRIBED)) for n in present],
                config_filter="all",
            )
            configs = found.get("topic", {})
        out = []
        for name in names:
            row: dict[str, Any] = {"topic": name, "partitions": partitions.get(name)}
            values = configs.get(name, {})
            for key in DESCRIBED:
                entry = values.get(key)
                row[key] = entry["value"] if isinstance(entry, dict) else entry
            out.append(row)
        return out
    finally:
        admin.close()


def publish_inbound(settings: Settings, keyed: Sequence[tuple[str, str]]) -> int:
    """Publish ``(key, CloudEvent JSON)`` pairs to the inbound topic in structured mode.

    The key is :func:`~ticketflow.contract.kafka_key`'s (R-IN-5): the tenant, so a tenant's
    subscription facts and tickets share a partition, the tier in force is known when a clock
    starts, and each subject keeps its order (R-IN-4).
    """
    client = producer(settings)
    try:
        for tenant, text in keyed:
            client.send(
                settings.topic_inbound,
                key=tenant.encode(),
                value=text.encode(),
                headers=[("content-type", b"application/cloudevents+json")],
            )
        client.flush()
    finally:
        client.close()
    return len(keyed)


def header_map(headers: Headers | None) -> dict[str, str]:
    return {str(k): bytes(v or b"").decode("utf-8", "replace") for k, v in (headers or [])}


STRUCTURED = "application/cloudevents"


def decode_inbound(value: bytes | None, headers: Headers | None) -> InboundEvent:
    """A CloudEvent from a Kafka record. The ``content-type`` header decides the mode
    (CloudEvents Kafka binding): ``application/cloudevents+json`` is structured mode,
    whatever ``ce_`` headers are present; otherwise ``ce_`` headers make binary mode, where
    ``content-type`` is the ``datacontenttype``. A record with neither is read as structured."""
    attributes = header_map(headers)
    content_type = next((v for k, v in attributes.items() if k.lower() == "content-type"), None)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith(STRUCTURED):
        if media != STRUCTURED + "+json":
            raise ContractError(
                "unsupported_content_type",
                f"content-type {content_type!r}: a Kafka record holds one CloudEvent in JSON "
                f"({STRUCTURED}+json) or its data (binary mode)",
            )
        return parse_event(value or b"")
    if not any(k.startswith("ce_") for k in attributes):
        return parse_event(value or b"")
    event: dict[str, Any] = {k[3:]: v for k, v in attributes.items() if k.startswith("ce_")}
    if content_type is not None:
        event["datacontenttype"] = content_type
    event_id = event.get("id")
    if value:
        try:
            event["data"] = json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ContractError(
                "not_json", f"record value (data) is not JSON: {exc}", event_id
            ) from None
    return parse_event(event)


def decode_record(value: bytes | None, headers: Headers | None, key: bytes | None) -> InboundEvent:
    """:func:`decode_inbound`, then the key rule (R-IN-5): a record whose key is not its
    tenant (``platform`` for platform facts) is ``wrong_key``, since its order against the
    tenant's other facts is not guaranteed."""
    event = decode_inbound(value, headers)
    expected = kafka_key(event)
    if key != expected.encode():
        shown = "no key" if key is None else f"key {key[:100]!r}"
        raise ContractError(
            "wrong_key",
            f"{shown}; a {event.type} record must be keyed {expected!r} (R-IN-5)",
            event.id,
            rule="R-IN-5",
        )
    return event


def deadletter_headers(
    headers: Headers | None,
    *,
    reason: str,
    detail: str,
    rule: str | None,
    topic: str,
    partition: int,
    offset: int,
) -> list[tuple[str, bytes]]:
    """The original headers plus what went wrong and where the record came from (R-IN-3)."""
    extra = {
        "error_reason": reason,
        "error_detail": detail[:2000],
        "error_rule": rule or "",
        "origin_topic": topic,
        "origin_partition": str(partition),
        "origin_offset": str(offset),
    }
    return [*(headers or []), *((k, v.encode()) for k, v in extra.items())]


class DeadLetterTopic:
    """A :class:`~ticketflow.service.submit.DeadLetters` sink on the dead-letter topic: each
    rejected record goes there with its original key, bytes and headers, plus headers naming
    the error and where the record came from (R-IN-3)."""

    def __init__(self, client: Any, topic: str) -> None:
        self.client = client
        self.topic = topic
        self.written = 0
        self._pending: list[Any] = []

    def write(self, rejection: Rejection, original: Any) -> None:
        headers = deadletter_headers(
            original.headers,
            reason=rejection.reason,
            detail=rejection.detail,
            rule=rejection.rule,
            topic=original.topic,
            partition=original.partition,
            offset=original.offset,
        )
        with translated():
            try:
                sent = self.client.send(
                    self.topic, key=original.key, value=original.value, headers=headers
                )
            except MessageSizeTooLargeError:
                # Too large with the error headers added: the dead letter keeps the headers
                # (where the record is: topic, partition, offset), not the value.
                headers.append(("error_value_dropped", b"too large for the dead-letter topic"))
                sent = self.client.send(self.topic, key=original.key, value=None, headers=headers)
        self._pending.append(sent)
        self.written += 1

    def flush(self) -> None:
        """Wait until the broker has every dead letter written since the last flush; raise
        :class:`BrokerUnavailableError` if one was not written (never lose one silently)."""
        pending, self._pending = self._pending, []
        flush_confirmed(self.client, pending, f"dead letter(s) not written to {self.topic}")


def flush_confirmed(client: Any, sent: Sequence[Any], what: str) -> None:
    """Flush ``client`` and check each of the ``sent`` futures: kafka-python's ``flush``
    returns normally when sends expired or failed, so a caller that moves a position after it
    must look at every future. Raises :class:`BrokerUnavailableError` (``what`` says what was
    not confirmed) if one is not done or failed."""
    with translated():
        client.flush()
    failed = [f for f in sent if not f.is_done or f.failed()]
    if failed:
        error = failed[0].exception if failed[0].is_done else "not sent"
        raise BrokerUnavailableError(f"Kafka: {len(failed)} {what}: {error!r}", BROKER_HINT)


def rewind(consumer: Any) -> None:
    """Move each assigned partition back to its committed offset (or its start), so records
    polled but not committed before a failure are read again; the tracking recorded with the
    work makes the repeat a no-op."""
    with translated():
        for tp in consumer.assignment():
            committed = consumer.committed(tp, timeout_ms=CLOSE_TIMEOUT_MS)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)


def commit_polled(consumer: Any, polled: dict[Any, Sequence[Any]]) -> None:
    """Commit every partition of a poll in one request, once its database work is durable."""
    if polled:
        consumer.commit(
            {
                tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                for tp, records in polled.items()
            }
        )


def default_partition(key: bytes, count: int) -> int:
    """The partition index kafka-python's default partitioner gives ``key`` among ``count``."""
    return int((murmur2(key) & 0x7FFFFFFF) % count)
