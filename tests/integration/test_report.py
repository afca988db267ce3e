"""The analyst's report over real read models: its figures are the queries' (R-SLA-11), its rows
stay within the tenants asked for (R-ACC-3), and the weather and alert sections appear exactly
when their data is given."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import apply, system_factory, utc
from tests.report_story import AS_OF, OTHERS, SCRIPT, STORY
from ticketflow.bootstrap import System
from ticketflow.domain.calendar import Month
from ticketflow.entrypoints.report import render_page
from ticketflow.errors import QueryError
from ticketflow.service import queries
from ticketflow.service.report import Report, Weather, build

WEATHER = Weather(
    services=[
        {"service": "network", "state": "outage", "causes": ["INC-9"]},
        {"service": "compute", "state": "operational", "causes": []},
    ],
    incidents=[
        {
            "incident": "INC-9",
            "severity": "outage",
            "status": "investigating",
            "services": ["network"],
            "declared_at": "2026-05-07T11:00:00Z",
            "summary": "Packet loss in <b>PAR-1</b>",
            "tenants": ["acme", "globex"],
            "tickets": [
                {"ticket": "T-2", "tenant": "acme", "deadline": "2026-05-07T14:00:00Z"},
                {"ticket": "G-2", "tenant": "globex", "deadline": "2026-05-07T13:00:00Z"},
            ],
        }
    ],
)
ALERTS = [
    {
        "type": "sla.warning",
        "ticket": "T-2",
        "tenant": "acme",
        "cycle": 1,
        "at": "2026-05-07T12:00:00Z",
        "late": False,
    },
    {
        "type": "sla.at_risk",
        "ticket": "G-2",
        "tenant": "globex",
        "cycle": 1,
        "at": "2026-05-07T11:00:00Z",
        "late": True,
    },
    {
        "type": "sla.breached",
        "ticket": "G-2",
        "tenant": "globex",
        "cycle": 1,
        "at": "2026-05-07T13:00:00Z",
        "late": False,
    },  # after the report's instant
]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = system_factory(tmp_path_factory.mktemp("report"))
    assert set(apply(system, STORY)) == {"accepted"}
    yield system
    system.close()


def _build(system: System, **kwargs: object) -> Report:
    return build(system.readmodels, as_of=utc(AS_OF), **kwargs)  # type: ignore[arg-type]


class TestSameFiguresAsTheQueries:
    """R-SLA-11: the report's figures are those ``query sla|billing|expertise`` give."""

    def test_breached_and_open_clocks(self, system: System) -> None:
        report = _build(system)
        store = system.readmodels
        breached = queries.sla(store, as_of=utc(AS_OF), status="breached")
        assert {(r["ticket"], r["breach_minutes"]) for r in breached} == {
            (r["ticket"], r["breach_minutes"]) for r in report.breached
        }
        assert [(r["ticket"], r["breach_minutes"]) for r in report.breached] == [
            ("G-1", 60),
            ("T-1", 31),
        ]
        assert report.breached[1]["summary"].startswith(SCRIPT)
        assert [(r["ticket"], r["status"], r["minutes_left"]) for r in report.open_clocks] == [
            ("G-2", "at_risk", 60),
            ("T-2", "running", 120),
        ]
        for row in report.open_clocks:
            [same] = queries.sla(store, as_of=utc(AS_OF), ticket=row["ticket"])
            assert same["deadline"] == row["deadline"]
            assert same["status"] == row["status"]

    def test_compliance(self, system: System) -> None:
        rows = {(r["month"], r["tier"]): r for r in _build(system).compliance}
        assert rows[("2026-05", "GOLD")]["compliance_pct"] == 50.0
        assert (
            rows[("2026-05", "SILVER")]["breached"],
            rows[("2026-05", "SILVER")]["running"],
        ) == (1, 1)

    def test_expert_hours(self, system: System) -> None:
        report = _build(system)
        assert len(report.hours) == 2 + len(OTHERS)
        for row in report.hours:
            assert row == queries.expertise(
                system.readmodels, tenant=row["tenant"], month=Month.parse(row["month"])
            )
        assert report.hours[0]["tenant"] == "globex"  # the most overage first
        assert report.hours[0]["overage_hours"] == 3.0

    def test_billing(self, system: System) -> None:
        report = _build(system)
        answer = queries.billing(system.readmodels, tenant="acme")
        upgrade = next(c for c in report.changes if c["kind"] == "upgrade")
        assert upgrade == {"tenant": "acme", **answer["changes"][-1]}
        assert upgrade["billing_effective_at"] == "2026-05-31T22:00:00Z"
        may = next(r for r in report.tier_mix if r["month"] == "2026-05")
        billed = [
            queries.billing(system.readmodels, tenant=t, month=Month(2026, 5))["billed_tier"]
            for t in ("acme", "globex")
        ]
        assert billed == ["SILVER", "SILVER"]
        assert may["SILVER"] == 2
        assert may["GOLD"] == 0
        assert may["STANDARD"] == len(OTHERS)

    def test_the_page_shows_the_figures(self, system: System) -> None:
        page = render_page(_build(system))
        breached = page[page.index('id="breached-table"') : page.index('id="open"')]
        assert re.search(r">G-1<.*?>60<", breached, re.DOTALL)
        assert breached.index(">G-1<") < breached.index(">T-1<")
        # 2026-05-31T22:00Z is 1 June in Paris: shown so, with the UTC instant kept.
        assert (
            '<time datetime="2026-05-31T22:00:00Z" title="2026-05-31T22:00:00Z (UTC)">'
            "2026-06-01 00:00</time>" in page
        )


