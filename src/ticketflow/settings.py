"""Settings, read from the environment (DESIGN §4, §5).

Each variable is declared once below, as a field of ``Settings``: its name (the field's
alias), its default and its meaning (the field's description). ``Settings.variables()``
lists them, and ``python -m ticketflow.settings`` prints them as the table in the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ticketflow.domain.clock import SYSTEM_CLOCK, Clock, FixedClock
from ticketflow.domain.instants import parse_rfc3339
from ticketflow.errors import ConfigurationError

KAFKA_OPTION_PREFIX = "TICKETFLOW_KAFKA_OPTION_"
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Settings(BaseSettings):
    """ticketflow's settings; ``from_env`` reads them, ``to_env`` writes them back."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True)

    data_dir: Path = Field(
        Path(".ticketflow"),
        validation_alias="TICKETFLOW_HOME",
        description="data directory of the embedded default (`--data-dir` takes precedence)",
    )
    mode: Literal["embedded", "kafka"] = Field(
        "embedded",
        validation_alias="TICKETFLOW_MODE",
        description="`embedded`: commands keep the read models up to date from the event store; "
        "`kafka`: inbound goes through Kafka and workers own the read models",
    )
    store: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        validation_alias="TICKETFLOW_STORE",
        description="where the events and the read models are kept: `sqlite` or `postgres`",
    )
    pg_dsn: str | None = Field(
        None,
        validation_alias="TICKETFLOW_PG_DSN",
        description="`postgresql://user:password@host:port/dbname`, "
        "for `TICKETFLOW_STORE=postgres`",
    )
    kafka_bootstrap: str | None = Field(
        None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka brokers (`host:port,...`), for `TICKETFLOW_MODE=kafka`",
    )
    kafka_options: dict[str, str] = Field(
        default_factory=dict,
        description="`TICKETFLOW_KAFKA_OPTION_<NAME>=value` passes `<name>=value` to the "
        "kafka-python clients that take it (SASL and TLS options to all, `fetch_*` to "
        "consumers, ...); a name no client takes is an error",
    )
    topic_inbound: str = Field(
        "ticketflow.inbound",
        validation_alias="TICKETFLOW_TOPIC_INBOUND",
        description="topic of the inbound CloudEvents",
    )
    topic_events: str = Field(
        "ticketflow.events",
        validation_alias="TICKETFLOW_TOPIC_EVENTS",
        description="topic of the domain events, published by the relay",
    )
    topic_alerts: str = Field(
        "ticketflow.alerts",
        validation_alias="TICKETFLOW_TOPIC_ALERTS",
        description="topic of the live SLA alerts (R-ALERT-3), published by the alerts worker",
    )
    topic_deadletter: str = Field(
        "ticketflow.deadletter",
        validation_alias="TICKETFLOW_TOPIC_DEADLETTER",
        description="topic of the inbound records that were rejected",
    )
    group_prefix: str = Field(
        "ticketflow",
        validation_alias="TICKETFLOW_GROUP_PREFIX",
        description="consumer groups are `<prefix>-engine` and `<prefix>-<projection>`",
    )
    partitions: int = Field(
        6,
        gt=0,
        validation_alias="TICKETFLOW_PARTITIONS",
        description="partitions of the topics that `ticketflow topics create` creates",
    )
    batch_size: int = Field(
        500,
        gt=0,
        validation_alias="TICKETFLOW_BATCH_SIZE",
        description="inbound events applied per transaction",
    )
    catchup_processes: int = Field(
        2,
        ge=1,
        le=2,
        validation_alias="TICKETFLOW_CATCHUP_PROCESSES",
        description="processes a long catch-up of the SQLite read models may use (a rebuild, "
        "`replay`, a first start: 100,000 events or more): `2` reads the log and applies the "
        "records apart where two cores are free; `1` keeps it in one process",
    )

    future_tolerance_hours: float | None = Field(
        24,
        ge=0,
        le=24 * 366,
        validation_alias="TICKETFLOW_FUTURE_TOLERANCE_HOURS",
        description="a fact dated more than this many hours after it is received is rejected "
        "(`time_in_future`, R-IN-6); `off` accepts any date (for loading synthetic data)",
    )
    outage_timeout: float = Field(
        60,
        gt=0,
        le=24 * 3600,
        validation_alias="TICKETFLOW_OUTAGE_TIMEOUT",
        description="seconds a worker retries, with backoff, while the database or the broker "
        "cannot be used, before it exits non-zero for its supervisor to restart it",
    )

    now: str | None = Field(
        None,
        validation_alias="TICKETFLOW_NOW",
        description='fix "now" to this RFC 3339 instant (with an offset) for tests and demos '
        "(`--now` takes precedence); unset: the system clock",
    )
    alert_horizon_hours: float = Field(
        24,
        ge=0,
        le=24 * 366,
        validation_alias="TICKETFLOW_ALERT_HORIZON_HOURS",
        description="when the alerter first starts on a store, thresholds crossed more than "
        "this many hours before are history: never alerted (R-ALERT-2)",
    )
    alert_webhooks: Path | None = Field(
        None,
        validation_alias="TICKETFLOW_ALERT_WEBHOOKS",
        description="JSON file of the webhooks the alerts are posted to (url, secret, "
        "optional tenants; see docs/api.md)",
    )

    @field_validator("now")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_rfc3339(value)
        except ValueError:
            raise ValueError(
                f"TICKETFLOW_NOW={value!r}: expected an RFC 3339 instant with an offset "
                "(2026-03-10T08:00:00Z)"
            ) from None
        return value

    @property
    def alert_horizon(self) -> timedelta:
        """How far back the alerter looks (R-ALERT-2)."""
        return timedelta(hours=self.alert_horizon_hours)

    @property
    def clock(self) -> Clock:
        """Where "now" comes from: fixed by ``TICKETFLOW_NOW``, else the system clock."""
        return SYSTEM_CLOCK if self.now is None else FixedClock(parse_rfc3339(self.now))

    @field_validator("future_tolerance_hours", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "off" else value

    @property
    def future_tolerance(self) -> timedelta | None:
        """How far after its reception a fact may be dated (R-IN-6); ``None``: any date."""
        hours = self.future_tolerance_hours
        return None if hours is None else timedelta(hours=hours)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # One reader of the environment, from_env: os.environ and a given mapping behave alike,
        # and no other source (.env file, secrets directory) changes the settings unseen.
        return (init_settings,)

    @field_validator("kafka_options")
    @classmethod
    def _option_names(cls, options: dict[str, str]) -> dict[str, str]:
        for name in options:
            if not _OPTION_NAME.fullmatch(name):
                raise ValueError(
                    f"{KAFKA_OPTION_PREFIX}{name.upper()}: name a kafka-python client option "
                    f"after {KAFKA_OPTION_PREFIX} (e.g. {KAFKA_OPTION_PREFIX}SECURITY_PROTOCOL)"
                )
        return options

    @model_validator(mode="after")
    def _servers_named(self) -> Settings:
        if self.store == "postgres" and not self.pg_dsn:
            raise ValueError(
                "TICKETFLOW_STORE=postgres needs TICKETFLOW_PG_DSN "
                "(postgresql://user:password@host:port/dbname)"
            )
        if self.mode == "kafka" and not self.kafka_bootstrap:
            raise ValueError("TICKETFLOW_MODE=kafka needs KAFKA_BOOTSTRAP_SERVERS (host:port,...)")
        return self

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        data_dir: str | Path | None = None,
        now: str | None = None,
    ) -> Settings:
        """Settings from ``env`` (default ``os.environ``); ``data_dir`` overrides
        ``TICKETFLOW_HOME`` and ``now`` ``TICKETFLOW_NOW``. A variable set to the empty string
        counts as unset."""
        env = os.environ if env is None else env
        names = {name for name, _ in _aliased_fields()}
        values: dict[str, Any] = {k: v for k, v in env.items() if k in names and v}
        values["kafka_options"] = {
            k[len(KAFKA_OPTION_PREFIX) :].lower(): v
            for k, v in env.items()
            if k.startswith(KAFKA_OPTION_PREFIX)
        }
        if data_dir:
            values["TICKETFLOW_HOME"] = data_dir
        if now:
            values["TICKETFLOW_NOW"] = now
        try:
            return cls(**values)
        except ValidationError as error:
            raise ConfigurationError(_message(error)) from None

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables that give them back (for children);
        the data directory is not among them: a child is given its own ``--data-dir``."""
        env = {
            name: str(value)
            for name, field_name in _aliased_fields()
            if name != "TICKETFLOW_HOME" and (value := getattr(self, field_name)) is not None
        }
        env.update({KAFKA_OPTION_PREFIX + k.upper(): v for k, v in self.kafka_options.items()})
        if self.future_tolerance_hours is None:
            env["TICKETFLOW_FUTURE_TOLERANCE_HOURS"] = "off"
        return env

    @classmethod
    def variables(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) of every variable read, in declaration order."""
        found = []
        for field_name, field in cls.model_fields.items():
            name = _variable(field_name, field)
            default = field.get_default(call_default_factory=True)
            shown = "" if default is None or default == {} else str(default)
            found.append((name, shown, field.description or ""))
        return found


