"""``ticketflow demo`` end to end, on a small seed: the command, its report and its dataset."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.cli import ce

SEED, TENANTS, MONTHS = "11", "20", "2"
PERIOD_END = "2026-03-01T00:00:00+01:00"  # the end of 2026-01 .. 2026-02, Europe/Paris


def ticketflow(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_demo(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    small = ("--seed", SEED, "--tenants", TENANTS, "--months", MONTHS)
    return ticketflow(data_dir, "demo", *small, *extra)


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    done: subprocess.CompletedProcess[str]

    def path(self, label: str) -> Path:
        match = re.search(rf"^{label}:\s+(.+)$", self.done.stdout, re.MULTILINE)
        assert match, f"no {label!r} line in:\n{self.done.stdout}"
        return Path(match.group(1).strip())

    def query(self, *args: str) -> Any:
        done = ticketflow(self.data_dir, "query", *args, "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    return DemoRun(data_dir, run_demo(data_dir))


def instant(text: str) -> datetime:
    """An event time; the deliberately offset-less ones are Paris wall-clock times."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo("Europe/Paris"))


def dataset_events(run: DemoRun) -> list[dict[str, Any]]:
    events = []
    for line in run.path("dataset").read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # the deliberately cut lines
    return events


class TestCommand:
    def test_exits_zero_despite_the_bad_lines(self, demo_run: DemoRun) -> None:
        assert demo_run.done.returncode == 0, demo_run.done.stderr
        counts = re.search(
            r"accepted (\d+)\s+duplicate (\d+)\s+rejected (\d+)", demo_run.done.stdout
        )
        assert counts, demo_run.done.stdout
        accepted, duplicate, rejected = (int(n) for n in counts.groups())
        assert accepted > 0
        assert duplicate > 0
        assert rejected > 0

    def test_prints_the_analyst_tables(self, demo_run: DemoRun) -> None:
        out = demo_run.done.stdout
        for heading in (
            "P1 tickets with a GTR clock",
            "Tier changes of 2026-02",
            "over their hours",
        ):
            assert heading in out

    def test_writes_the_dataset_under_the_data_dir_by_default(self, demo_run: DemoRun) -> None:
        dataset = demo_run.path("dataset")
        assert dataset == demo_run.data_dir / "demo" / "demo-events.jsonl"
        assert dataset.stat().st_size > 0


class TestReport:
    def test_is_self_contained_html_with_svg_charts(self, demo_run: DemoRun) -> None:
        page = demo_run.path("report").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        assert page.count("<svg") == 3
        without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
        assert "http://" not in without_namespaces
        assert "https://" not in without_namespaces
        assert not re.search(r"<link|@import|url\((?!#)|\ssrc=", page, re.IGNORECASE)
        assert page.count("<script") == 1  # the page's own, inline
        assert "default-src 'none'" in page

    def test_lists_what_breached(self, demo_run: DemoRun) -> None:
        page = demo_run.path("report").read_text(encoding="utf-8")
        breached = demo_run.query("sla", "--as-of", PERIOD_END, "--status", "breached")
        assert breached
        section = page[page.index('id="breached-table"') : page.index('id="open"')]
        for row in breached:
            assert f">{row['ticket']}<" in section

    def test_charts_name_their_rules_and_read_models(self, demo_run: DemoRun) -> None:
        page = demo_run.path("report").read_text(encoding="utf-8")
        captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, re.DOTALL)
        assert len(captions) == 3
        for needles in (
            ("R-SLA-10", "sla_cycles"),
            ("R-EXP-4", "expertise_"),
            ("R-BILL-2", "billing_changes"),
        ):
            assert any(all(n in c for n in needles) for c in captions), needles


class TestDataset:
    def test_reingest_gives_only_duplicates(self, demo_run: DemoRun) -> None:
        done = ticketflow(
            demo_run.data_dir, "ingest", str(demo_run.path("dataset")), "--format", "json"
        )
        report = json.loads(done.stdout)
        assert report["accepted"] == 0
        assert report["duplicate"] > 0
        assert report["rejected"] > 0

    def test_same_seed_same_file(self, demo_run: DemoRun, tmp_path: Path) -> None:
        again = run_demo(tmp_path / "data", "--out", str(tmp_path / "out"))
        assert again.returncode == 0, again.stderr
        first = demo_run.path("dataset").read_bytes()
        assert (tmp_path / "out" / "demo-events.jsonl").read_bytes() == first

    def test_another_seed_another_file(self, demo_run: DemoRun) -> None:
        from ticketflow_tools.demo import generate

        lines = demo_run.path("dataset").read_text(encoding="utf-8").splitlines()
        assert generate(seed=int(SEED), tenants=int(TENANTS), months=int(MONTHS)) == lines
        assert generate(seed=int(SEED) + 1, tenants=int(TENANTS), months=int(MONTHS)) != lines

    def test_is_sorted_by_time(self, demo_run: DemoRun) -> None:
        times = [instant(e["time"]) for e in dataset_events(demo_run)]
        assert times == sorted(times)


