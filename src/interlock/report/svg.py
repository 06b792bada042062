"""Inline SVG for the report: the service dependency graph and the trend charts.

Hand-made and small on purpose (no charting library, nothing fetched): a
layered left-to-right layout for the graph (consumers left of providers), and
polylines for trends. Every text goes through `escape`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

from markupsafe import Markup, escape

from interlock.statuses import HistoryOutcome

COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "unchecked": "#8c959f", "observed": "#8250df"}
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 150, 42, 110, 26, 16
_KIND_RANK = {"external": 0, "service": 1, "resource": 2}


def _f(value: float) -> str:
    """Coordinates with at most one decimal: small files, stable text."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """name → (column, row): columns by longest path from the consumers, rows ordered to reduce crossings."""
    names = [n["name"] for n in nodes]
    level = {n: 0 for n in names}
    pairs = [(e["consumer"], e["provider"]) for e in edges if e["consumer"] != e["provider"]]
    for _ in range(len(names)):  # longest path; a cycle stops growing at len(names) - 1
        changed = False
        for a, b in pairs:
            if level[b] < level[a] + 1 <= len(names) - 1:
                level[b] = level[a] + 1
                changed = True
        if not changed:
            break
    kind = {n["name"]: n["kind"] for n in nodes}
    columns: dict[int, list[str]] = defaultdict(list)
    for name in sorted(names, key=lambda n: (_KIND_RANK.get(kind[n], 9), n)):
        columns[level[name]].append(name)
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b in pairs:
        preds[b].append(a)
    row = {name: i for col in columns.values() for i, name in enumerate(col)}
    for _ in range(2):  # barycentre sweeps, ties by name: deterministic
        for col in sorted(columns)[1:]:
            members = columns[col]
            members.sort(key=lambda n: (sum(row[p] for p in preds[n]) / len(preds[n]) if preds[n] else row[n], n))
            for i, name in enumerate(members):
                row[name] = i
    return {name: (level[name], row[name]) for name in names}


def graph_svg(graph: dict[str, Any]) -> Markup:
    nodes, edges = graph["nodes"], graph["edges"]
    if not nodes:
        return Markup('<p class="muted">No scope matrix: no dependency graph.</p>')
    place = layout(nodes, edges)
    cols = max(c for c, _ in place.values()) + 1
    per_col: dict[int, int] = defaultdict(int)
    for c, _ in place.values():
        per_col[c] += 1
    rows = max(per_col.values())
    step_y = NODE_H + ROW_GAP
    back_edges = any(place[e["provider"]][0] <= place[e["consumer"]][0] for e in edges)
    width = PAD * 2 + cols * NODE_W + (cols - 1) * COL_GAP
    height = PAD * 2 + rows * step_y - ROW_GAP + (70 if back_edges else 0)

    def xy(name: str) -> tuple[float, float]:
        c, r = place[name]
        offset = (rows - per_col[c]) * step_y / 2
        return PAD + c * (NODE_W + COL_GAP), PAD + offset + r * step_y

    out = [f'<svg id="graph" class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Service dependency graph">']
    out.append("<defs>" + "".join(
        f'<marker id="arrow-{s}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{c}"/></marker>'
        for s, c in COLOURS.items()) + "</defs>")
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for e in edges:
        (x1, y1), (x2, y2) = xy(e["consumer"]), xy(e["provider"])
        bump = seen[(e["consumer"], e["provider"])] * 8
        seen[(e["consumer"], e["provider"])] += 1
        if x2 > x1:
            sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H / 2 + bump, x2, y2 + NODE_H / 2 + bump
            dx = (ex - sx) / 2
            d = f"M{_f(sx)},{_f(sy)} C{_f(sx + dx)},{_f(sy)} {_f(ex - dx)},{_f(ey)} {_f(ex)},{_f(ey)}"
            lx, ly = (sx + ex) / 2, (sy + ey) / 2 - 4
        else:  # same column or backwards (a cycle): loop under the boxes
            sx, sy, ex, ey = x1 + NODE_W / 2 + bump, y1 + NODE_H, x2 + NODE_W / 2 - bump, y2 + NODE_H
            low = max(sy, ey) + 50
            d = f"M{_f(sx)},{_f(sy)} C{_f(sx)},{_f(low)} {_f(ex)},{_f(low)} {_f(ex)},{_f(ey)}"
            lx, ly = (sx + ex) / 2, low - 8
        status = e["status"]
        tip = f'{e["consumer"]} → {e["provider"]} via {e["via"]}: {status}'
        if e["total"]:
            tip += f' ({e["passed"]}/{e["total"]} contract items pass)'
        if e["failing"]:
            tip += "; failing: " + ", ".join(e["failing"])
        label = f'{e["passed"]}/{e["total"]}' if e["total"] else ""  # unchecked: the tooltip says via what
        traced, observed = _traced(e)
        tip += traced
        label = " · ".join(part for part in (label, observed) if part)
        dash = {"unchecked": ' stroke-dasharray="5 4"', "observed": ' stroke-dasharray="2 3"'}.get(status, "")
        seen_attr = "" if e.get("observed") is None else f' data-observed="{"yes" if e["observed"] else "no"}"'
        out.append(
            f'<g class="edge st-{status}" data-edge="{escape(e["consumer"])}->{escape(e["provider"])}" data-status="{status}"{seen_attr}>'
            f"<title>{escape(tip)}</title>"
            f'<path d="{d}" fill="none" stroke="{COLOURS[status]}" stroke-width="{3 if status == HistoryOutcome.FAIL else 2}"'
            f'{dash} marker-end="url(#arrow-{status})"/>'
            + (f'<text x="{_f(lx)}" y="{_f(ly)}" class="edge-label" fill="{COLOURS[status]}">{escape(label)}</text>' if label else "") + "</g>"
        )
    for n in nodes:
        x, y = xy(n["name"])
        sub = n.get("owner") or n.get("detail") or n["kind"]
        out.append(
            f'<g class="node kind-{n["kind"]}" data-node="{escape(n["name"])}"><title>{escape(n["name"])} ({escape(n["detail"])})</title>'
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{NODE_W}" height="{NODE_H}" rx="{14 if n["kind"] == "resource" else 6}"/>'
            f'<text x="{_f(x + NODE_W / 2)}" y="{_f(y + 18)}" class="node-name">{escape(n["name"])}</text>'
            f'<text x="{_f(x + NODE_W / 2)}" y="{_f(y + 33)}" class="node-sub">{escape(sub)}</text></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def _traced(edge: dict[str, Any]) -> tuple[str, str]:
    """What the traces say of an edge: (tooltip suffix, label part); nothing without trace evidence."""
    count = edge.get("observed")
    if count is None:
        return "", ""
    if edge["status"] == "observed":
        return f'; seen in traces ({count} distinct call(s): {", ".join(edge["interfaces"][:5])}), declared by no dependency', "traced, undeclared"
    return (f"; seen in traces ({count} distinct call(s))", "traced") if count else ("; not seen in traces", "not traced")


def line_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]], *,
               percent: bool = False, unit: str = "") -> Markup:
    """A small line chart; `None` values leave a gap. Points get hover titles while there are few of them."""
    width, height, left, right, top, bottom = 380, 170, 44, 12, 26, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(labels)
    values = [v for _, _, vals in series for v in vals if v is not None]
    top_value = 1.0 if percent else (max(values) if values else 0.0)
    top_value = top_value or 1.0
    # pass rates zoom to the tenth they live in (97% and 99% look different), counts start at 0
    low = min(math.floor(min(values) * 10) / 10, 0.9) if percent and values else 0.0

    def fmt(v: float) -> str:
        if percent:
            return f"{v * 100:.0f}%"
        return f"{v:.0f}{unit}" if v >= 10 or float(v).is_integer() else f"{v:.1f}{unit}"

    def px(i: int) -> float:
        return left + (plot_w / 2 if count == 1 else i * plot_w / (count - 1))

    def py(v: float) -> float:
        return top + plot_h - ((v - low) / (top_value - low)) * plot_h

    out = [f'<svg id="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    out.append(f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>'
               f'<line x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}" class="grid"/>'
               f'<text x="{left - 4}" y="{top + plot_h}" class="tick" text-anchor="end">{fmt(low)}</text>'
               f'<text x="{left - 4}" y="{top + 4}" class="tick" text-anchor="end">{fmt(top_value)}</text>')
    if count:
        out.append(f'<text x="{left}" y="{height - 8}" class="tick">{escape(labels[0])}</text>')
        if count > 1:
            out.append(f'<text x="{left + plot_w}" y="{height - 8}" class="tick" text-anchor="end">{escape(labels[-1])}</text>')
    if not values:
        out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" class="tick" text-anchor="middle">no data yet</text>')
    for name, colour, vals in series:
        segment: list[str] = []
        segments = []
        for i, v in enumerate(vals):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
            else:
                segment.append(f"{_f(px(i))},{_f(py(v))}")
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) > 1:
                out.append(f'<polyline class="series" data-series="{escape(name)}" points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2"/>')
        marks = range(count) if count <= 60 else [count - 1]
        for i in marks:
            v = vals[i]
            if v is not None:
                out.append(f'<circle cx="{_f(px(i))}" cy="{_f(py(v))}" r="3" fill="{colour}"><title>{escape(labels[i])}: {escape(name)} {fmt(v)}</title></circle>')
    if len(series) > 1:  # legend on the title line, right-aligned
        x = width - right - sum(14 + 6 * len(name) + 10 for name, _, _ in series)
        for name, colour, _ in series:
            out.append(f'<rect x="{x}" y="9" width="10" height="4" fill="{colour}"/><text x="{x + 13}" y="15" class="tick">{escape(name)}</text>')
            x += 14 + 6 * len(name) + 10
    out.append("</svg>")
    return Markup("".join(out))


def run_strip(trend: Sequence[dict[str, Any]]) -> Markup:
    """One cell per run, oldest left, coloured by the run's gate status."""
    if not trend:
        return Markup("")
    cell = max(3, min(14, 760 // len(trend)))
    width = cell * len(trend)
    out = [f'<svg id="run-strip" class="strip" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 16" width="{width}" height="16" role="img" aria-label="Gate status of each run">']
    for i, p in enumerate(trend):
        colour = COLOURS.get(p["status"], COLOURS["unchecked"])
        tip = f'{p["run_id"]} {p["started_at"] or ""} {(p["git_commit"] or "")[:10]} {p["status"]}'
        out.append(f'<rect x="{i * cell}" y="0" width="{max(cell - 1, 1)}" height="16" fill="{colour}"><title>{escape(tip)}</title></rect>')
    out.append("</svg>")
    return Markup("".join(out))
