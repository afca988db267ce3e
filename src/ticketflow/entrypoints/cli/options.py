"""Options shared by the commands, declared once."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ticketflow.entrypoints import render


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = render.FORMATS) -> None:
    """``--format`` among ``choices`` (table, json, csv unless told), table by default."""
    parser.add_argument(
        "--format", choices=tuple(choices), default="table", help="output format (default table)"
    )


__all__ = ["add_format"]
