"""The checked-in JSON Schemas (``schemas/``): no drift from the pydantic models, and they say
what the contract says when checked by an independent validator (``jsonschema``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from ticketflow.contract import EVENT_TYPES, json_schemas, parse_event
from ticketflow.entrypoints.cli import main
from ticketflow.errors import ContractError

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "schemas"
CONTRACT_DATA = ROOT / "tests" / "data" / "contract"
VALID_DIR = CONTRACT_DATA / "valid"
INVALID_DIR = CONTRACT_DATA / "invalid"
EXPECTED_INVALID: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in json.loads((INVALID_DIR / "expected.json").read_text("utf-8")).items()
    if not name.startswith("_")
}
FIX = "run `ticketflow schemas export --dir schemas` and commit the result"
HAS_RFC3339_VALIDATOR = importlib.util.find_spec("rfc3339_validator") is not None


def checked_in(stem: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{stem}.json").read_text("utf-8"))
    return schema


def validator(stem: str) -> Draft202012Validator:
    return Draft202012Validator(
        checked_in(stem), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def errors(stem: str, instance: Any) -> list[ValidationError]:
    return list(validator(stem).iter_errors(instance))


def sample(type_name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((VALID_DIR / f"{type_name}.json").read_text("utf-8"))
    return obj


def mentions(found: list[ValidationError], field: str) -> bool:
    """Whether an error is about ``field``: at its path, or naming it (required, extra)."""
    return any(
        field in [str(p) for p in e.absolute_path] or repr(field) in e.message for e in found
    )


def invalid_names(*kinds: str) -> list[str]:
    return sorted(n for n, spec in EXPECTED_INVALID.items() if spec["schema"] in kinds)


class TestNoDrift:
    def test_same_set_of_files(self) -> None:
        on_disk = sorted(p.stem for p in SCHEMAS_DIR.glob("*.json"))
        generated = sorted(json_schemas())
        assert on_disk == generated, f"schemas/ does not match the pydantic models: {FIX}"
        assert generated == sorted(["envelope", "platform_envelope", *EVENT_TYPES])

    @pytest.mark.parametrize("stem", sorted(json_schemas()))
    def test_same_content(self, stem: str) -> None:
        path = SCHEMAS_DIR / f"{stem}.json"
        assert path.is_file(), f"schemas/{stem}.json is missing: {FIX}"
        assert checked_in(stem) == json_schemas()[stem], f"schemas/{stem}.json drifted: {FIX}"

    def test_export_reproduces_the_files_byte_for_byte(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["schemas", "export", "--dir", str(tmp_path)]) == 0
        assert f"wrote {len(json_schemas())} schemas" in capsys.readouterr().out
        exported = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
        committed = {p.name: p.read_bytes() for p in SCHEMAS_DIR.glob("*.json")}
        assert sorted(exported) == sorted(committed), FIX
        stale = sorted(name for name in exported if exported[name] != committed[name])
        assert stale == [], f"schemas/ differs from the export for {stale}: {FIX}"

    @pytest.mark.parametrize("stem", sorted(json_schemas()))
    def test_schemas_are_valid_draft_2020_12(self, stem: str) -> None:
        schema = checked_in(stem)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://ticketflow.dev/schemas/{stem}.json"

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_type_is_pinned_and_data_is_closed(self, type_name: str) -> None:
        schema = checked_in(type_name)
        assert schema["properties"]["type"]["const"] == type_name
        ref = schema["properties"]["data"]["$ref"]
        data_schema = schema["$defs"][ref.rsplit("/", 1)[1]]
        assert data_schema["additionalProperties"] is False


class TestValidSamples:
    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_type_schema_accepts(self, type_name: str) -> None:
        assert errors(type_name, sample(type_name)) == []

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_envelope_schema_accepts(self, type_name: str) -> None:
        envelope = "platform_envelope" if type_name.startswith("platform.") else "envelope"
        assert errors(envelope, sample(type_name)) == []

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_other_type_schemas_refuse(self, type_name: str) -> None:
        # The `type` const pins each schema to its own event type.
        for other in EVENT_TYPES:
            if other != type_name:
                assert errors(other, sample(type_name)) != [], (type_name, other)


class TestInvalidSamples:
    @pytest.mark.parametrize("name", invalid_names("rejects"))
    def test_schema_rejects(self, name: str) -> None:
        obj = json.loads((INVALID_DIR / name).read_text("utf-8"))
        found = errors(obj["type"], obj)
        assert found != []
        field = EXPECTED_INVALID[name]["detail"][0].rsplit(".", 1)[-1]
        assert mentions(found, field), [e.message for e in found]

    @pytest.mark.parametrize("name", invalid_names("rejects_with_format"))
    def test_schema_rejects_with_format_checking(self, name: str) -> None:
        if not HAS_RFC3339_VALIDATOR:
            pytest.skip(
                "jsonschema checks the date-time format only with rfc3339-validator installed"
            )
        obj = json.loads((INVALID_DIR / name).read_text("utf-8"))
        found = errors(obj["type"], obj)
        assert [e.validator for e in found] == ["format"]
        assert list(found[0].absolute_path) == ["time"]

    @pytest.mark.parametrize("name", invalid_names("not_expressible"))
    def test_cross_field_rules_are_the_contracts_alone(self, name: str) -> None:
        # subject == tenant is checked by the pydantic model, not stated in the schema.
        obj = json.loads((INVALID_DIR / name).read_text("utf-8"))
        assert errors(obj["type"], obj) == []
        with pytest.raises(ContractError):
            parse_event(obj)


class TestSchemaExpressibleRules:
    @pytest.mark.parametrize(
        ("type_name", "field", "value"),
        [
            ("subscription.started", "tier", "PLATINUM"),
            ("subscription.tier_upgraded", "tier", "gold"),
            ("subscription.tier_downgraded", "tier", "DIAMOND"),
            ("ticket.opened", "language", "de"),
            ("ticket.opened", "priority", "P5"),
            ("ticket.opened", "channel", "fax"),
            ("ticket.opened", "category", "database"),
            ("ticket.opened", "beta_feature", "yes"),
            ("ticket.escalated", "level", "L4"),
            ("ticket.escalated", "level", "L1"),
            ("ticket.priority_changed", "priority", "P0"),
            ("expertise.hours_consumed", "activity", "coffee"),
        ],
    )
    def test_unknown_enum_value(self, type_name: str, field: str, value: object) -> None:
        obj = sample(type_name)
        obj["data"][field] = value
        found = errors(type_name, obj)
        assert [list(e.absolute_path) for e in found] == [["data", field]]

    @pytest.mark.parametrize("type_name", ["expertise.hours_consumed", "expertise.pack_purchased"])
    @pytest.mark.parametrize("hours", [0, 0.0, -1, -0.5, "1.5", True, None, 10_000.5])
    def test_hours_not_a_positive_number(self, type_name: str, hours: object) -> None:
        obj = sample(type_name)
        obj["data"]["hours"] = hours
        found = errors(type_name, obj)
        assert [list(e.absolute_path) for e in found] == [["data", "hours"]]

    @pytest.mark.parametrize("hours", [0.0001, 1, 2.5, 10_000])
    def test_hours_in_range(self, hours: float) -> None:
        obj = sample("expertise.pack_purchased")
        obj["data"]["hours"] = hours
        assert errors("expertise.pack_purchased", obj) == []

    @pytest.mark.parametrize("type_name", EVENT_TYPES)
    def test_extra_data_field(self, type_name: str) -> None:
        obj = sample(type_name)
        obj["data"]["note"] = "x"
        found = errors(type_name, obj)
        assert [e.validator for e in found] == ["additionalProperties"]
        assert "'note'" in found[0].message

    @pytest.mark.parametrize(
        ("type_name", "field"),
        [
            ("subscription.started", "tier"),
            ("subscription.tier_downgraded", "support_ticket"),
            ("expertise.pack_purchased", "pack_id"),
            ("expertise.hours_consumed", "hours"),
            ("ticket.opened", "category"),
            ("ticket.escalated", "level"),
            ("ticket.priority_changed", "priority"),
        ],
    )
    def test_missing_data_field(self, type_name: str, field: str) -> None:
        obj = sample(type_name)
        del obj["data"][field]
        found = errors(type_name, obj)
        assert [(e.validator, list(e.absolute_path)) for e in found] == [("required", ["data"])]
        assert repr(field) in found[0].message

    @pytest.mark.parametrize(
        "attribute", ["specversion", "id", "source", "type", "subject", "time", "tenant"]
    )
    def test_missing_attribute(self, attribute: str) -> None:
        obj = sample("ticket.closed")
        del obj[attribute]
        for stem in ("envelope", "ticket.closed"):
            found = errors(stem, obj)
            assert [(e.validator, list(e.absolute_path)) for e in found] == [("required", [])]

    def test_data_may_be_missing_only_for_types_without_fields(self) -> None:
        closed = sample("ticket.closed")
        del closed["data"]
        assert errors("envelope", closed) == errors("ticket.closed", closed) == []
        escalated = sample("ticket.escalated")
        del escalated["data"]
        found = errors("ticket.escalated", escalated)
        assert [(e.validator, list(e.absolute_path)) for e in found] == [("required", [])]

    def test_datacontenttype_may_carry_parameters(self) -> None:
        obj = sample("ticket.closed")
        assert (
            errors("ticket.closed", {**obj, "datacontenttype": "application/json; charset=utf-8"})
            == []
        )
        assert errors("ticket.closed", {**obj, "datacontenttype": "text/plain"})

    def test_specversion(self) -> None:
        obj = sample("ticket.closed")
        obj["specversion"] = "0.3"
        found = errors("ticket.closed", obj)
        assert [list(e.absolute_path) for e in found] == [["specversion"]]

    def test_model_and_schema_agree_on_fine_grained_hours(self) -> None:
        obj = sample("expertise.hours_consumed")
        obj["data"]["hours"] = 1.23456  # 74.0736 min, rounded half up to 74 min (R-EXP-6)
        schema_accepts = errors("expertise.hours_consumed", obj) == []
        try:
            parse_event(obj)
            model_accepts = True
        except ContractError:
            model_accepts = False
        assert model_accepts == schema_accepts
