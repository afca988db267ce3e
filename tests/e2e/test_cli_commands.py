"""The command line's own behaviour, run as a user runs it (``python -m ticketflow`` in a
separate process): exit statuses, months and instants out of range, directories without a
store, closed output pipes, and the help of every argument (DESIGN §7)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli import Run, ce, embedded_env, run
from ticketflow.entrypoints.cli import build_parser

EVENTS = [
    ce("subscription.started", "acme", "s-1", "2026-03-02T09:00:00+01:00", {"tier": "GOLD"}),
    ce(
        "ticket.opened",
        "T-1",
        "o-1",
        "2026-05-04T12:00:00+02:00",
        {"priority": "P1", "channel": "portal", "language": "fr", "category": "compute"},
    ),
]
NO_TRACEBACK = "Traceback"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding a small store."""
    data_dir = tmp_path_factory.mktemp("store") / "data"
    done = run(data_dir, "ingest", "-", stdin="\n".join(EVENTS) + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    return data_dir


def assert_usage_error(result: Run, *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("ticketflow: error: "), result.stderr
    assert NO_TRACEBACK not in result.stderr
    for word in words:
        assert word in result.stderr


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


class TestMonthsOutOfRange:
    @pytest.mark.parametrize(
        "args",
        [
            ("expertise", "--month", "1999-01"),  # long before the catalog's first edition
            ("expertise", "--month", "2024-12"),  # the month before it
            ("expertise", "--month", "9999-12"),  # its end falls in year 10000
            ("billing", "--month", "0000-01"),
            ("billing", "--month", "1999-01"),
            ("billing", "--month", "9999-12"),
        ],
    )
    def test_is_a_usage_error(self, store: Path, args: tuple[str, ...]) -> None:
        what, _, month = args
        result = run(store, "query", what, "--tenant", "acme", *args[1:])
        assert_usage_error(result, f"month {month} is out of range", "2025-01", "9999-11")

    @pytest.mark.parametrize("month", ["2025-01", "9999-11"])
    def test_bounds_are_answered(self, store: Path, month: str) -> None:
        for what in ("expertise", "billing"):
            result = run(
                store, "query", what, "--tenant", "acme", "--month", month, "--format", "json"
            )
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["month"] == month

    @pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    def test_instant_not_representable_in_utc(self, store: Path, instant: str) -> None:
        result = run(store, "query", "sla", "--as-of", instant)
        assert_usage_error(result, "not representable in UTC")


READ_COMMANDS = {
    "query sla": ("query", "sla"),
    "query billing": ("query", "billing", "--tenant", "acme"),
    "query expertise": ("query", "expertise", "--tenant", "acme", "--month", "2026-05"),
    "history": ("history", "--ticket", "T-1"),
    "audit verify": ("audit", "verify"),
    "replay": ("replay",),
    "replay --in-place": ("replay", "--in-place"),
}


class TestNoStore:
    @pytest.mark.parametrize("command", READ_COMMANDS)
    def test_missing_directory_is_said_and_not_created(self, tmp_path: Path, command: str) -> None:
        data_dir = tmp_path / "nowhere"
        result = run(data_dir, *READ_COMMANDS[command])
        assert_usage_error(result, f"no ticketflow store in {data_dir}", "--data-dir")
        assert not data_dir.exists()

    @pytest.mark.parametrize("command", READ_COMMANDS)
    def test_empty_directory_stays_empty(self, tmp_path: Path, command: str) -> None:
        data_dir = tmp_path / "empty"
        data_dir.mkdir()
        result = run(data_dir, *READ_COMMANDS[command])
        assert_usage_error(result, f"no ticketflow store in {data_dir}")
        assert tree(data_dir) == []

    def test_replay_into_from_nowhere_creates_no_target(self, tmp_path: Path) -> None:
        target = tmp_path / "target"
        result = run(tmp_path / "nowhere", "replay", "--into", str(target))
        assert_usage_error(result, "no ticketflow store")
        assert not target.exists()

    @pytest.mark.parametrize("command", ["history", "audit verify", "replay"])
    def test_replay_directory_has_no_event_store(
        self, store: Path, tmp_path: Path, command: str
    ) -> None:
        replayed = tmp_path / "replayed"
        done = run(store, "replay", "--into", str(replayed))
        assert done.returncode == 0, done.stderr
        before = tree(replayed)
        result = run(replayed, *READ_COMMANDS[command])
        assert_usage_error(result, "rebuilt by replay but no event store", str(store))
        assert tree(replayed) == before


class TestClosedPipe:
    @pytest.mark.parametrize(
        "args",
        [("query", "sla", "--as-of", "2026-05-05T00:00:00Z"), ("history", "--ticket", "T-1")],
    )
    def test_ends_quietly_with_141(self, store: Path, args: tuple[str, ...]) -> None:
        """The reader closes the pipe before anything is written (as ``| head -0`` would)."""
        with subprocess.Popen(
            [sys.executable, "-m", "ticketflow", "--data-dir", str(store), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=embedded_env(),
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()
            stderr = process.stderr.read().decode()
            status = process.wait(timeout=120)
        assert status == 141, stderr
        assert stderr == ""

    def test_a_shell_pipeline_into_head(self, store: Path) -> None:
        """``ticketflow query sla --format json | head -1``: head reads a line and leaves."""
        many = "\n".join(
            ce(
                "ticket.opened",
                f"T-{n}",
                f"o-{n}",
                "2026-05-04T12:00:00+02:00",
                {"priority": "P3", "channel": "portal", "language": "en", "category": "other"},
            )
            for n in range(2, 1500)
        )
        done = run(store.parent / "many", "ingest", "-", stdin=many + "\n")
        assert done.returncode == 0, done.stderr
        line = (
            f"{sys.executable} -m ticketflow --data-dir {store.parent / 'many'} query sla "
            "--format json | head -1; echo status=${PIPESTATUS[0]}"
        )
        shell = subprocess.run(
            ["bash", "-c", line], capture_output=True, text=True, env=embedded_env(), timeout=120
        )
        assert shell.stdout.splitlines() == ["[", "status=141"], shell.stdout
        assert shell.stderr == ""


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's parser with its path, ``()`` for ``ticketflow`` itself."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += parsers(child, (*path, name))
    return found


def help_for(text: str, invocation: str) -> str:
    """The help shown for ``invocation`` (an option, a positional, a subcommand) in ``--help``
    output: the rest of its line, else the next line when indented further; "" if none."""
    lines = text.splitlines()
    lines = lines[lines.index("") :]  # past the usage, whose lines may start alike
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if indent < 2 or not stripped.startswith(invocation):
            continue
        rest = stripped[len(invocation) :]
        if rest.startswith("  "):
            return rest.strip()
        if rest == "" and i + 1 < len(lines):
            below = lines[i + 1]
            if len(below) - len(below.lstrip()) > indent:
                return below.strip()
            return ""
    return ""


def test_every_argument_of_every_command_has_help(tmp_path: Path) -> None:
    commands = parsers(build_parser())
    assert len(commands) > 10
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda c: run(tmp_path, *c[0], "--help"), commands))
    missing = []
    for (path, parser), result in zip(commands, outputs, strict=True):
        assert result.returncode == 0, result.stderr
        formatter = parser._get_formatter()
        shown = [
            formatter._format_action_invocation(action)
            for action in parser._actions
            if action.help is not argparse.SUPPRESS
        ]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                shown += [choice.dest for choice in action._choices_actions]
        missing += [
            f"ticketflow {' '.join(path)}: {invocation}"
            for invocation in shown
            if not help_for(result.stdout, invocation)
        ]
    assert missing == []