class TestRulesExercised:
    def test_p1_breached_and_met(self, demo_run: DemoRun) -> None:
        rows = demo_run.query("sla", "--as-of", PERIOD_END)
        p1 = [r for r in rows if r["priority"] == "P1" and r["clock_started_at"]]
        assert {"met", "breached"} <= {r["status"] for r in p1}

    def test_control_plane_in_a_planned_window_has_no_sla(self, demo_run: DemoRun) -> None:
        rows = demo_run.query("sla", "--as-of", PERIOD_END, "--status", "not_applicable")
        assert any(r["reason"] == "R-SLA-9" and r["category"] == "control_plane" for r in rows)

    @pytest.mark.parametrize(
        ("event_type", "kind"),
        [("subscription.tier_upgraded", "upgrade"), ("subscription.tier_downgraded", "downgrade")],
    )
    def test_tier_change_billed_next_month(
        self, demo_run: DemoRun, event_type: str, kind: str
    ) -> None:
        tenant = next(e["tenant"] for e in dataset_events(demo_run) if e["type"] == event_type)
        changes = demo_run.query("billing", "--tenant", tenant)["changes"]
        change = next(c for c in changes if c["kind"] == kind)
        assert change["rule"] == "R-BILL-2"
        assert change["billing_effective_at"] > change["service_effective_at"]


def stored_events(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "events.sqlite3")
    try:
        return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    finally:
        db.close()


class TestFreshDirectory:
    def test_another_seed_into_a_store_is_refused(self, demo_run: DemoRun) -> None:
        before = stored_events(demo_run.data_dir)
        dataset = demo_run.path("dataset").read_bytes()
        again = ticketflow(demo_run.data_dir, "demo", "--seed", "8", "--tenants", TENANTS)
        assert again.returncode == 2
        assert again.stdout == ""
        assert again.stderr.startswith(
            f"ticketflow: error: {demo_run.data_dir} already holds a ticketflow store"
        )
        assert "ticketflow --data-dir ./demo-seed-8 demo --seed 8" in again.stderr
        assert "TICKETFLOW_HOME=./demo-seed-8 ./scripts/demo --seed 8" in again.stderr
        assert "Traceback" not in again.stderr
        assert stored_events(demo_run.data_dir) == before
        assert demo_run.path("dataset").read_bytes() == dataset

    def test_an_output_directory_holding_a_demo_is_refused(
        self, demo_run: DemoRun, tmp_path: Path
    ) -> None:
        out = demo_run.path("dataset").parent
        again = run_demo(tmp_path / "fresh", "--out", str(out))
        assert again.returncode == 2
        assert again.stderr == (
            f"ticketflow: error: {out} already holds a demo's dataset or report: give a new "
            "--out directory\n"
        )
        assert not (tmp_path / "fresh").exists()


class TestOverHours:
    """The tiers shown next to a month's included hours are those that set them (R-EXP-1)."""

    def test_tiers_in_force_during_the_month(self, tmp_path: Path) -> None:
        from ticketflow.adapters.deadletter import DeadLetterFile
        from ticketflow.bootstrap import System
        from ticketflow.entrypoints.report import over_hours
        from ticketflow.service.ingest import ingest_lines
        from ticketflow.settings import Settings

        lines = [
            ce("subscription.started", "acme", "s-1", "2026-06-05T10:00:00Z", {"tier": "STANDARD"}),
            ce("expertise.hours_consumed", "acme", "h-1", "2026-06-06T10:00:00Z", {"hours": 0.75}),
            ce(
                "subscription.tier_upgraded",
                "acme",
                "u-1",
                "2026-06-08T10:00:00Z",
                {"tier": "SILVER"},
            ),
        ]
        system = System.open(Settings.from_env(env={}, data_dir=tmp_path))
        try:
            dead = DeadLetterFile(tmp_path / "dead.jsonl", origin="test")
            assert ingest_lines(system.engine, lines, dead).accepted == 3
            system.project()
            rows = over_hours(system.readmodels)
        finally:
            system.close()
        # The consumption came before the upgrade, without privileged access (R-EXP-5); the
        # upgrade then raised the month's allowance to SILVER's 2 h (R-EXP-1).
        assert rows == [
            {
                "month": "2026-06",
                "tenant": "acme",
                "tiers": "STANDARD, SILVER",
                "included_hours": 2.0,
                "consumed_hours": 0.75,
                "from_packs_hours": 0.0,
                "overage_hours": 0.75,
                "unfunded_hours": 0.75,
            }
        ]

    def test_demo_rows_name_the_tiers(self, demo_run: DemoRun) -> None:
        out = demo_run.done.stdout
        table = out[out.index("most over first") :].splitlines()[1]
        assert table.split()[:3] == ["tenant", "tiers", "included_hours"]


