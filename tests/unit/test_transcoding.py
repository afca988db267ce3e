"""The event store's orjson codec gives eventsourcing's JSONTranscoder's bytes and objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st

from ticketflow.service.transcoding import FastJSONTranscoder


def pair() -> tuple[JSONTranscoder, FastJSONTranscoder]:
    plain, fast = JSONTranscoder(), FastJSONTranscoder()
    for transcoder in (plain, fast):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return plain, fast


PLAIN, FAST = pair()
STATES: list[dict[str, Any]] = [
    {"timestamp": datetime(2026, 5, 5, 10, tzinfo=UTC), "tenant": "acme", "minutes": 240},
    {"at": datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=1))), "note": "é ü ✓ \u2028"},
    {"hours": 1.5, "big": 2**40, "flag": False, "none": None, "text": 'quo"te\\'},
    {"nested": {"at": datetime(2026, 1, 1, tzinfo=UTC), "list": [1, {"d": Decimal("1.10")}]}},
    {"id": uuid4(), "amount": Decimal("12.50"), "items": [datetime(2026, 1, 2, tzinfo=UTC)]},
    {"_type_": "not", "_data_": "a transcoding"},  # a plain dict shaped like one: kept as is
    # Lists of plain values (an expert's hours drawn from packs) are written by orjson too.
    {"from_packs": [["p1", 10], ["p2", 20]], "empty": [], "at": [[datetime(2026, 1, 2)]]},
    {"packs": [["p1", Decimal("1.5")], {"pack": "p2"}]},  # not plain: eventsourcing writes it
]


@pytest.mark.parametrize("state", STATES)
def test_same_bytes_and_same_objects(state: dict[str, Any]) -> None:
    if "_type_" in state:
        with pytest.raises(Exception, match="not deserializable"):
            PLAIN.decode(PLAIN.encode(state))
        with pytest.raises(Exception, match="not deserializable"):
            FAST.decode(FAST.encode(state))
        return
    assert FAST.encode(state) == PLAIN.encode(state)
    assert FAST.decode(PLAIN.encode(state)) == PLAIN.decode(PLAIN.encode(state)) == state


plain_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.datetimes(timezones=st.just(UTC)),
)


@given(st.dictionaries(st.text(), plain_values, max_size=8))
def test_any_plain_state_round_trips_as_eventsourcing_reads_it(state: dict[str, Any]) -> None:
    encoded = FAST.encode(state)
    assert PLAIN.decode(encoded) == FAST.decode(encoded) == state
    assert FAST.decode(PLAIN.encode(state)) == state


instants = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.timezones()),
    st.datetimes(),
)
exact_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(),
    instants,
    st.lists(st.one_of(st.text(), st.integers(min_value=0, max_value=2**40), st.none())),
)


@given(st.dictionaries(st.text(), exact_values, max_size=8))
def test_same_bytes_for_states_of_text_numbers_and_instants(state: dict[str, Any]) -> None:
    assert FAST.encode(state) == PLAIN.encode(state)
    # An instant comes back at its offset, as eventsourcing reads it (a zone is not kept).
    assert FAST.decode(FAST.encode(state)) == PLAIN.decode(PLAIN.encode(state))
