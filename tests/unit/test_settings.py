"""Settings from the environment: defaults, validation, Kafka client options, round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from ticketflow import settings as settings_module
from ticketflow.adapters.kafka import _options
from ticketflow.errors import ConfigurationError
from ticketflow.settings import KAFKA_OPTION_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
KAFKA = {"TICKETFLOW_MODE": "kafka", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """Settings from the variables given, and from nothing else of this process's environment."""

    def make(**variables: str) -> Settings:
        return Settings.from_env(env=variables, data_dir=tmp_path)

    return make


class TestDefaults:
    def test_nothing_set(self) -> None:
        settings = Settings.from_env(env={})
        assert settings.data_dir == Path(".ticketflow")
        assert (settings.mode, settings.store) == ("embedded", "sqlite")
        assert (settings.pg_dsn, settings.kafka_bootstrap, settings.kafka_options) == (
            None,
            None,
            {},
        )
        assert (settings.topic_inbound, settings.topic_events, settings.topic_deadletter) == (
            "ticketflow.inbound",
            "ticketflow.events",
            "ticketflow.deadletter",
        )
        assert (settings.group_prefix, settings.partitions, settings.batch_size) == (
            "ticketflow",
            6,
            500,
        )

    def test_a_given_mapping_is_all_that_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TICKETFLOW_STORE", "postgres")
        monkeypatch.setenv("TICKETFLOW_BATCH_SIZE", "7")
        assert Settings.from_env(env={}) == Settings.from_env(env={"TICKETFLOW_STORE": "sqlite"})
        assert Settings.from_env(env={}).batch_size == 500

    def test_the_process_environment_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TICKETFLOW_BATCH_SIZE", "7")
        monkeypatch.setenv("TICKETFLOW_HOME", "/srv/ticketflow")
        assert Settings.from_env().batch_size == 7
        assert Settings.from_env().data_dir == Path("/srv/ticketflow")

    def test_data_dir_argument_wins_over_ticketflow_home(self, tmp_path: Path) -> None:
        env = {"TICKETFLOW_HOME": "/srv/ticketflow"}
        assert Settings.from_env(env=env, data_dir=tmp_path).data_dir == tmp_path
        assert Settings.from_env(env=env, data_dir=str(tmp_path)).data_dir == tmp_path

    def test_an_empty_variable_counts_as_unset(self, settings_factory: SettingsFactory) -> None:
        settings = settings_factory(TICKETFLOW_STORE="", TICKETFLOW_PARTITIONS="")
        assert (settings.store, settings.partitions) == ("sqlite", 6)

    def test_values_are_typed(self, settings_factory: SettingsFactory) -> None:
        settings = settings_factory(TICKETFLOW_PARTITIONS="3", TICKETFLOW_BATCH_SIZE="2000")
        assert (settings.partitions, settings.batch_size) == (3, 2000)

    def test_settings_are_frozen(self, settings_factory: SettingsFactory) -> None:
        settings = settings_factory()
        with pytest.raises(ValueError, match="frozen"):
            settings.mode = "kafka"  # type: ignore[misc]


class TestValidation:
    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            (
                {"TICKETFLOW_STORE": "mysql"},
                "TICKETFLOW_STORE='mysql': expected 'sqlite' or 'postgres'",
            ),
            (
                {"TICKETFLOW_MODE": "cluster"},
                "TICKETFLOW_MODE='cluster': expected 'embedded' or 'kafka'",
            ),
            (
                {"TICKETFLOW_STORE": "postgres"},
                "TICKETFLOW_STORE=postgres needs TICKETFLOW_PG_DSN "
                "(postgresql://user:password@host:port/dbname)",
            ),
            (
                {"TICKETFLOW_MODE": "kafka"},
                "TICKETFLOW_MODE=kafka needs KAFKA_BOOTSTRAP_SERVERS (host:port,...)",
            ),
            (
                {"TICKETFLOW_PARTITIONS": "six"},
                "TICKETFLOW_PARTITIONS='six': expected an integer",
            ),
            (
                {"TICKETFLOW_BATCH_SIZE": "0"},
                "TICKETFLOW_BATCH_SIZE='0': expected a positive integer",
            ),
            (
                {"TICKETFLOW_PARTITIONS": "-2"},
                "TICKETFLOW_PARTITIONS='-2': expected a positive integer",
            ),
            (
                {KAFKA_OPTION_PREFIX: "1"},
                f"{KAFKA_OPTION_PREFIX}: name a kafka-python client option after "
                f"{KAFKA_OPTION_PREFIX} (e.g. {KAFKA_OPTION_PREFIX}SECURITY_PROTOCOL)",
            ),
        ],
    )
    def test_each_error_names_its_variable(
        self, settings_factory: SettingsFactory, variables: dict[str, str], message: str
    ) -> None:
        with pytest.raises(ConfigurationError) as raised:
            settings_factory(**variables)
        assert str(raised.value) == message
        assert raised.value.__suppress_context__  # the message is the whole story

    def test_several_errors_are_reported_together(self, settings_factory: SettingsFactory) -> None:
        with pytest.raises(ConfigurationError) as raised:
            settings_factory(TICKETFLOW_STORE="mysql", TICKETFLOW_BATCH_SIZE="many")
        assert str(raised.value) == (
            "TICKETFLOW_STORE='mysql': expected 'sqlite' or 'postgres'; "
            "TICKETFLOW_BATCH_SIZE='many': expected an integer"
        )


