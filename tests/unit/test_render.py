"""Output for analysts: tables for people, CSV and JSON for programs."""

from __future__ import annotations

import re
from typing import Any

from ticketflow.entrypoints import render

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ROWS: list[dict[str, Any]] = [
    {"ticket": "T-1", "status": "breached", "breach_minutes": 12, "restored": True, "at": None},
    {"ticket": "T-20", "status": "ok", "breach_minutes": 0, "restored": False, "at": "2026-03-01"},
]
COLUMNS = ("ticket", "status", "breach_minutes", "restored", "at")


def parse(text: str) -> list[dict[str, str]]:
    """A table back into rows, by the runs of dashes under its header."""
    header, dashes, *body = text.splitlines()
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    names = [header[a:b].strip() for a, b in spans]
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, spans, strict=True)} for line in body]


class TestTable:
    def test_layout(self) -> None:
        assert render.table(ROWS, COLUMNS, color=False).splitlines() == [
            "ticket  status    breach_minutes  restored  at",
            "------- --------- --------------- --------- ----------",
            "T-1     breached  12              yes",
            "T-20    ok        0               no        2026-03-01",
        ]

    def test_rows_read_back_as_their_cells(self) -> None:
        assert parse(render.table(ROWS, COLUMNS, color=False)) == [
            {c: render.cell(row[c]) for c in COLUMNS} for row in ROWS
        ]

    def test_plain_off_a_terminal(self) -> None:
        # Under pytest standard output is captured, not a terminal.
        text = render.table(ROWS, COLUMNS)
        assert "\x1b" not in text
        assert text == render.table(ROWS, COLUMNS, color=False)

    def test_on_a_terminal_only_the_look_changes(self) -> None:
        styled = render.table(ROWS, COLUMNS, color=True)
        assert "\x1b[1m" in styled
        plain = [line.rstrip() for line in ESCAPE.sub("", styled).splitlines()]
        assert plain == render.table(ROWS, COLUMNS, color=False).splitlines()

    def test_long_values_are_neither_wrapped_nor_cut(self) -> None:
        facts = '{"note": "' + "x" * 400 + '"}'
        text = render.table([{"version": 1, "facts": facts}], ("version", "facts"), color=False)
        assert text.splitlines()[2] == "1        " + facts

    def test_values_are_shown_as_they_are(self) -> None:
        rows = [{"text": "[bold]x[/bold] :smile: \\[y]"}]
        assert parse(render.table(rows, ("text",), color=False)) == rows

    def test_no_trailing_blanks(self) -> None:
        for line in render.table(ROWS, COLUMNS, color=False).splitlines():
            assert line == line.rstrip()

    def test_no_rows(self) -> None:
        assert render.table([], COLUMNS) == "(no rows)"


class TestRecord:
    def test_pairs_then_sub_tables(self) -> None:
        data = {"ticket": "T-1", "priority": "P1", "open": True, "cycles": [{"n": 1, "at": None}]}
        assert render.record(data, "table") == (
            "ticket    T-1\npriority  P1\nopen      yes\n\ncycles:\nn  at\n-- --\n1"
        )

    def test_an_empty_list(self) -> None:
        assert render.record({"ticket": "T-1", "cycles": []}, "table") == (
            "ticket  T-1\n\ncycles:\n(none)"
        )


class TestFormatsForPrograms:
    def test_csv(self) -> None:
        assert render.rows(ROWS, COLUMNS, "csv") == (
            "ticket,status,breach_minutes,restored,at\n"
            "T-1,breached,12,yes,\n"
            "T-20,ok,0,no,2026-03-01"
        )

    def test_json(self) -> None:
        assert render.rows(ROWS[:1], COLUMNS, "json") == (
            "[\n"
            "  {\n"
            '    "ticket": "T-1",\n'
            '    "status": "breached",\n'
            '    "breach_minutes": 12,\n'
            '    "restored": true,\n'
            '    "at": null\n'
            "  }\n"
            "]"
        )

    def test_record_csv_has_its_scalars(self) -> None:
        data = {"ticket": "T-1", "open": False, "cycles": [{"n": 1}]}
        assert render.record(data, "csv") == "ticket,open\nT-1,no"
