"""``ticketflow query weather`` end to end: formats, as-of, rejections named by rule."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run


def platform_line(type_: str, subject: str, id_: str, time: str, data: dict, **extra: str) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "ops",
            "type": f"platform.{type_}",
            "subject": subject,
            "time": time,
            "data": data,
            **extra,
        }
    )


LINES = [
    platform_line(
        "incident_declared",
        "INC-1",
        "p-1",
        "2026-05-12T08:00:00Z",
        {"services": ["network"], "severity": "degraded", "status": "investigating"},
    ),
    platform_line(
        "maintenance_announced",
        "M-1",
        "p-2",
        "2026-05-11T08:00:00Z",
        {
            "starts_at": "2026-05-12T10:00:00Z",
            "ends_at": "2026-05-12T09:00:00Z",
            "scope": "control_plane",
        },
    ),
    platform_line("maintenance_cancelled", "M-9", "p-3", "2026-05-11T08:00:00Z", {}),
    platform_line("incident_resolved", "INC-1", "p-4", "2026-05-12T09:00:00Z", {}, tenant="acme"),
]


def test_query_weather(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = run(data, "query", "weather")
    assert missing.returncode == 2
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    ingested = run(data, "ingest", str(source), "--format", "json")
    assert ingested.returncode == 1
    rejected = {r["id"]: r["rule"] for r in json.loads(ingested.stdout)["rejections"]}
    assert rejected == {"p-2": "R-PLAT-1", "p-3": "R-PLAT-1", "p-4": "R-PLAT-4"}
    at = ("--as-of", "2026-05-12T08:30:00+00:00")
    table = run(data, "query", "weather", *at)
    assert table.returncode == 0, table.stderr
    assert "network        degraded     INC-1" in table.stdout
    csv_text = run(data, "query", "weather", *at, "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "service,state,causes"
    assert "network,degraded,INC-1" in csv_text
    before = json.loads(
        run(data, "query", "weather", "--as-of", "2026-05-12T07:00:00Z", "--format", "json").stdout
    )
    assert before["incidents"] == []
    assert {s["state"] for s in before["services"]} == {"operational"}
