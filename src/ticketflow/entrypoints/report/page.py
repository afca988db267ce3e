"""The report as one self-contained HTML page, from the Jinja2 templates of this package.

Autoescape is on for every template: a text from the data (a ticket's summary, an id) can only
ever be text. The page fetches nothing: its stylesheet and its script (``static/``) are inlined,
its charts are inline SVG, and its Content-Security-Policy allows no source at all but that one
script (by its hash) and inline styles. Instants are shown in Europe/Paris time, with the UTC
instant in ``datetime`` and on hover.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from projections.storage import ReadModelStorage
from ticketflow.domain.calendar import PARIS
from ticketflow.entrypoints.report.charts import charts
from ticketflow.service.report import TIERS, Report, Weather, build, platform

HISTORY_PATH = "/v1/history/tickets/{}"


def instant(value: str | None) -> Markup:
    """``<time>`` showing the Paris wall-clock time of an RFC 3339 instant, the UTC instant
    in ``datetime`` and in the tooltip."""
    if value is None:
        return Markup("")
    at = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    utc = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")
    return Markup('<time datetime="{0}" title="{0} (UTC)">{1}</time>').format(utc, local)


def duration(minutes: int | None) -> str:
    """Minutes as ``1 h 05 min`` (negative: ``-…``)."""
    if minutes is None:
        return ""
    sign, minutes = ("-" if minutes < 0 else ""), abs(int(minutes))
    hours, rest = divmod(minutes, 60)
    return f"{sign}{hours} h {rest:02d} min" if hours else f"{sign}{rest} min"


def number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def segment(value: str) -> str:
    """A path segment, percent-encoded (slashes too)."""
    return quote(value, safe="")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ticketflow.entrypoints.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        instant=instant, duration=duration, number=number, segment=segment, shell=shlex.quote
    )
    return env


@cache
def static(name: str) -> str:
    """A file of ``static/``, as text."""
    files = resources.files("ticketflow.entrypoints.report") / "static" / name
    return files.read_text(encoding="utf-8")


def script_hash(script: str) -> str:
    """The CSP source that allows exactly ``script`` inline."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_page(report: Report, *, live: bool = False) -> str:
    """The page. ``live``: served by the API, whose history paths it links to; otherwise a
    file, which names the paths and commands to run instead of linking to them."""
    script, style = static("report.js"), static("report.css")
    if "</script" in script.lower() or "</style" in style.lower():
        raise ValueError("a static file would end its own element")
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        live=live,
        charts=charts(report),
        tiers=TIERS,
        history_path=HISTORY_PATH,
        style=Markup(style),
        script=Markup(script),
        script_src=script_hash(script),
        generated=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def page_of(
    store: ReadModelStorage,
    as_of: datetime,
    *,
    tenant: str | None = None,
    scope: Collection[str] | None = None,
    live: bool = False,
    weather: Weather | None = None,
    alerts: Sequence[dict[str, Any]] | None = None,
    notes: Sequence[str] = (),
    live_platform: bool = False,
) -> str:
    """The page of :func:`ticketflow.service.report.build`'s report (same arguments).
    ``live_platform``: the weather and the alerts read from their read models as of ``as_of``
    (:func:`ticketflow.service.report.platform`), within the same tenants."""
    if live_platform:
        weather, alerts = platform(store, as_of, [tenant] if tenant is not None else scope)
    figures = build(
        store, as_of=as_of, tenant=tenant, scope=scope, weather=weather, alerts=alerts, notes=notes
    )
    return render_page(figures, live=live)


def write_page(path: Path, page: str) -> Path:
    """Write ``page`` to ``path`` (its directory created if needed); returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
