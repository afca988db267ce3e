"""Output for analysts: aligned tables, JSON, CSV (``--format table|json|csv``)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.box import Box
from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "json", "csv")


def cell(value: Any) -> str:
    """A value as shown in a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# Under the header a dashed rule, one run of dashes per column; no other lines. ASCII, so that
# the table reads the same in a file, a pipe or a terminal with any encoding.
_RULED_HEAD = Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)
_WIDE = 1_000_000  # wider than any table: columns are never wrapped nor cut


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], color: bool | None = None) -> str:
    """Rows as an aligned table: a header, a dashed rule whose runs span each column, and one
    line per row, columns two spaces apart. The header is bold when ``color`` (by default: when
    standard output is a terminal); otherwise the text is plain."""
    if not rows:
        return "(no rows)"
    styled = sys.stdout.isatty() if color is None else color
    grid = Table(box=_RULED_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for col in columns:
        grid.add_column(Text(col, style="bold" if styled else ""), no_wrap=True, overflow="ignore")
    for row in rows:
        grid.add_row(*(Text(cell(row.get(col))) for col in columns))
    return _text(grid, styled)


def pairs(data: dict[str, Any], color: bool | None = None) -> str:
    """``key  value`` lines, values aligned; keys bold when ``color`` (as for ``table``)."""
    styled = sys.stdout.isatty() if color is None else color
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, overflow="ignore")
    grid.add_column(no_wrap=True, overflow="ignore")
    for key, value in data.items():
        grid.add_row(Text(key, style="bold" if styled else ""), Text(cell(value)))
    return _text(grid, styled)


def _text(renderable: Table, styled: bool) -> str:
    """The table as text, each line without trailing blanks."""
    console = Console(
        file=io.StringIO(),
        width=_WIDE,
        force_terminal=styled,
        color_system="standard" if styled else None,
        highlight=False,
        emoji=False,
        markup=False,
    )
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().rstrip("\n").split("\n"))


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
    parts = [pairs(scalars)]
    for key, value in data.items():
        if isinstance(value, list):
            columns = list(value[0]) if value else []
            parts.append(f"\n{key}:\n" + (table(value, columns) if value else "(none)"))
    return "\n".join(parts)
