"""``ticketflow worker projections [NAME …]``: which read models, which consumer group, and the
errors for names it does not know (no broker needed: they are refused before any client)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projections import ALL
from ticketflow.entrypoints import cli
from ticketflow.entrypoints.cli.kafka import projections_group, projections_named
from ticketflow.errors import ConfigurationError
from ticketflow.settings import Settings

NAMES = [p.name for p in ALL]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env={"TICKETFLOW_GROUP_PREFIX": "g"}, data_dir=tmp_path)


def test_every_registered_read_model_by_default(settings: Settings) -> None:
    assert [p.name for p in projections_named(None)] == NAMES
    assert [p.name for p in projections_named(["all"])] == NAMES
    assert projections_group(settings, None) == projections_group(settings, ["all"])
    assert projections_group(settings, None) == "g-projections"


def test_names_in_the_registry_order_and_one_name_keeps_its_own_group(
    settings: Settings,
) -> None:
    backwards = list(reversed(NAMES[:2]))
    assert [p.name for p in projections_named(backwards)] == NAMES[:2]
    assert projections_group(settings, backwards) == "g-" + "+".join(NAMES[:2])
    # The group of `worker projection NAME`: a read model moves between the two commands.
    assert projections_group(settings, [NAMES[0]]) == f"g-{NAMES[0]}"


def test_an_unknown_name_is_refused(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown read model.*'nope'"):
        projections_named(["nope", NAMES[0]])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["worker", "projection", NAMES[0], NAMES[1]], "takes one read model"),
        (["worker", "inbound", NAMES[0]], "takes no name"),
        (["worker", "relay", "--group", "x"], "--group is for worker projections"),
        (["worker", "projections", "nope"], "unknown read model"),
    ],
)
def test_the_command_says_what_is_wrong(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--data-dir", str(tmp_path), *argv]) == 2
    assert says in capsys.readouterr().err
