"""Every read-model table and column carries its meaning in PostgreSQL (``COMMENT ON``), for
analysts who read the database without ticketflow's docs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from projections import ALL
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.service.diff import layouts


@pytest.mark.postgres
def test_every_table_and_column_is_described(pg_database_factory: Callable[[], str]) -> None:
    import psycopg

    dsn = pg_database_factory()
    store = ReadModelStore.postgres(dsn)
    try:
        store.create_tables(ALL)
        store.create_tables(ALL)  # idempotent, as every worker start does it
    finally:
        store.close()
    tables = [table for projection in ALL for table in projection.tables] + ["tracking"]
    with psycopg.connect(dsn) as conn:
        described = dict(
            conn.execute(
                "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                "WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
                (tables,),
            ).fetchall()
        )
        columns = conn.execute(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 "
            "AND NOT a.attisdropped",
            (tables,),
        ).fetchall()
    assert sorted(described) == sorted(tables)
    assert [t for t, about in described.items() if not about] == []
    assert len(columns) > 60
    assert [(t, c) for t, c, about in columns if not about] == []
    percent = [about for t, c, about in columns if (t, c) == ("sla_cycles", "warn_50_at")]
    assert percent == ["when 50 % of the GTR elapses (R-SLA-10)"]


def test_comments_name_only_columns_that_exist() -> None:
    """A comment on a column the DDL does not create would fail on PostgreSQL at start-up;
    this catches it on any machine."""
    created = {table: set(columns) for table, (columns, _) in layouts(ALL).items()}
    for projection in ALL:
        assert set(projection.comments) == set(projection.tables)
        for table, (_, columns) in projection.comments.items():
            assert set(columns) == created[table], table


ACCESS_PATHS = [  # (an analyst's question, the index that answers it)
    ("SELECT * FROM sla_cycles WHERE tenant = 'acme'", "sla_cycles_tenant"),
    ("SELECT * FROM sla_tickets WHERE tenant = 'acme'", "sla_tickets_tenant"),
    (
        "SELECT * FROM sla_tickets WHERE opened_at >= '2026-03-01T00:00:00Z' "
        "AND opened_at < '2026-04-01T00:00:00Z'",
        "sla_tickets_opened_at",
    ),
    (
        "SELECT * FROM sla_cycles WHERE clock_started_at >= '2026-03-01T00:00:00Z'",
        "sla_cycles_clock_started_at",
    ),
    ("SELECT * FROM sla_cycles WHERE outcome = 'breached'", "sla_cycles_outcome"),
    (
        "SELECT * FROM sla_cycles WHERE clock_started_at IS NOT NULL AND outcome IS NULL "
        "AND deadline < '2026-03-01T00:00:00Z'",
        "sla_cycles_running",
    ),
    ("SELECT * FROM billing_months WHERE month = '2026-03'", "billing_months_month"),
    ("SELECT * FROM expertise_months WHERE month = '2026-03'", "expertise_months_month"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("query", "index"), ACCESS_PATHS)
def test_each_access_path_has_its_index(
    pg_database_factory: Callable[[], str], query: str, index: str
) -> None:
    """With sequential scans ruled out, the planner answers each question from its index (on
    the few rows of a test, it would otherwise rightly prefer a scan)."""
    import psycopg

    dsn = pg_database_factory()
    store = ReadModelStore.postgres(dsn)
    try:
        store.create_tables(ALL)
    finally:
        store.close()
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {query}").fetchall())
    assert index in plan, plan
