"""The wire contract (DESIGN §3): what parses, what is rejected and with which reason code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ticketflow.contract import (
    EVENT_TYPES,
    HoursConsumedData,
    IncidentData,
    LinkedToIncidentData,
    MaintenanceAnnouncedData,
    NoData,
    PackPurchasedData,
    PriorityChangedData,
    SubscriptionStartedData,
    TicketEscalatedData,
    TicketOpenedData,
    TierDowngradedData,
    TierUpgradedData,
    parse_event,
)
from ticketflow.domain.catalog import Tier
from ticketflow.errors import ContractError

CONTRACT_DATA = Path(__file__).resolve().parents[1] / "data" / "contract"
VALID_DIR = CONTRACT_DATA / "valid"
INVALID_DIR = CONTRACT_DATA / "invalid"
EXPECTED_INVALID: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((INVALID_DIR / "expected.json").read_text("utf-8")).items()
    if not name.startswith("_")
}
INVALID_FILES = sorted(p.name for p in INVALID_DIR.glob("*.json") if p.name != "expected.json")


def valid_sample(type_name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((VALID_DIR / f"{type_name}.json").read_text("utf-8"))
    return obj


def rejection(raw: bytes | str | dict[str, Any]) -> ContractError:
    with pytest.raises(ContractError) as info:
        parse_event(raw)
    return info.value


def opened(**data_changes: Any) -> dict[str, Any]:
    obj = valid_sample("ticket.opened")
    obj["data"].update(data_changes)
    return obj


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# The UTC instant of each valid sample's `time`, worked out by hand from its offset.
EXPECTED_UTC = {
    "ticket.linked_to_incident": utc("2026-05-04T10:30:00+00:00"),
    "platform.maintenance_announced": utc("2026-05-04T10:00:00+00:00"),
    "platform.maintenance_cancelled": utc("2026-05-05T07:00:00+00:00"),
    "platform.incident_declared": utc("2026-05-04T10:00:00+00:00"),
    "platform.incident_updated": utc("2026-05-04T10:40:00+00:00"),
    "platform.incident_resolved": utc("2026-05-04T12:00:00+00:00"),
    "subscription.started": utc("2026-03-02T08:00:00+00:00"),  # 09:00+01:00 - 1 h
    "subscription.tier_upgraded": utc("2026-04-30T22:30:00+00:00"),  # 05-01T00:30+02:00 - 2 h
    "subscription.tier_downgraded": utc("2026-12-31T23:30:00+00:00"),  # already Z
    "expertise.pack_purchased": utc("2026-03-03T09:00:00+00:00"),  # 10:00+01:00 - 1 h
    "expertise.hours_consumed": utc("2026-03-05T16:45:00.250000+00:00"),  # 17:45:00.250+01:00
    "ticket.opened": utc("2026-05-04T10:00:00+00:00"),  # 12:00+02:00 - 2 h
    "ticket.acknowledged": utc("2026-05-04T10:05:00+00:00"),
    "ticket.escalated": utc("2026-05-04T10:20:00+00:00"),
    "ticket.priority_changed": utc("2026-05-04T10:30:00+00:00"),  # 07:30-03:00 + 3 h
    "ticket.service_restored": utc("2026-05-04T13:10:00+00:00"),
    "ticket.resolved": utc("2026-05-04T13:00:00+00:00"),  # 15:00+02:00 - 2 h
    "ticket.closed": utc("2026-05-06T07:00:00+00:00"),  # 09:00+02:00 - 2 h
    "ticket.reopened": utc("2026-05-05T06:00:00+00:00"),  # 08:00+02:00 - 2 h
}

EXPECTED_DATA = {
    "subscription.started": SubscriptionStartedData(tier=Tier.SILVER),
    "subscription.tier_upgraded": TierUpgradedData(tier=Tier.GOLD),
    "subscription.tier_downgraded": TierDowngradedData(tier=Tier.BRONZE, support_ticket="T-77"),
    "expertise.pack_purchased": PackPurchasedData(pack_id="PK-2026-001", hours=Decimal(10)),
    "expertise.hours_consumed": HoursConsumedData(
        hours=Decimal("1.25"), ticket="T-1", expert="e.martin", activity="architecture"
    ),
    "ticket.opened": TicketOpenedData(
        priority="P1",
        channel="phone",
        language="en",
        category="network",
        beta_feature=False,
        summary="VM unreachable since 11:50",
    ),
    "ticket.acknowledged": NoData(),
    "ticket.escalated": TicketEscalatedData(level="L2"),
    "ticket.priority_changed": PriorityChangedData(priority="P2"),
    "ticket.service_restored": NoData(),
    "ticket.resolved": NoData(),
    "ticket.closed": NoData(),
    "ticket.reopened": NoData(),
    "ticket.linked_to_incident": LinkedToIncidentData(platform_incident="INC-42"),
    "platform.maintenance_announced": MaintenanceAnnouncedData(
        starts_at="2026-05-06T20:00:00Z",  # type: ignore[arg-type]
        ends_at="2026-05-06T23:00:00Z",  # type: ignore[arg-type]
        scope="control_plane",
        summary="API gateway upgrade",
    ),
    "platform.maintenance_cancelled": NoData(),
    "platform.incident_declared": IncidentData(
        services=["compute", "network"],
        severity="outage",
        status="investigating",
        summary="hypervisor rack down",
    ),
    "platform.incident_updated": IncidentData(
        services=["compute"], severity="degraded", status="mitigated"
    ),
    "platform.incident_resolved": NoData(),
}


class TestSampleFiles:
    def test_one_valid_sample_per_event_type(self) -> None:
        assert sorted(p.stem for p in VALID_DIR.glob("*.json")) == sorted(EVENT_TYPES)
        assert len(EVENT_TYPES) == 19

    def test_every_invalid_sample_has_an_expectation(self) -> None:
        assert sorted(EXPECTED_INVALID) == INVALID_FILES

    @pytest.mark.parametrize("name", INVALID_FILES)
    def test_file_name_states_the_reason(self, name: str) -> None:
        assert name.split("--")[0] == EXPECTED_INVALID[name]["reason"]


class TestValidSamples:
    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_parses_from_text(self, type_name: str) -> None:
        raw = (VALID_DIR / f"{type_name}.json").read_text("utf-8")
        sample = json.loads(raw)
        event = parse_event(raw)
        assert event.type == type_name
        assert (event.id, event.source, event.subject, event.tenant) == (
            sample["id"],
            sample["source"],
            sample["subject"],
            sample.get("tenant", ""),  # platform facts carry none (R-PLAT-4)
        )
        assert event.data == EXPECTED_DATA[type_name]
        assert type(event.data) is type(EXPECTED_DATA[type_name])
        assert event.key == f"{sample['source']} {sample['id']}"

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_parses_from_bytes_and_dict_alike(self, type_name: str) -> None:
        # Text takes the one-pass union of typed envelopes, an object the step-by-step path.
        raw = (VALID_DIR / f"{type_name}.json").read_bytes()
        assert parse_event(raw) == parse_event(json.loads(raw))

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_time_is_normalised_to_utc(self, type_name: str) -> None:
        event = parse_event(valid_sample(type_name))
        assert event.time == EXPECTED_UTC[type_name]
        assert event.time.tzinfo is UTC

    def test_optional_opened_fields_default(self) -> None:
        obj = opened()
        del obj["data"]["beta_feature"], obj["data"]["summary"]
        data = parse_event(obj).data
        assert isinstance(data, TicketOpenedData)
        assert data.beta_feature is False
        assert data.summary is None

    def test_optional_consumption_fields_default_to_none(self) -> None:
        obj = valid_sample("expertise.hours_consumed")
        obj["data"] = {"hours": 0.5}
        assert parse_event(obj).data == HoursConsumedData(hours=Decimal("0.5"))

    def test_unknown_top_level_attributes_are_cloudevents_extensions(self) -> None:
        obj = valid_sample("ticket.closed")
        obj["traceparent"] = "00-abc-def-01"
        obj["partitionkey"] = "acme"
        assert parse_event(obj).id == "tk-7"

    def test_hours_keep_their_decimal_value(self) -> None:
        obj = valid_sample("expertise.hours_consumed")
        obj["data"]["hours"] = 0.1  # a float that binary cannot hold exactly
        data = parse_event(json.dumps(obj)).data
        assert isinstance(data, HoursConsumedData)
        assert data.hours == Decimal("0.1")

    @pytest.mark.parametrize(
        ("time", "expected"),
        [
            ("2026-05-04T12:00:00Z", "2026-05-04T12:00:00+00:00"),
            ("2026-05-04T12:00:00+00:00", "2026-05-04T12:00:00+00:00"),
            ("2026-05-04T00:30:00+02:00", "2026-05-03T22:30:00+00:00"),  # back over midnight
            ("2026-05-04T22:15:00-05:00", "2026-05-05T03:15:00+00:00"),  # forward over midnight
            ("2026-05-04T12:00:00.123456+05:30", "2026-05-04T06:30:00.123456+00:00"),
        ],
    )
    def test_offsets(self, time: str, expected: str) -> None:
        obj = valid_sample("ticket.closed")
        obj["time"] = time
        assert parse_event(obj).time == datetime.fromisoformat(expected)


class TestInvalidSamples:
    @pytest.mark.parametrize("name", INVALID_FILES)
    def test_rejected_with_reason_id_and_detail(self, name: str) -> None:
        expected = EXPECTED_INVALID[name]
        error = rejection((INVALID_DIR / name).read_text("utf-8"))
        assert error.reason == expected["reason"]
        assert error.event_id == expected["id"]
        for words in expected["detail"]:
            assert words in error.detail, f"{words!r} not in {error.detail!r}"
        assert str(error).startswith(f"{expected['reason']}: ")


class TestNotAnEvent:
    @pytest.mark.parametrize(
        "raw",
        ["", "nope", "{'single': 'quotes'}", '{"id": "x",}', b"\xff\xfe\x00", "{"],
    )
    def test_not_json(self, raw: str | bytes) -> None:
        error = rejection(raw)
        assert error.reason == "not_json"
        assert error.event_id is None

    @pytest.mark.parametrize("raw", ["[]", "[{}]", "42", '"text"', "null", "true"])
    def test_not_an_object(self, raw: str) -> None:
        assert rejection(raw).reason == "not_an_object"

    @pytest.mark.parametrize("type_name", ["ticket.deleted", "Ticket.Opened", "", None, 7])
    def test_unknown_type(self, type_name: object) -> None:
        obj = valid_sample("ticket.closed")
        obj["type"] = type_name
        error = rejection(obj)
        assert error.reason == "unknown_type"
        assert error.event_id == "tk-7"
        assert "ticket.opened" in error.detail  # lists the known types

    def test_missing_type(self) -> None:
        obj = valid_sample("ticket.closed")
        del obj["type"]
        assert rejection(obj).reason == "unknown_type"


class TestMissingOffsetRIn2:
    @pytest.mark.parametrize(
        "time", ["2026-05-04T12:00:00", "2026-05-04T12:00:00.5", "2026-05-04 12:00:00"]
    )
    def test_timestamp_without_offset(self, time: str) -> None:
        obj = valid_sample("ticket.opened")
        obj["time"] = time
        error = rejection(obj)
        assert error.reason == "missing_offset"
        assert "R-IN-2" in error.detail
        assert error.event_id == "tk-1"

    @pytest.mark.parametrize("time", ["yesterday", "2026-13-01T00:00:00Z", "2026-05-04T25:00:00Z"])
    def test_unparseable_time_is_a_schema_violation(self, time: str) -> None:
        obj = valid_sample("ticket.opened")
        obj["time"] = time
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert error.detail.startswith("time:")

    # 1777888800 s after the epoch is 2026-05-04T10:00:00Z.
    @pytest.mark.parametrize("time", [1777888800, "1777888800"], ids=["number", "string"])
    def test_unix_timestamp_is_not_rfc3339(self, time: int | str) -> None:
        obj = valid_sample("ticket.opened")
        obj["time"] = time
        assert rejection(obj).reason in ("schema_violation", "missing_offset")


class TestSchemaViolations:
    @pytest.mark.parametrize("tier", ["PLATINUM", "gold", "", None, 3])
    def test_unknown_tier(self, tier: object) -> None:
        obj = valid_sample("subscription.started")
        obj["data"]["tier"] = tier
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert "data.tier" in error.detail

    @pytest.mark.parametrize("language", ["de", "es", "FR", "fr-FR", "english"])
    def test_language_other_than_french_or_english_rtier3(self, language: str) -> None:
        error = rejection(opened(language=language))
        assert error.reason == "schema_violation"
        assert "data.language" in error.detail
        assert "R-TIER-3" in error.detail

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("priority", "P5"),
            ("priority", "P0"),
            ("priority", "p1"),
            ("channel", "fax"),
            ("channel", "chat"),
            ("category", "database"),
            ("category", "Compute"),
            ("beta_feature", "yes"),
            ("beta_feature", 1),
            ("summary", "x" * 2001),
        ],
    )
    def test_bad_opened_field(self, field: str, value: object) -> None:
        error = rejection(opened(**{field: value}))
        assert error.reason == "schema_violation"
        assert f"data.{field}" in error.detail

    @pytest.mark.parametrize("level", ["L4", "L1", "l2", 2])
    def test_escalation_level(self, level: object) -> None:
        obj = valid_sample("ticket.escalated")
        obj["data"]["level"] = level
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert "data.level" in error.detail

    @pytest.mark.parametrize("priority", ["P5", None])
    def test_priority_change(self, priority: object) -> None:
        obj = valid_sample("ticket.priority_changed")
        obj["data"]["priority"] = priority
        assert rejection(obj).reason == "schema_violation"

    @pytest.mark.parametrize("activity", ["coffee", "Support"])
    def test_consumption_activity(self, activity: str) -> None:
        obj = valid_sample("expertise.hours_consumed")
        obj["data"]["activity"] = activity
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert "data.activity" in error.detail

    @pytest.mark.parametrize("type_name", ["expertise.hours_consumed", "expertise.pack_purchased"])
    @pytest.mark.parametrize(
        ("hours", "words"),
        [
            (0, "greater than 0"),
            (0.0, "greater than 0"),
            (-1, "greater than 0"),
            (-0.25, "greater than 0"),
            ("1.5", "not a string or boolean"),
            ("2", "not a string or boolean"),
            (True, "not a string or boolean"),
            (False, "not a string or boolean"),
            (None, "data.hours"),
            (10_000.5, "less than or equal to 10000"),
        ],
    )
    def test_hours(self, type_name: str, hours: object, words: str) -> None:
        obj = valid_sample(type_name)
        obj["data"]["hours"] = hours
        error = rejection(json.dumps(obj))
        assert error.reason == "schema_violation"
        assert "data.hours" in error.detail
        assert words in error.detail

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_extra_data_field(self, type_name: str) -> None:
        obj = valid_sample(type_name)
        obj["data"]["note"] = "typo'd optional field"
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert "data.note" in error.detail

    @pytest.mark.parametrize(
        ("type_name", "field"),
        [
            ("subscription.started", "tier"),
            ("subscription.tier_upgraded", "tier"),
            ("subscription.tier_downgraded", "tier"),
            ("subscription.tier_downgraded", "support_ticket"),
            ("expertise.pack_purchased", "pack_id"),
            ("expertise.pack_purchased", "hours"),
            ("expertise.hours_consumed", "hours"),
            ("ticket.opened", "priority"),
            ("ticket.opened", "channel"),
            ("ticket.opened", "language"),
            ("ticket.opened", "category"),
            ("ticket.escalated", "level"),
            ("ticket.priority_changed", "priority"),
        ],
    )
    def test_missing_required_data_field(self, type_name: str, field: str) -> None:
        obj = valid_sample(type_name)
        del obj["data"][field]
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert f"data.{field}: Field required" in error.detail

    @pytest.mark.parametrize(
        "attribute", ["specversion", "id", "source", "type", "subject", "time", "tenant", "data"]
    )
    def test_missing_required_attribute(self, attribute: str) -> None:
        obj = valid_sample("ticket.escalated")  # a type with data fields: data is required
        del obj[attribute]
        error = rejection(obj)
        expected = "unknown_type" if attribute == "type" else "schema_violation"
        assert error.reason == expected
        if expected == "schema_violation":
            assert f"{attribute}: Field required" in error.detail

    @pytest.mark.parametrize("specversion", ["0.3", "1", "1.0.0", 1.0])
    def test_specversion_other_than_1_0(self, specversion: object) -> None:
        obj = valid_sample("ticket.acknowledged")
        obj["specversion"] = specversion
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert "specversion" in error.detail

    @pytest.mark.parametrize("attribute", ["id", "source", "subject", "tenant"])
    def test_empty_attribute(self, attribute: str) -> None:
        obj = valid_sample("ticket.acknowledged")
        obj[attribute] = ""
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert attribute in error.detail

    @pytest.mark.parametrize("data", [None, [], "x", 1])
    def test_data_must_be_an_object(self, data: object) -> None:
        obj = valid_sample("ticket.closed")
        obj["data"] = data
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert error.detail.startswith("data:")

    def test_datacontenttype_other_than_json(self) -> None:
        obj = valid_sample("ticket.closed")
        obj["datacontenttype"] = "text/xml"
        assert rejection(obj).reason == "schema_violation"


class TestSubjectIsTenant:
    @pytest.mark.parametrize(
        "type_name",
        [t for t in EVENT_TYPES if t.startswith(("subscription.", "expertise."))],
    )
    def test_subject_must_equal_tenant(self, type_name: str) -> None:
        obj = valid_sample(type_name)
        obj["subject"] = "globex"
        error = rejection(obj)
        assert error.reason == "schema_violation"
        assert f"subject must equal tenant for {type_name} events" in error.detail
        assert error.event_id == obj["id"]

    @pytest.mark.parametrize("type_name", [t for t in EVENT_TYPES if t.startswith("ticket.")])
    def test_ticket_subject_is_the_ticket(self, type_name: str) -> None:
        obj = valid_sample(type_name)
        assert obj["subject"] != obj["tenant"]
        event = parse_event(obj)
        assert (event.subject, event.tenant) == ("T-1", "acme")
