"""docker-compose.yml and the Dockerfile agree with the code: services, settings, commands.

No container is started: the files are parsed and checked against what the project reads
(``Settings.variables()``) and the commands it has (``ticketflow.entrypoints.cli``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from projections import ALL
from ticketflow.adapters.eventstore import pg_env
from ticketflow.entrypoints import cli
from ticketflow.entrypoints.cli import serve as cli_serve
from ticketflow.settings import KAFKA_OPTION_PREFIX, Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVERS = {"kafka", "postgres"}
TICKETFLOW_SERVICES = {
    "topics",
    "engine",
    "relay",
    "projections",
    "alerts",
    "api",
    "keys",
}
# The Kafka-mode subcommands (`ticketflow topics create`, `ticketflow worker ROLE [NAME]`) are
# named here as well as looked up in the parser, so a compose file naming anything else fails
# even where those commands are not registered.
KAFKA_MODE_COMMANDS = {"topics", "worker"}
OTHER_COMMANDS = {"keys"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def parse_command(command: list[str]) -> argparse.Namespace:
    try:
        return cli.build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"`ticketflow {' '.join(command)}` is not a valid command line")


def subcommands() -> set[str]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for action in actions for name in action.choices}


# -- compose --------------------------------------------------------------------------------


def test_the_whole_topology_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVERS | TICKETFLOW_SERVICES


@pytest.mark.parametrize("name", sorted(TICKETFLOW_SERVICES))
def test_ticketflow_services_use_only_settings_the_project_reads(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    known = {variable for variable, _, _ in Settings.variables()}
    unknown = {k for k in env if k not in known and not k.startswith(KAFKA_OPTION_PREFIX)}
    assert not unknown, f"{name}: variables ticketflow does not read: {sorted(unknown)}"
    settings = Settings.from_env(env=env)  # values must be valid too
    assert settings.store == "postgres"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert pg_env(settings.pg_dsn or "")["POSTGRES_HOST"] == "postgres"


def test_the_dsn_matches_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    pg = environment(services["postgres"])
    dsn = pg_env(environment(services["api"])["TICKETFLOW_PG_DSN"])
    assert (dsn["POSTGRES_USER"], dsn["POSTGRES_PASSWORD"], dsn["POSTGRES_DBNAME"]) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )


def test_shared_environment_is_one_anchor() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"^x-[\w-]+: &[\w-]+", text, re.MULTILINE)
    assert text.count("TICKETFLOW_PG_DSN:") == 1


@pytest.mark.parametrize("name", sorted(TICKETFLOW_SERVICES))
def test_ticketflow_services_run_the_built_image(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    assert service.get("build") in (".", {"context": "."})
    assert service["image"] == services["api"]["image"]


@pytest.mark.parametrize("name", sorted(TICKETFLOW_SERVICES))
def test_commands_name_real_subcommands(services: dict[str, dict[str, Any]], name: str) -> None:
    command = [str(part) for part in services[name]["command"]]
    if command[0] == "serve":
        assert "serve" in subcommands()
        args = parse_command(command)
        assert args.func is cli_serve.cmd_serve
        return
    assert command[0] in KAFKA_MODE_COMMANDS | OTHER_COMMANDS
    if command[0] in subcommands():
        parse_command(command)


def test_every_projection_has_its_worker(services: dict[str, dict[str, Any]]) -> None:
    """One ``worker projections`` service feeds every read model, unless one is named by a
    ``worker projection NAME`` service of its own; the projections service scales."""
    commands = [services[n]["command"] for n in TICKETFLOW_SERVICES]
    fanout = [c for c in commands if c[:2] == ["worker", "projections"]]
    alone = {c[2] for c in commands if c[:2] == ["worker", "projection"]}
    fed = set().union(*(c[2:] or [p.name for p in ALL] for c in fanout)) | alone
    assert fed == {p.name for p in ALL}
    assert services["projections"]["deploy"]["replicas"] >= 1
    assert "container_name" not in services["projections"]  # would forbid scaling


def test_roles(services: dict[str, dict[str, Any]]) -> None:
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["engine"]["command"] == ["worker", "inbound"]
    assert services["relay"]["command"] == ["worker", "relay"]


def test_api_is_published_on_loopback_by_default(services: dict[str, dict[str, Any]]) -> None:
    args = parse_command(services["api"]["command"])
    assert args.host == "0.0.0.0"
    assert services["api"]["ports"] == [
        f"${{TICKETFLOW_API_BIND:-127.0.0.1}}:{args.port}:{args.port}"
    ]


def test_the_first_api_key_comes_from_a_secret(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    args = parse_command(services["keys"]["command"])
    assert args.secret_file == "/run/secrets/api_key"
    assert "operator" in args.role[0].split(",")
    assert services["keys"]["secrets"] == ["api_key"]
    assert "api_key" in compose["secrets"]
    assert services["api"]["depends_on"]["keys"]["condition"] == "service_completed_successfully"


def test_compose_and_kafka_local_run_the_same_kafka(services: dict[str, dict[str, Any]]) -> None:
    pom = (ROOT / "scripts" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version is not None
    assert services["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_start_order_waits_for_healthy_servers(services: dict[str, dict[str, Any]]) -> None:
    for server in SERVERS:
        assert services[server]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in TICKETFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        if name != "topics":
            assert depends["postgres"]["condition"] == "service_healthy"
            assert depends["topics"]["condition"] == "service_completed_successfully"


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:(3\.9\.\d+|4\.\d+\.\d+)", kafka["image"])
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@kafka:")
    for name, value in env.items():
        if name.endswith("REPLICATION_FACTOR"):
            assert value == "1", name
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["postgres"]["image"].startswith("postgres:16")


# -- Dockerfile -----------------------------------------------------------------------------


def dockerfile() -> dict[str, list[str]]:
    """Instruction → arguments, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def test_dockerfile_entrypoint_is_ticketflow() -> None:
    found = dockerfile()
    assert json.loads(found["ENTRYPOINT"][-1]) == ["ticketflow"]
    args = parse_command(json.loads(found["CMD"][-1]))
    assert args.func is cli_serve.cmd_serve
    assert args.host == "0.0.0.0"


def test_dockerfile_base_and_user() -> None:
    found = dockerfile()
    assert found["FROM"] == ["python:3.11-slim"]
    assert any(".[postgres]" in run for run in found["RUN"])
    assert found["USER"][-1] not in ("root", "0")