def _variable(field_name: str, field: FieldInfo) -> str:
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    if field_name == "kafka_options":
        return KAFKA_OPTION_PREFIX + "<NAME>"
    raise AssertionError(f"Settings.{field_name} names no environment variable")


def _aliased_fields() -> list[tuple[str, str]]:
    """(variable, field name) of the fields read from one variable each."""
    return [
        (field.validation_alias, name)
        for name, field in Settings.model_fields.items()
        if isinstance(field.validation_alias, str)
    ]


def _message(error: ValidationError) -> str:
    """A validation error as one line naming the variables at fault."""
    return "; ".join(_problem(detail) for detail in error.errors())


def _problem(detail: ErrorDetails) -> str:
    ctx = detail.get("ctx") or {}
    if detail["type"] == "value_error":  # the validators above name their variables
        return str(ctx.get("error", detail["msg"]))
    name = ".".join(str(part) for part in detail["loc"])
    if detail["type"] == "literal_error":
        text = f"expected {ctx['expected']}"
    elif detail["type"] in ("int_parsing", "int_type", "int_from_float"):
        text = "expected an integer"
    elif detail["type"] == "greater_than":
        text = (
            "expected a positive integer" if ctx["gt"] == 0 else f"expected more than {ctx['gt']}"
        )
    else:
        text = detail["msg"][:1].lower() + detail["msg"][1:]
    value = detail.get("input", PydanticUndefined)
    return f"{name}={value!r}: {text}" if isinstance(value, str) else f"{name}: {text}"


def markdown() -> str:
    """The variables as a Markdown table (the README's)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, default, meaning in Settings.variables():
        shown = f"`{default}`" if default else ""
        lines.append(f"| `{name}` | {shown} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
