"""Reading ``(source, id, tenant)`` from what the contract refused, for the outcomes a
publisher looks up (R-IN-7): never an error, whatever the record holds."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from ticketflow.adapters.outcomes import identity


class Record(NamedTuple):
    value: bytes | None
    headers: list[tuple[str, bytes]]


@pytest.mark.parametrize(
    "original",
    [
        "[" * 100_000 + "]" * 100_000,  # nested beyond the decoder's recursion limit
        Record(b"[" * 100_000, []),
        Record(b"\xff\xfe not UTF-8", []),
        Record(None, []),
        "not json",
        "[1, 2]",
        json.dumps({"id": 1, "source": "s"}),
        json.dumps({"id": "nul\u0000", "source": "s"}),  # PostgreSQL text refuses NUL
        json.dumps({"id": "x" * 100_000, "source": "s"}),  # beyond an index entry
    ],
)
def test_what_is_not_an_event_has_no_identity(original: Any) -> None:
    assert identity(None, original) is None


def test_identity_from_structured_binary_and_platform_records() -> None:
    text = json.dumps({"id": "e-1", "source": "crm", "tenant": "acme", "type": "ticket.opened"})
    assert identity(None, text) == ("crm", "e-1", "acme")
    binary = Record(b"{}", [("ce_id", b"e-2"), ("ce_source", b"crm"), ("ce_tenant", b"acme")])
    assert identity(None, binary) == ("crm", "e-2", "acme")
    platform = json.dumps({"id": "p-1", "source": "ops", "tenant": "x", "type": "platform.x"})
    assert identity(None, platform) == ("ops", "p-1", None)
