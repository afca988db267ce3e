"""Fuzzing the inbound boundary: whatever bytes, headers or JSON arrive, the contract parser
and the Kafka decode path accept the input or reject it with a reason and a rule; nothing
else escapes (R-IN-3). ``TICKETFLOW_FUZZ_EXAMPLES`` raises the number of examples."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import opened
from ticketflow.adapters.kafka import decode_record
from ticketflow.contract import EVENT_TYPES, InboundEvent, parse_event
from ticketflow.errors import ContractError
from ticketflow.service.ingest import candidates

EXAMPLES = int(os.environ.get("TICKETFLOW_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Instants at and beyond the edges: years 1 and 9999, offsets up to ±23:59, leap seconds,
# fractions, no offset, lower-case separators.
INSTANTS = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "0000-01-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-05-05T24:00:00Z",
            "2026-05-05t10:00:00z",
            "2026-05-05 10:00:00+02:00",
            "2026-05-05T10:00:00.123456789123+02:00",
            "2026-05-05T10:00:00+99:99",
            "2026-05-05T10:00:00",
            "3000-01-01T00:00:00Z",
        ]
    ),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
        st.sampled_from(["Z", "+14:00", "-14:00", "+23:59", "-23:59", "+00:00", ""]),
    ),
    st.text(max_size=40),
)

HUGE_NUMBERS = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 1e308, 5e-324]),
)
SCALARS = st.one_of(st.none(), st.booleans(), HUGE_NUMBERS, st.text(max_size=30))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Events close to valid: a known type, every attribute perhaps replaced or dropped."""
    base = opened("T-1", "2026-05-05T10:00:00Z")
    base["type"] = draw(st.sampled_from([*EVENT_TYPES, "platform.incident_declared", "x"]))
    base["time"] = draw(INSTANTS)
    for name in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
        if draw(st.booleans()):
            base.pop(name, None)
        else:
            base[name] = draw(JSON_VALUES)
    if draw(st.booleans()):
        base["data"] = draw(st.one_of(JSON_VALUES, st.just({"hours": draw(HUGE_NUMBERS)})))
    if draw(st.booleans()):
        base["datacontenttype"] = draw(
            st.sampled_from(["application/json; charset=utf-8", "APPLICATION/JSON", "text/x", ""])
        )
    return base


def dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True)


def settled(call: Any, *args: Any) -> InboundEvent | ContractError:
    """What the boundary made of an input: an event, or a rejection naming a reason and a
    rule. Any other exception fails the test."""
    try:
        found = call(*args)
    except ContractError as exc:
        rejection = exc
    else:
        assert isinstance(found, InboundEvent)
        assert found.time.utcoffset() is not None
        return found
    assert rejection.reason
    assert rejection.rule.startswith("R-")
    return rejection


class TestContractParser:
    @FUZZ
    @given(st.binary(max_size=300))
    def test_arbitrary_bytes(self, raw: bytes) -> None:
        settled(parse_event, raw)

    @FUZZ
    @given(events())
    def test_near_valid_events_as_text_bytes_and_objects(self, obj: dict[str, Any]) -> None:
        text = dumps(obj)
        outcomes = [settled(parse_event, text), settled(parse_event, text.encode())]
        if isinstance(obj, dict):
            outcomes.append(settled(parse_event, obj))
        kinds = {type(o) for o in outcomes}
        assert len(kinds) == 1, outcomes  # the same verdict in every form

    @FUZZ
    @given(st.integers(1, 100_000), st.sampled_from(["[", '{"a":']))
    def test_deep_nesting(self, depth: int, opener: str) -> None:
        closer = "]" if opener == "[" else "}"
        settled(parse_event, opener * depth + "1" + closer * depth)
        settled(
            parse_event,
            dumps(opened("T-1", "2026-05-05T10:00:00Z"))[:-1] + ',"x":' + nested(depth) + "}",
        )

    @FUZZ
    @given(st.binary(max_size=200))
    def test_ingest_lines_of_arbitrary_bytes(self, raw: bytes) -> None:
        for candidate in candidates(raw.split(b"\n")):
            assert candidate.event is not None or candidate.error is not None


HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "content-type",
            "Content-Type",
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "ce_tenant",
            "ce_data",
            "ce_traceparent",
            "ce_",
        ]
    ),
    st.text(max_size=12),
)
HEADER_VALUES = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"application/cloudevents+json",
            b"application/cloudevents+json; charset=utf-8",
            b"application/cloudevents-batch+json",
            b"application/json",
            b"text/plain",
            b"1.0",
            b"ticket.acknowledged",
            b"9999-12-31T23:59:59-14:00",
            b"\xff\xfe",
        ]
    ),
)


class TestKafkaDecode:
    @FUZZ
    @given(
        st.one_of(st.none(), st.binary(max_size=200), events().map(lambda e: dumps(e).encode())),
        st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=10),
        st.one_of(st.none(), st.binary(max_size=12), st.just(b"acme")),
    )
    def test_arbitrary_records(
        self, value: bytes | None, headers: list[tuple[str, bytes]], key: bytes | None
    ) -> None:
        settled(decode_record, value, headers, key)

    @FUZZ
    @given(events(), st.sampled_from([None, b"acme", b"other"]))
    def test_binary_mode_of_near_valid_events(self, obj: dict[str, Any], key: bytes | None) -> None:
        data = obj.pop("data", None)
        headers = [
            (f"ce_{k}", (v if isinstance(v, str) else dumps(v)).encode()) for k, v in obj.items()
        ]
        value = None if data is None else dumps(data).encode()
        settled(decode_record, value, headers, key)