class TestScope:
    def test_one_tenant(self, system: System) -> None:
        report = _build(system, tenant="acme")
        assert report.tenants == ("acme",)
        rows = [*report.breached, *report.open_clocks, *report.hours, *report.changes]
        assert {r["tenant"] for r in rows} == {"acme"}
        page = render_page(report)
        for other in ("globex", "G-1", "G-2", *OTHERS):
            assert other not in page

    def test_a_keys_tenants(self, system: System) -> None:
        report = _build(system, scope=("globex", "t-01"))
        assert report.tenants == ("globex", "t-01")
        assert {r["tenant"] for r in report.hours} == {"globex", "t-01"}
        assert "acme" not in render_page(report)

    def test_a_tenant_outside_the_scope(self, system: System) -> None:
        with pytest.raises(QueryError, match="unknown tenant"):
            _build(system, tenant="acme", scope=("globex",))

    def test_an_unknown_tenant(self, system: System) -> None:
        with pytest.raises(QueryError, match="unknown tenant"):
            _build(system, tenant="nobody")


class TestWeatherAndAlerts:
    def test_absent_without_data(self, system: System) -> None:
        report = _build(system)
        assert report.weather is None
        assert report.alerts is None
        page = render_page(report)
        assert 'id="weather"' not in page
        assert 'id="alerts"' not in page

    def test_shown_when_given(self, system: System) -> None:
        report = _build(system, weather=WEATHER, alerts=ALERTS)
        page = render_page(report)
        weather = page[page.index('<section id="weather">') : page.index('<section id="alerts">')]
        assert ">outage<" in weather
        assert "Packet loss in &lt;b&gt;PAR-1&lt;/b&gt;" in weather
        assert 'datetime="2026-05-07T14:00:00Z"' in weather  # T-2's deadline
        alerts = page[page.index('<section id="alerts">') : page.index('<section id="sla">')]
        # Emitted by the report's instant only, newest first.
        assert [a["type"] for a in report.alerts or []] == ["sla.warning", "sla.at_risk"]
        assert alerts.index("sla.warning") < alerts.index("sla.at_risk")
        assert "sla.breached" not in alerts
        assert ">late<" in alerts

    def test_kept_to_the_tenants(self, system: System) -> None:
        report = _build(system, tenant="acme", weather=WEATHER, alerts=ALERTS)
        assert report.weather is not None
        [incident] = report.weather.incidents
        assert incident["tenants"] == ["acme"]
        assert [k["ticket"] for k in incident["tickets"]] == ["T-2"]
        assert [a["ticket"] for a in report.alerts or []] == ["T-2"]
        page = render_page(report)
        assert "globex" not in page
        assert "G-2" not in page


def test_the_page_is_self_contained(system: System, tmp_path: Path) -> None:
    page = render_page(_build(system, weather=WEATHER, alerts=ALERTS))
    assert page.startswith("<!DOCTYPE html>")
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    assert not re.search(r"https?://", without_namespaces)
    assert not re.search(r"<link|@import|url\((?!#)|\ssrc=", page, re.IGNORECASE)  # no fetch
    assert page.count("<script>") == 1
    assert "default-src 'none'" in page
    assert SCRIPT not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; VM down" in page
