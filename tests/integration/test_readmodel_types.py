"""The read models as analysts query them (DESIGN §3b): on PostgreSQL instants are
``timestamptz`` (compared and ordered as instants, fractions of a second included), flags
``boolean``, with indexes for the access paths; the Python side still reads RFC 3339 text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from projections import ALL
from tests.factories import apply, event, opened, system_factory, ticket_fact
from ticketflow.adapters.readmodels import ReadModelStore, _pg_instant
from ticketflow.service import queries
from ticketflow.service.audit import table_digests

TABLES = [t for p in ALL for t in p.tables]
EVENTS = [
    event("subscription.started", "acme", "2026-03-01T00:00:00+01:00", {"tier": "GOLD"}),
    opened("EXACT", "2026-03-10T08:00:00Z"),
    opened("FRACTION", "2026-03-10T08:00:00.123456Z", beta_feature=True),
    opened("BEFORE", "2026-03-10T07:59:59.999Z"),
    ticket_fact("service_restored", "EXACT", "2026-03-10T12:00:00.5Z"),
]


def test_instant_text_is_the_projections_text() -> None:
    assert _pg_instant(b"2026-03-10 08:00:00+00") == "2026-03-10T08:00:00Z"
    assert _pg_instant(b"2026-03-10 08:00:00.5+00") == "2026-03-10T08:00:00.500000Z"
    assert _pg_instant(b"2026-03-10 08:00:00.123456+00") == "2026-03-10T08:00:00.123456Z"


@pytest.mark.postgres
def test_postgres_types_indexes_and_the_same_rows_as_sqlite(
    tmp_path: Path, pg_database_factory: Callable[[], str]
) -> None:
    system = system_factory(tmp_path)
    apply(system, EVENTS)
    dsn = pg_database_factory()
    pg = ReadModelStore.postgres(dsn)
    try:
        system.project(into=pg)
        assert table_digests(pg, TABLES) == table_digests(system.readmodels, TABLES)
        in_order = ["BEFORE", "EXACT", "FRACTION"]  # opening instants, fractions included
        assert [r["ticket"] for r in queries.sla(system.readmodels)] == in_order
        assert queries.sla(pg) == queries.sla(system.readmodels)
    finally:
        pg.close()
        system.close()

    with psycopg.connect(dsn) as conn:
        after = conn.execute(
            "SELECT ticket FROM sla_tickets WHERE opened_at > '2026-03-10T08:00:00Z' "
            "ORDER BY opened_at"
        ).fetchall()
        assert after == [("FRACTION",)]
        order = conn.execute("SELECT ticket FROM sla_tickets ORDER BY opened_at").fetchall()
        assert order == [("BEFORE",), ("EXACT",), ("FRACTION",)]
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM "
                "information_schema.columns WHERE table_schema = 'public'"
            ).fetchall()
        )
        assert types["sla_tickets.opened_at"] == "timestamp with time zone"
        assert types["sla_cycles.deadline"] == "timestamp with time zone"
        assert types["billing_changes.billing_effective_at"] == "timestamp with time zone"
        assert types["expertise_consumptions.at"] == "timestamp with time zone"
        assert types["sla_tickets.beta_feature"] == "boolean"
        assert types["billing_subscriptions.implicit"] == "boolean"
        assert types["sla_cycles.gtr_minutes"] == "integer"
        beta = conn.execute("SELECT ticket FROM sla_tickets WHERE beta_feature").fetchall()
        assert beta == [("FRACTION",)]
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        }
        assert {
            "sla_tickets_tenant",
            "sla_cycles_clock_started_at",
            "sla_cycles_outcome",
            "sla_cycles_running",
            "billing_months_month",
            "expertise_months_month",
        } <= indexes


@pytest.mark.postgres
def test_the_sql_function_equals_the_sla_query(
    tmp_path: Path, pg_database_factory: Callable[[], str]
) -> None:
    """``ticketflow_sla(T)`` (R-SLA-11) gives the rows of ``query sla --as-of T``, on generated
    data and the boundary cases, for instants inside and after the facts."""
    from tests.factories import lines
    from ticketflow.contract import parse_event
    from ticketflow.domain.instants import parse_rfc3339
    from ticketflow_tools.synthetic import generate

    system = system_factory(tmp_path)
    raw = [json.loads(line) for line in [*lines(EVENTS), *generate(1500, seed=8)]]
    system.engine.apply_batch([parse_event(e) for e in raw])
    pg = ReadModelStore.postgres(pg_database_factory())
    try:
        system.project(into=pg)
        times = sorted({e["time"] for e in raw}, key=parse_rfc3339)
        instants = [parse_rfc3339(times[i * len(times) // 6]) for i in range(1, 6)]
        instants += [parse_rfc3339("2026-03-10T12:00:00.5Z"), parse_rfc3339("2027-01-01T00:00:00Z")]
        seen: set[str] = set()
        for at in instants:
            with pg.transaction() as c:
                c.execute("SELECT * FROM ticketflow_sla(?)", (at,))
                found = [dict(zip(COLUMNS, row, strict=True)) for row in c.fetchall()]
            expected = queries.sla(pg, as_of=at)
            assert found == expected, at
            seen.update(r["status"] for r in expected)
        assert {"breached", "met", "running", "not_applicable"} <= seen  # not a trivial match
    finally:
        pg.close()
        system.close()


COLUMNS = (
    "ticket", "tenant", "priority", "tier", "category", "status", "reason", "opened_at",
    "clock_started_at", "deadline", "restored_at", "breach_minutes", "cycles",
)  # fmt: skip
