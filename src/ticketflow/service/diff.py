"""Read models compared row by row (``replay --diff``): a rebuild beside the live read models,
and each difference named by table, key and columns, so that a change of rule or code can be
seen for what it does before the rebuild is used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.base import Projection
from projections.storage import ReadModelStorage


@dataclass(frozen=True)
class Difference:
    """One row that differs: only live (``removed`` by the rebuild), only rebuilt (``added``)
    or in both with other values (``changed``, with the columns and both values)."""

    table: str
    key: dict[str, Any]
    kind: str
    columns: tuple[str, ...] = ()
    live: tuple[Any, ...] = ()
    rebuilt: tuple[Any, ...] = ()

    def row(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "key": ", ".join(f"{k}={v}" for k, v in self.key.items()),
            "kind": self.kind,
            "columns": ", ".join(self.columns),
            "live": ", ".join(map(str, self.live)),
            "rebuilt": ", ".join(map(str, self.rebuilt)),
        }


DIFF_FIELDS = ("table", "key", "kind", "columns", "live", "rebuilt")
_TABLE = re.compile(r"\s*CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", re.S)


def layouts(projections: Sequence[Projection]) -> dict[str, tuple[list[str], list[str]]]:
    """``{table: (columns, key columns)}`` from the projections' DDL."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for projection in projections:
        for statement in projection.ddl:
            match = _TABLE.match(statement)
            if not match:
                continue
            columns: list[str] = []
            key: list[str] = []
            for line in (part.strip().rstrip(",") for part in match.group(2).splitlines()):
                if not line:
                    continue
                if line.startswith("PRIMARY KEY"):
                    key = [
                        c.strip() for c in line[line.index("(") + 1 : line.index(")")].split(",")
                    ]
                    continue
                name = line.split()[0]
                columns.append(name)
                if "PRIMARY KEY" in line:
                    key = [name]
            found[match.group(1)] = (columns, key)
    return found


def _rows(store: ReadModelStorage, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with store.transaction() as c:
        c.execute(f"SELECT {', '.join(columns)} FROM {table}")
        return [tuple(row) for row in c.fetchall()]


def compare(
    live: ReadModelStorage, rebuilt: ReadModelStorage, projections: Sequence[Projection]
) -> list[Difference]:
    """Every row that differs between the live and the rebuilt read models, table by table,
    in key order."""
    differences: list[Difference] = []
    for table, (columns, key) in layouts(projections).items():
        at = [columns.index(k) for k in key]

        def keyed(rows: list[tuple[Any, ...]], at: list[int] = at) -> dict[tuple[Any, ...], Any]:
            return {tuple(row[i] for i in at): row for row in rows}

        before, after = keyed(_rows(live, table, columns)), keyed(_rows(rebuilt, table, columns))
        for k in sorted(before.keys() | after.keys(), key=lambda k: tuple(map(str, k))):
            named = dict(zip(key, k, strict=True))
            old, new = before.get(k), after.get(k)
            if new is None:
                differences.append(Difference(table, named, "removed"))
            elif old is None:
                differences.append(Difference(table, named, "added"))
            elif old != new:
                changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
                differences.append(
                    Difference(
                        table,
                        named,
                        "changed",
                        tuple(columns[i] for i in changed),
                        tuple(old[i] for i in changed),
                        tuple(new[i] for i in changed),
                    )
                )
    return differences
