"""The report's platform weather and recent alerts, from the real read models: served
(``GET /v1/report``) and written (``ticketflow report``), as of the report's instant, within the
key's or the asked tenant's tickets (R-ACC-3).

The story of ``tests.report_story`` plus a network outage INC-9 declared at 09:30Z on 7 May, to
which acme's T-2 and globex's G-2 are linked. The alerter runs with a clock fixed at the report's
instant (12:00Z): G-2 (SILVER, opened 05:00Z) has crossed 50 % and 75 %, T-2 (GOLD, 10:00Z)
50 % exactly at 12:00Z, and the breaches of T-1 and G-1 the day before are within its 24 h
look-back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api import Api
from tests.cli import run
from tests.factories import event, ticket_fact
from tests.report_story import AS_OF, STORY
from ticketflow.service.alerter import Alerter

pytestmark = pytest.mark.timeout(300)

EARLIER = "2026-05-07T09:00:00Z"  # before INC-9 and before any alert was emitted


def _platform(type_: str, subject: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    fact = event(f"platform.{type_}", subject, time, data)
    del fact["tenant"]  # a platform fact names no tenant (R-PLAT-4)
    return fact


PLATFORM = [
    _platform(
        "incident_declared",
        "INC-9",
        "2026-05-07T09:30:00Z",
        {
            "services": ["network"],
            "severity": "outage",
            "status": "investigating",
            "summary": "Packet loss in PAR-1",
        },
    ),
    ticket_fact(
        "linked_to_incident",
        "G-2",
        "2026-05-07T09:45:00Z",
        tenant="globex",
        platform_incident="INC-9",
    ),
    ticket_fact("linked_to_incident", "T-2", "2026-05-07T10:05:00Z", platform_incident="INC-9"),
]


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start : page.index("</section>", start)]


def _rows(section: str, table: str) -> list[list[str]]:
    if f'<p class="none" id="{table}">none</p>' in section:
        return []  # a table without rows says "none"
    start = section.index(f'id="{table}"')
    body = section[section.index("<tbody>", start) : section.index("</tbody>", start)]
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def _alerts(page: str) -> set[tuple[str, str]]:
    return {(r[1], r[2]) for r in _rows(_section(page, "alerts"), "alerts-table")}


EVERY_ALERT = {
    ("sla.warning", "T-2"),
    ("sla.warning", "G-2"),
    ("sla.at_risk", "G-2"),
    ("sla.warning", "T-1"),
    ("sla.at_risk", "T-1"),
    ("sla.breached", "T-1"),
    ("sla.stopped", "T-1"),
    ("sla.warning", "G-1"),
    ("sla.at_risk", "G-1"),
    ("sla.breached", "G-1"),
    ("sla.stopped", "G-1"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    env = {"TICKETFLOW_NOW": AS_OF}
    with Api.start(tmp_path_factory.mktemp("report-platform") / "data", env) as client:
        assert client.post_events(STORY + PLATFORM).status_code == 202
        # One check of the alerter (the code ``serve`` and ``ticketflow alerts`` run), its clock
        # fixed at the report's instant.
        system = client.backend.system()
        system.project()
        Alerter(system.readmodels, client.backend.settings.clock, timedelta(hours=24)).check()
        yield client


class TestServed:
    def test_the_weather_and_the_alerts(self, served: Api) -> None:
        page = served.get(f"/v1/report?as_of={AS_OF}").text
        weather = _section(page, "weather")
        services = {r[0]: r for r in _rows(weather, "weather-services")}
        assert services["network"][1:] == ["outage", "INC-9"]
        assert services["compute"][1] == "operational"
        [incident] = _rows(weather, "weather-incidents")
        assert incident[0:3] == ["INC-9", "open", "outage"]
        assert incident[8] == "acme, globex"
        assert "G-2 at_risk" in incident[9]
        assert "T-2 running" in incident[9]
        assert _alerts(page) == EVERY_ALERT
        # The figures of the weather query for the same instant (R-SLA-11).
        answer = served.get(f"/v1/weather?as_of={AS_OF}").json()
        assert {s["service"]: s["state"] for s in answer["services"]} == {
            k: v[1] for k, v in services.items()
        }
        assert served.get("/v1/alerts").json()  # the same table

    def test_the_default_instant_is_the_clock(self, served: Api) -> None:
        page = served.get("/v1/report").text
        assert _alerts(page) == EVERY_ALERT
        assert 'datetime="2026-05-07T12:00:00Z"' in page

    def test_as_of_an_earlier_instant(self, served: Api) -> None:
        page = served.get(f"/v1/report?as_of={EARLIER}").text
        assert _rows(_section(page, "weather"), "weather-incidents") == []
        services = {r[0]: r[1] for r in _rows(_section(page, "weather"), "weather-services")}
        assert services["network"] == "operational"
        # Every alert was emitted at 12:00Z: none was known at 09:00Z.
        assert '<p class="none" id="alerts-table">none</p>' in page

    def test_a_scoped_key_sees_its_own_only(self, served: Api) -> None:
        acme = served.as_key(served.key(["analyst"], tenants=("acme",)))
        page = served.get(f"/v1/report?as_of={AS_OF}", headers=acme).text
        [incident] = _rows(_section(page, "weather"), "weather-incidents")
        assert incident[8] == "acme"
        assert incident[9].startswith("T-2")
        assert "G-2" not in incident[9]
        assert _alerts(page) == {a for a in EVERY_ALERT if a[1].startswith("T-")}
        for other in ("globex", "G-1", "G-2"):
            assert other not in page

    def test_one_tenant_asked(self, served: Api) -> None:
        page = served.get(f"/v1/report?as_of={AS_OF}&tenant=globex").text
        assert _alerts(page) == {a for a in EVERY_ALERT if a[1].startswith("G-")}
        assert "acme" not in page
        assert not re.search(r"\bT-2\b", page)  # not "R-PLAT-2", a rule's id


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report-platform-cli")
    story = base / "story.jsonl"
    story.write_text("".join(json.dumps(e) + "\n" for e in STORY + PLATFORM), encoding="utf-8")
    done = run(base / "data", "--now", AS_OF, "ingest", str(story))
    assert done.returncode == 0, done.stderr
    return base / "data"


class TestWritten:
    def test_the_command_brings_the_alerts_up_to_its_clock(self, written: Path) -> None:
        out = written.parent / "report.html"
        done = run(written, "--now", AS_OF, "report", "--out", str(out))
        assert done.returncode == 0, done.stderr
        page = out.read_text(encoding="utf-8")
        assert _alerts(page) == EVERY_ALERT
        weather = _section(page, "weather")
        assert {r[0]: r[1] for r in _rows(weather, "weather-services")}["network"] == "outage"
        [incident] = _rows(weather, "weather-incidents")
        assert incident[0] == "INC-9"
        assert incident[8] == "acme, globex"

    def test_one_tenant(self, written: Path) -> None:
        out = written.parent / "acme.html"
        done = run(written, "--now", AS_OF, "report", "--out", str(out), "--tenant", "acme")
        assert done.returncode == 0, done.stderr
        page = out.read_text(encoding="utf-8")
        assert _alerts(page) == {a for a in EVERY_ALERT if a[1].startswith("T-")}
        [incident] = _rows(_section(page, "weather"), "weather-incidents")
        assert incident[8] == "acme"
        assert "globex" not in page
        assert "G-2" not in page
