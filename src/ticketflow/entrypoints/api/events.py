"""``POST /v1/events``: CloudEvents over HTTP in structured, batch and binary mode (DESIGN §3),
through the one submit path, answered per R-IN-7."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from fastapi import Request

from ticketflow.contract import parse_event
from ticketflow.entrypoints.api.access import require_tenant
from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.errors import ContractError
from ticketflow.service.access import ApiKey
from ticketflow.service.engine import as_sender_sees
from ticketflow.service.submit import Candidate, Result

MAX_BODY_BYTES = 10 * 1024 * 1024
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
EVENT_CONTENT_TYPES = (STRUCTURED, BATCH, "application/json")
OUTCOME_STATUSES = ("accepted", "duplicate", "published", "rejected")


async def read_body(request: Request) -> bytes:
    """The body, refused without a length (411) or over :data:`MAX_BODY_BYTES` (413)."""
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if length is None and not chunked:
        raise ApiError(411, "length_required", "send the body with a Content-Length header")
    if length is not None:
        if not length.isdigit():
            raise ApiError(400, "bad_request", f"Content-Length {length!r} is not a byte count")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    return bytes(body)


def candidates(request: Request, body: bytes) -> tuple[list[Candidate], list[Any]]:
    """The events of a request as candidates for the submit path, and each one's decoded JSON
    (for access checks). Binary mode when a ``ce-specversion`` header is present."""
    if "ce-specversion" in request.headers:
        event = _binary(request, body)
        error = event.pop("data") if isinstance(event.get("data"), ContractError) else None
        text = json.dumps(event, ensure_ascii=False)
        if error is not None:
            return [Candidate(1, text, None, error)], [event]
        return [Candidate.of(1, text, parse_event, event)], [event]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in EVENT_CONTENT_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type!r}: send {' or '.join(EVENT_CONTENT_TYPES)}, "
            "or an event in binary mode (ce-* headers)",
        )
    try:
        document = json.loads(body)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise ApiError(400, "not_json", f"the body is not JSON: {exc}") from None
    if isinstance(document, dict) and content_type != BATCH:
        text = body.decode("utf-8", errors="replace")
        return [Candidate.of(1, text, parse_event, text)], [document]
    if isinstance(document, list) and content_type != STRUCTURED:
        texts = [json.dumps(item, ensure_ascii=False) for item in document]
        batch = [Candidate.of(i, t, parse_event, t) for i, t in enumerate(texts, start=1)]
        return batch, document
    expected = {STRUCTURED: "a CloudEvent (JSON object)", BATCH: "an array of CloudEvents"}
    wanted = expected.get(content_type, "a CloudEvent (JSON object) or an array of them")
    raise ApiError(400, "not_an_object", f"the body must be {wanted}")


def _binary(request: Request, body: bytes) -> dict[str, Any]:
    """A binary-mode event: attributes from ``ce-*`` headers (percent-decoded, as the HTTP
    binding says), ``data`` from the body (JSON)."""
    event: dict[str, Any] = {
        name[3:]: unquote(value)
        for name, value in request.headers.items()
        if name.lower().startswith("ce-")
    }
    content_type = request.headers.get("content-type")
    if content_type:
        event["datacontenttype"] = content_type
    if not body.strip():
        return event
    try:
        event["data"] = json.loads(body)
    except ValueError as exc:
        event["data"] = ContractError(
            "not_json", f"the body (data) is not JSON: {exc}", event.get("id")
        )
    return event


def check_access(key: ApiKey, documents: Sequence[Any], request: Request) -> None:
    """A key posts only for its tenants and sources (R-ACC-2, R-ACC-3); platform facts concern
    every tenant, so only an unscoped key posts them. Nothing is applied when one is refused."""
    for document in documents:
        if not isinstance(document, dict):
            continue
        source, tenant, type_ = (document.get(k) for k in ("source", "tenant", "type"))
        if isinstance(source, str) and not key.may_publish_from(source):
            raise ApiError(403, "outside_scope", f"this key may not publish for source {source!r}")
        if key.scoped and isinstance(type_, str) and type_.startswith("platform."):
            raise ApiError(403, "outside_scope", "platform facts need a key without tenant scope")
        if isinstance(tenant, str):
            require_tenant(key, tenant, request)


def outcome(candidate: Candidate, result: Result, key: ApiKey) -> dict[str, Any]:
    """One event's outcome. For a scoped key a ticket of another tenant is unknown, like one
    that does not exist (R-ACC-3)."""
    rejection = result.rejection
    reason: str | None = None
    detail: str | None = None
    rule: str | None = None
    if rejection is not None:
        reason, detail, rule = rejection.reason, rejection.detail, rejection.rule
        if key.scoped and candidate.event is not None:
            event = candidate.event
            reason, detail, rule = as_sender_sees(event.type, event.subject, reason, detail, rule)
    return {
        "id": result.id,
        "status": result.status,
        "reason": reason,
        "detail": detail,
        "rule": rule,
    }


def status_of(outcomes: Sequence[dict[str, Any]]) -> int:
    """R-IN-7: 202 when nothing was rejected, 422 when everything was, else 207."""
    rejected = sum(o["status"] == "rejected" for o in outcomes)
    if not rejected:
        return 202
    return 422 if rejected == len(outcomes) else 207
