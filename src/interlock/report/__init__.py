"""`interlock report`: one self-contained HTML file of a run and the history around it.

    html = render(store, artifacts_dir)           # str
    write_report(store, artifacts_dir, out)       # atomic write, returns `out`
    ReportWriter(outputs)                         # the handler: writes it when a run is published

The page loads nothing: CSS and SVG are inline, there is no script, and a
Content-Security-Policy of `default-src 'none'` makes the browser refuse any
fetch. It works from a file:// URL and inside the evidence bundle. The data
comes from `model.build_model` (artifacts + history); equal models render to
identical HTML apart from the one `generated-at` line.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from interlock.artifacts import HTML_REPORT
from interlock.events import Emit, FileWritten
from interlock.files import atomic_write
from interlock.history import OutputWriter
from interlock.report.model import RECENT_RUNS, build_model
from interlock.report.svg import graph_svg, line_chart, run_strip

if TYPE_CHECKING:
    from interlock.store import Store
    from interlock.runfolder import RunFolder

__all__ = ["REPORT_NAME", "ReportWriter", "build_model", "render", "render_model", "write_report"]

REPORT_NAME = HTML_REPORT.filename


@cache
def _template() -> Template:
    env = Environment(loader=PackageLoader("interlock.report", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=False, lstrip_blocks=False)
    return env.get_template("report.html.j2")


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    return _secs(value / 1000)


def _secs(value: float | None) -> str:
    if value is None:
        return ""
    if value < 120:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _charts(trend: list[dict[str, Any]]) -> list[Markup]:
    labels = [(p["started_at"] or p["run_id"])[:16].replace("T", " ") for p in trend]
    return [
        line_chart("chart-pass-rate", "Pass rate", labels, [
            ("tests", "#0969da", [p["test_pass_rate"] for p in trend]),
            ("contracts", "#8250df", [p["contract_pass_rate"] for p in trend]),
        ], percent=True),
        line_chart("chart-duration", "Run duration", labels, [("duration", "#bc4c00", [p["duration_s"] for p in trend])], unit=" s"),
        line_chart("chart-flaky", "Flaky checks on the run's commit", labels, [("flaky", "#9a6700", [float(p["flaky"]) for p in trend])]),
        line_chart("chart-defects", "Open defects", labels, [("open defects", "#cf222e", [float(p["defects_open"]) for p in trend])]),
    ]


def render_model(model: dict[str, Any], *, now: datetime | None = None) -> str:
    """The HTML of a model from `build_model`."""
    generated = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent_map = model["history"]["recent"]

    def recent(category: str, key: str) -> Markup:
        outcomes = recent_map.get(f"{category}\0{key}")
        if not outcomes or all(o is None for o in outcomes):
            return Markup("")
        cells = "".join(f'<i class="o o-{o or "none"}" title="{escape(o or "absent")}"></i>' for o in outcomes)
        return Markup(f'<span class="recent" title="last {RECENT_RUNS} runs, oldest left">{cells}</span>')

    return _template().render(
        m=model, generated_at=generated, graph_svg=graph_svg(model["graph"]),
        charts=_charts(model["history"]["trend"]) if model["history"]["present"] else [],
        strip=run_strip(model["history"]["trend"]), recent=recent, ms=_ms, secs=_secs, num=_num,
    )


def render(store: Store | None, artifacts_dir: Path | RunFolder, *, now: datetime | None = None, history: int = 200) -> str:
    """The report of the run in `artifacts_dir` with the last `history` runs of `store` (None: no history)."""
    return render_model(build_model(store, artifacts_dir, history=history), now=now)


def write_report(store: Store | None, artifacts_dir: Path | RunFolder, out: Path, *, now: datetime | None = None, history: int = 200) -> Path:
    """Render and write atomically to `out` (readers see the old report or the new one)."""
    atomic_write(out, render(store, artifacts_dir, now=now, history=history).encode("utf-8"))
    return out


class ReportWriter(OutputWriter):
    """Handler of the event stream: writes the published run's report beside its artifacts, with the history around it."""

    failure = "report not written"

    def write(self, run: RunFolder, emit: Emit) -> None:
        emit(FileWritten("report", str(write_report(self.outputs.store(), run, run.root / REPORT_NAME))))
