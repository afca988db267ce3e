"""Output for analysts: aligned tables, JSON, CSV (``--format table|json|csv``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "json", "csv")


def cell(value: Any) -> str:
    """A value as shown in a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(no rows)"
    cells = [[cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({col: cell(row.get(col)) for col in columns})
    return buffer.getvalue().rstrip("\n")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def rows(data: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    if fmt == "json":
        return to_json(list(data))
    if fmt == "csv":
        return to_csv(data, columns)
    return table(data, columns)


def record(data: dict[str, Any], fmt: str) -> str:
    """One object: JSON as is; table as key/value lines and sub-tables; CSV of its scalars."""
    if fmt == "json":
        return to_json(data)
    scalars = {k: v for k, v in data.items() if not isinstance(v, list)}
    if fmt == "csv":
        return to_csv([scalars], list(scalars))
    width = max(len(k) for k in data)
    parts = ["\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in scalars.items())]
    for key, value in data.items():
        if isinstance(value, list):
            columns = list(value[0]) if value else []
            parts.append(f"\n{key}:\n" + (table(value, columns) if value else "(none)"))
    return "\n".join(parts)
