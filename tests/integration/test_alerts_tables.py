"""The alert tables (``sla_alerts``, ``sla_alerter``, ``alert_deliveries``) are described
column by column in PostgreSQL like the read models, and stay out of rebuilds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from projections import ALL
from projections.sla_alerts import TABLES
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.service.diff import layouts


@pytest.mark.postgres
def test_every_alert_table_and_column_is_described(pg_database_factory: Callable[[], str]) -> None:
    import psycopg

    dsn = pg_database_factory()
    store = ReadModelStore.postgres(dsn)
    try:
        store.create_tables([TABLES])
        store.create_tables([TABLES])
    finally:
        store.close()
    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum), "
            "obj_description(c.oid, 'pg_class'), format_type(a.atttypid, a.atttypmod) "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 "
            "AND NOT a.attisdropped",
            (list(TABLES.tables),),
        ).fetchall()
    assert {t for t, *_ in columns} == set(TABLES.tables)
    assert [(t, c) for t, c, about, table_about, _ in columns if not about or not table_about] == []
    types = {(t, c): kind for t, c, _, _, kind in columns}
    assert types[("sla_alerts", "threshold_at")] == "timestamp with time zone"
    assert types[("sla_alerts", "late")] == "boolean"


def test_comments_name_only_columns_that_exist() -> None:
    created = {table: set(columns) for table, (columns, _) in layouts([TABLES]).items()}
    assert set(TABLES.comments) == set(TABLES.tables)
    for table, (_, columns) in TABLES.comments.items():
        assert set(columns) == created[table], table


def test_rebuilds_never_touch_the_alerts() -> None:
    """Replaying or rebuilding the read models works on ``projections.ALL``: the alert tables
    are not among them, so a rebuild neither drops nor re-emits an alert (R-ALERT-2)."""
    rebuilt = {table for projection in ALL for table in projection.tables}
    assert rebuilt.isdisjoint(TABLES.tables)