class TestKafkaOptions:
    def test_the_option_prefix_names_a_client_option(
        self, settings_factory: SettingsFactory
    ) -> None:
        settings = settings_factory(**KAFKA, TICKETFLOW_KAFKA_OPTION_SECURITY_PROTOCOL="SASL_SSL")
        assert settings.kafka_options == {"security_protocol": "SASL_SSL"}
        assert _options(settings, KafkaAdminClient)["security_protocol"] == "SASL_SSL"

    def test_other_ticketflow_kafka_variables_are_not_options(
        self, settings_factory: SettingsFactory
    ) -> None:
        # scripts/kafka-local reads TICKETFLOW_KAFKA_HOME; it used to be taken for the client
        # option `home`, and every Kafka client refused to start.
        settings = settings_factory(
            **KAFKA,
            TICKETFLOW_KAFKA_HOME="/tmp/kafka",
            TICKETFLOW_KAFKA_SECURITY_PROTOCOL="SSL",
        )
        assert settings.kafka_options == {}
        for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
            assert _options(settings, client) == {"bootstrap_servers": ["127.0.0.1:9092"]}

    def test_an_option_no_client_takes_is_an_error(self, settings_factory: SettingsFactory) -> None:
        settings = settings_factory(**KAFKA, TICKETFLOW_KAFKA_OPTION_HOME="/tmp/kafka")
        with pytest.raises(ConfigurationError) as raised:
            _options(settings, KafkaProducer)
        assert str(raised.value) == (
            "TICKETFLOW_KAFKA_OPTION_HOME: 'home' is not a kafka-python client option"
        )

    @pytest.mark.parametrize(
        ("variable", "text", "expected"),
        [
            ("SSL_CHECK_HOSTNAME", "false", False),
            ("SSL_CHECK_HOSTNAME", "TRUE", True),
            ("CHECK_CRCS", "0", False),
            ("SASL_PLAIN_PASSWORD", "123456", "123456"),
            ("SASL_PLAIN_USERNAME", "42", "42"),
            ("CLIENT_ID", "7", "7"),
            ("FETCH_MIN_BYTES", "1024", 1024),
            ("SECURITY_PROTOCOL", "SASL_SSL", "SASL_SSL"),
        ],
    )
    def test_values_take_the_type_the_client_expects(
        self, settings_factory: SettingsFactory, variable: str, text: str, expected: object
    ) -> None:
        settings = settings_factory(**KAFKA, **{KAFKA_OPTION_PREFIX + variable: text})
        value = _options(settings, KafkaConsumer)[variable.lower()]
        assert (value, type(value)) == (expected, type(expected))

    def test_a_boolean_option_refuses_other_words(self, settings_factory: SettingsFactory) -> None:
        settings = settings_factory(**KAFKA, TICKETFLOW_KAFKA_OPTION_SSL_CHECK_HOSTNAME="off-ish")
        with pytest.raises(ConfigurationError) as raised:
            _options(settings, KafkaConsumer)
        assert str(raised.value) == (
            "TICKETFLOW_KAFKA_OPTION_SSL_CHECK_HOSTNAME='off-ish': expected true or false"
        )


class TestToEnv:
    def test_round_trip(self, settings_factory: SettingsFactory, tmp_path: Path) -> None:
        settings = settings_factory(
            **KAFKA,
            TICKETFLOW_STORE="postgres",
            TICKETFLOW_PG_DSN="postgresql://u:p@db:5432/tf",
            TICKETFLOW_KAFKA_OPTION_SECURITY_PROTOCOL="SASL_SSL",
            TICKETFLOW_TOPIC_INBOUND="in",
            TICKETFLOW_TOPIC_EVENTS="ev",
            TICKETFLOW_TOPIC_DEADLETTER="dl",
            TICKETFLOW_GROUP_PREFIX="g",
            TICKETFLOW_PARTITIONS="3",
            TICKETFLOW_BATCH_SIZE="20",
        )
        env = settings.to_env()
        assert env["TICKETFLOW_KAFKA_OPTION_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["TICKETFLOW_PARTITIONS"] == "3"
        assert Settings.from_env(env=env, data_dir=tmp_path) == settings

    def test_defaults_round_trip_without_unset_servers(
        self, settings_factory: SettingsFactory, tmp_path: Path
    ) -> None:
        env = settings_factory().to_env()
        assert "TICKETFLOW_PG_DSN" not in env
        assert "KAFKA_BOOTSTRAP_SERVERS" not in env
        assert "TICKETFLOW_HOME" not in env  # a child is given its own --data-dir
        assert Settings.from_env(env=env, data_dir=tmp_path) == settings_factory()


class TestDeclaration:
    def test_every_field_names_its_variable_and_says_what_it_is(self) -> None:
        variables = Settings.variables()
        assert len(variables) == len(Settings.model_fields)
        assert len({name for name, _, _ in variables}) == len(variables)
        for name, _, meaning in variables:
            assert name.startswith(("TICKETFLOW_", "KAFKA_")), name
            assert meaning, f"{name} has no description"

    def test_the_readme_table_is_the_declaration(self) -> None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        block = readme.split("<!-- settings: begin -->\n", 1)[1].split("<!-- settings: end -->")[0]
        assert block.rstrip("\n") == settings_module.markdown(), (
            "README.md's settings table is out of date: paste `python -m ticketflow.settings`"
        )

    def test_settings_import_no_adapter(self) -> None:
        code = (
            "import json, sys\n"
            "from ticketflow.settings import Settings\n"
            "s = Settings.from_env(env={'TICKETFLOW_STORE': 'postgres',"
            " 'TICKETFLOW_PG_DSN': 'postgresql://u@h/d'})\n"
            "s.to_env(); Settings.variables()\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('ticketflow'))))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        loaded = json.loads(done.stdout)
        assert "ticketflow.settings" in loaded
        assert not [m for m in loaded if m.startswith("ticketflow.adapters")], loaded
        assert not hasattr(Settings, "eventstore_env")
