"""The analyst's report in a real browser: Debian's headless Chromium, driven by selenium with
Debian's chromium-driver, opens the page served by ``ticketflow serve`` with an analyst key and
with a tenant-scoped key (the key sent as a header through the DevTools protocol), and the file
``ticketflow report`` writes, offline.

Without Chromium the test is skipped with the reason, except in CI (``CI=true``), where it fails:
``scripts/test`` installs ``chromium`` and ``chromium-driver`` when it runs as root with apt.
Screenshots are kept in ``tests/artifacts/`` (ignored by git), or in ``$TICKETFLOW_TEST_ARTIFACTS``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import embedded_env, run
from tests.report_story import AS_OF, OTHERS, SCRIPT, write_story

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def artifacts() -> Path:
    where = Path(os.environ.get("TICKETFLOW_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    reason = (
        "Debian's chromium and chromium-driver are not installed "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: in CI the browser test must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root (CI containers)
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``ticketflow serve`` on the story, with an analyst key and a key scoped to acme."""
    base = tmp_path_factory.mktemp("report-browser")
    data = base / "data"
    assert run(data, "ingest", str(write_story(base / "story.jsonl"))).returncode == 0
    analyst = run(data, "keys", "create", "--role", "analyst").stdout.strip()
    acme = run(data, "keys", "create", "--role", "analyst", "--tenant", "acme").stdout.strip()
    report = base / "offline" / "report.html"
    assert run(data, "report", "--out", str(report), "--as-of", AS_OF).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketflow", "--data-dir", str(data), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=embedded_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].split()[0]
        _wait_live(url)
        yield {"url": url, "analyst": analyst, "acme": acme, "file": report.as_uri()}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _wait_live(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/livez", timeout=5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the API did not come up")


def _open(browser: Any, url: str, key: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    browser.get(url)
    browser.get_log("browser")  # start each page with an empty console


def _charts(browser: Any) -> dict[str, dict[str, float]]:
    """Each chart's drawn bars (a bar of some height) and its width on the page."""
    found = browser.execute_script(
        """return Array.from(document.querySelectorAll('figure.chart')).map(f => {
            const svg = f.querySelector('svg');
            const bars = Array.from(svg.querySelectorAll('g[id^="bar-"]'))
                .filter(g => g.getBBox().height > 0).length;
            return [f.id, bars, svg.getBoundingClientRect().width];
        });"""
    )
    return {name: {"bars": bars, "width": width} for name, bars, width in found}


def _visible(browser: Any, table: str) -> list[str]:
    """The first cell of each shown row of a table."""
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    return [r.find_element(By.CSS_SELECTOR, "td").text for r in rows if r.is_displayed()]


def _type(browser: Any, selector: str, text: str) -> None:
    """Replace the text of an input as a user does (keys, so that ``input`` events fire)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element(By.CSS_SELECTOR, selector)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def _no_console_errors(browser: Any) -> None:
    """No script error and no Content-Security-Policy violation (the page's own script is the
    only one allowed; any fetch would be refused and logged)."""
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_an_analyst_reads_acts_and_filters(browser: Any, served: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, f"{served['url']}/v1/report?as_of={AS_OF}", served["analyst"])
    assert browser.title.startswith("ticketflow report")
    charts = _charts(browser)
    assert set(charts) == {"chart-compliance", "chart-hours", "chart-tier-mix"}
    assert all(c["bars"] > 0 and c["width"] > 100 for c in charts.values()), charts

    # What breached, worst first; a filter keeps the matching rows.
    assert _visible(browser, "breached-table") == ["G-1", "T-1"]
    _type(browser, "#breached-table input.filter", "globex")
    assert _visible(browser, "breached-table") == ["G-1"]
    _type(browser, "#breached-table input.filter", "")
    # A heading sorts, both ways.
    late = browser.find_elements(By.CSS_SELECTOR, "#breached-table th")[6]
    late.click()
    assert _visible(browser, "breached-table") == ["T-1", "G-1"]
    late.click()
    assert _visible(browser, "breached-table") == ["G-1", "T-1"]

    # A long table is paged: 29 tenant-months, 25 a page.
    assert len(_visible(browser, "hours-table")) == 25
    browser.find_element(By.CSS_SELECTOR, "#hours-table .pager .next").click()
    assert len(_visible(browser, "hours-table")) == 2 + len(OTHERS) - 25

    # One tenant in every table.
    _type(browser, "#tenant-filter", "acme")
    assert _visible(browser, "breached-table") == ["T-1"]
    assert _visible(browser, "open-table") == ["T-2"]
    assert _visible(browser, "hours-table") == ["2026-05"]
    _type(browser, "#tenant-filter", "")

    # The summary with a script shows as text, and the script never ran.
    assert browser.execute_script("return window.__pwned") is None
    summary = browser.find_element(By.XPATH, "//table//td[contains(., 'VM down')]")
    assert summary.text.startswith(SCRIPT)
    # Paris time shown, the UTC instant on hover.
    deadline = browser.find_element(
        By.CSS_SELECTOR, '#open-table time[datetime="2026-05-07T13:00:00Z"]'
    )
    assert deadline.text == "2026-05-07 15:00"
    assert deadline.get_attribute("title") == "2026-05-07T13:00:00Z (UTC)"
    _no_console_errors(browser)
    shot = artifacts() / "report-analyst.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_scoped_key_sees_its_tenant_only(browser: Any, served: dict[str, str]) -> None:
    _open(browser, f"{served['url']}/v1/report?as_of={AS_OF}", served["acme"])
    charts = _charts(browser)
    assert charts, "no chart drawn"
    assert all(c["bars"] > 0 for c in charts.values()), charts
    assert _visible(browser, "breached-table") == ["T-1"]
    page = browser.page_source
    for other in ("globex", "G-1", "G-2", *OTHERS):
        assert other not in page
    assert browser.execute_script("return document.body.innerText").find("globex") < 0
    _no_console_errors(browser)
    shot = artifacts() / "report-acme.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_the_file_works_offline(browser: Any, served: dict[str, str]) -> None:
    _open(browser, served["file"])
    assert all(c["bars"] > 0 for c in _charts(browser).values())
    _type(browser, "#breached-table input.filter", "acme")
    assert _visible(browser, "breached-table") == ["T-1"]
    assert browser.execute_script("return window.__pwned") is None
    _no_console_errors(browser)