class TestPlatform:
    """The demo's platform side (R-PLAT-1..3): an incident with linked tickets, an exceptional
    maintenance announced in time and one announced late, clocks still running at the end."""

    def test_platform_facts_carry_no_tenant(self, demo_run: DemoRun) -> None:
        platform = [e for e in dataset_events(demo_run) if e["type"].startswith("platform.")]
        kinds = {e["type"] for e in platform}
        assert {
            "platform.incident_declared",
            "platform.incident_updated",
            "platform.incident_resolved",
            "platform.maintenance_announced",
        } <= kinds
        assert all("tenant" not in e for e in platform)
        opened_linked = [
            e
            for e in dataset_events(demo_run)
            if e["type"] == "ticket.opened" and "platform_incident" in e["data"]
        ]
        linked_later = [
            e for e in dataset_events(demo_run) if e["type"] == "ticket.linked_to_incident"
        ]
        assert opened_linked
        assert linked_later

    def test_maintenance_in_time_exempts_and_late_does_not(self, demo_run: DemoRun) -> None:
        rows = demo_run.query("sla", "--as-of", PERIOD_END)
        exempt = {r["ticket"] for r in rows if r["reason"] == "R-PLAT-1"}
        assert exempt
        weather = demo_run.query("weather", "--as-of", PERIOD_END)
        windows = {m["in_time"]: m for m in weather["maintenances"]}
        assert windows[True]["exempts"]
        assert not windows[False]["exempts"]

    def test_the_summary_shows_the_weather_with_running_clocks(self, demo_run: DemoRun) -> None:
        out = demo_run.done.stdout
        assert "Platform weather as of 2026-02-28T23:00:00Z" in out
        weather = demo_run.query("weather", "--as-of", PERIOD_END)
        states = {s["service"]: s["state"] for s in weather["services"]}
        assert "outage" in states.values()
        running = [t for t in weather["linked_tickets"] if t["clock_running"]]
        assert {t["sla_status"] for t in running} >= {"at_risk", "running"}
        assert all(t["deadline"] > "2026-02-28T23:00:00Z" for t in running)

    def test_the_alerts_are_told_up_to_the_end_of_the_period(self, demo_run: DemoRun) -> None:
        """The demo checks the alerter once with its clock at the period's end: the running
        clocks of the open outage have their alerts, in the summary and in the report, the same
        as ``ticketflow --now <end> alerts`` prints (which finds nothing more to tell)."""
        told = json.loads(
            ticketflow(demo_run.data_dir, "--now", PERIOD_END, "alerts", "--format", "json").stdout
            or "[]"
        )
        assert told, "no alert told at the end of the period"
        assert all(a["emitted_at"] == "2026-02-28T23:00:00Z" for a in told)
        weather = demo_run.query("weather", "--as-of", PERIOD_END)
        running = {t["ticket"]: t for t in weather["linked_tickets"] if t["clock_running"]}
        kinds = {(a["ticket"], a["type"]) for a in told}
        for ticket, link in running.items():
            assert (ticket, "sla.warning") in kinds
            if link["sla_status"] == "at_risk":
                assert (ticket, "sla.at_risk") in kinds
        out = demo_run.done.stdout
        section = out[out.index("SLA alerts told at 2026-02-28T23:00:00Z") :]
        section = section[: section.index("Platform weather")]
        for alert in told[:15]:
            assert re.search(rf"{alert['type']}\s+{alert['ticket']}\s+{alert['tenant']}", section)
        page = demo_run.path("report").read_text(encoding="utf-8")
        alerts = page[page.index('<section id="alerts">') : page.index('<section id="sla">')]
        assert sorted(
            re.findall(r'<td class="id">(sla\.\w+)</td><td class="id">([^<]+)<', alerts)
        ) == sorted((a["type"], a["ticket"]) for a in told)
        weather_part = page[
            page.index('<section id="weather">') : page.index('<section id="alerts">')
        ]
        assert ">outage<" in weather_part
        open_part = page[page.index('<section id="open">') : page.index('<section id="worst">')]
        for ticket in running:
            assert f'<td class="id">{ticket}</td>' in open_part
            assert f"{ticket} {running[ticket]['sla_status']}" in weather_part
