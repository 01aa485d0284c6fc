"""The reports of an evaluation and of a comparison of planners as a standalone HTML
page each (no scripts, no network, charts as inline SVG: one file to open or attach);
the terminal tables are in :mod:`workforce_graph.evaluation.report_tables`.

The HTML of an evaluation links each run to its trajectory as a JSON file of its own
(``runs/<trajectory id>.json`` beside ``trajectories.jsonl``), which a browser shows as
it is; ``trajectories.jsonl`` stays the one input of ``export``.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from workforce_graph.evaluation.report_tables import (
    bounded,
    interval,
    percent,
    print_comparison,
    print_report,
    share,
    tokens_text,
)

__all__ = [
    "RUN_PAGES",
    "Bar",
    "pass_bar",
    "print_comparison",
    "print_report",
    "svg_bars",
    "write_comparison_html",
    "write_html",
    "write_run_pages",
]

RUN_PAGES = "runs"
"""The folder, beside ``trajectories.jsonl``, of one JSON file per recorded run."""
_QUESTION_CHARS = 200
_PALETTE = ("#2b7bd0", "#d0572b", "#2ba36b", "#8a4fd0", "#c9a227", "#d04f8a", "#4fb3d0", "#666")


# ------------------------------------------------------------------------ charts


class Bar(NamedTuple):
    """One bar of a chart: a rate and its interval, all in [0, 1]."""

    value: float
    low: float
    high: float


def svg_bars(
    groups: Sequence[tuple[str, Sequence[Bar]]], series: Sequence[str], *, title: str
) -> str:
    """Grouped vertical bars with interval whiskers, as an inline ``<svg>``.

    Args:
        groups: ``(group label, one bar per series)``, e.g. a family and each planner's
            pass@1 on it.
        series: The series' names, in bar order (a legend when more than one).
        title: The chart's accessible title.

    Each bar carries a ``<title>`` (its figures, shown on hover without scripts).
    """
    bar_w, gap, top, plot_h, left = 26, 22, 14, 160, 44
    per_group = max(1, len(series)) * bar_w
    width = max(320, left + len(groups) * (per_group + gap) + gap)
    legend_h = 20 * len(series) if len(series) > 1 else 0
    height = top + plot_h + 44 + legend_h
    base = top + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-size="11" '
        f'font-family="system-ui,sans-serif"><title>{html.escape(title)}</title>'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = base - plot_h * tick / 100
        parts.append(
            f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}%</text>'
        )
    for index, (label, bars) in enumerate(groups):
        x0 = left + gap + index * (per_group + gap)
        for position, bar in enumerate(bars):
            x = x0 + position * bar_w
            colour = _PALETTE[position % len(_PALETTE)]
            value, low, high = (max(0.0, min(1.0, v)) for v in bar)
            y = base - plot_h * value
            name = series[position] if position < len(series) else ""
            tip = f"{label} · {name}: {percent(value)} (95% CI {interval((low, high))})"
            centre = x + (bar_w - 4) / 2
            y_low, y_high = base - plot_h * low, base - plot_h * high
            parts.append(
                f"<g><title>{html.escape(tip)}</title>"
                f'<rect x="{x}" y="{y:.1f}" width="{bar_w - 4}" height="{base - y:.1f}" '
                f'fill="{colour}"/>'
                f'<line x1="{centre:.1f}" x2="{centre:.1f}" y1="{y_low:.1f}" y2="{y_high:.1f}" '
                'stroke="#222" stroke-width="1.4"/>'
                f'<line x1="{centre - 5:.1f}" x2="{centre + 5:.1f}" y1="{y_low:.1f}" '
                f'y2="{y_low:.1f}" stroke="#222"/>'
                f'<line x1="{centre - 5:.1f}" x2="{centre + 5:.1f}" y1="{y_high:.1f}" '
                f'y2="{y_high:.1f}" stroke="#222"/></g>'
            )
        parts.append(
            f'<text x="{x0 + per_group / 2:.1f}" y="{base + 16}" text-anchor="middle">'
            f"{html.escape(bounded(label, 22))}</text>"
        )
    if len(series) > 1:
        for position, name in enumerate(series):
            y = base + 40 + 20 * position
            colour = _PALETTE[position % len(_PALETTE)]
            parts.append(
                f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
                f'<text x="{left + 18}" y="{y}">{html.escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def pass_bar(values: Mapping[str, Any]) -> Bar:
    """A summary's pass@1 and its 95% interval as one bar (the rate alone where the
    summary has no interval)."""
    rate = float(values.get("pass@1", 0.0))
    low, high = values.get("pass@1_ci95") or (rate, rate)
    return Bar(rate, float(low), float(high))


# ------------------------------------------------------------------------ HTML

_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}.big{font-size:2.6rem;font-weight:700}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;
padding:.8rem 1.1rem;min-width:9rem}.muted{color:#666;font-size:.85rem}
.bar{display:flex;align-items:center;gap:.6rem;margin:.25rem 0}.bar span.l{width:11rem}
.bar div.t{flex:1;background:#eee;border-radius:4px;height:1.1rem}
.bar div.f{height:100%;border-radius:4px;background:#2b7bd0}.bar div.f.bad{background:#d0572b}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border-bottom:1px solid #eee;
padding:.25rem .4rem;text-align:left;vertical-align:top}td.ok{color:#1a7f37}td.no{color:#b3261e}
td.q{max-width:22rem}svg{max-width:100%;height:auto}"""


def _bar_html(label: str, fraction: float, text: str, bad: bool = False) -> str:
    width = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div class="bar"><span class="l">{html.escape(label)}</span><div class="t">'
        f'<div class="f{" bad" if bad else ""}" style="width:{width:.1f}%"></div></div>'
        f"<span>{html.escape(text)}</span></div>"
    )


def _file_name(trajectory_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", trajectory_id).strip("-.") or "run"


def write_run_pages(trajectories: Path) -> dict[str, Path]:
    """One JSON file per recorded run, in ``runs/`` beside ``trajectories``; the file of
    each trajectory id. A file already written is kept (a run's record never changes)."""
    if not trajectories.exists():
        return {}
    folder = trajectories.parent / RUN_PAGES
    pages: dict[str, Path] = {}
    for line in trajectories.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interruption: its run is redone
        if not isinstance(data, dict) or not data.get("trajectory_id"):
            continue
        page = folder / f"{_file_name(str(data['trajectory_id']))}.json"
        if not page.exists():
            folder.mkdir(parents=True, exist_ok=True)
            page.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
        pages[str(data["trajectory_id"])] = page
    return pages


def _link(page: Path | None, report: Path) -> str:
    if page is None:
        return ""
    # Relative, so the folder can be moved or served as a whole.
    target = Path(os.path.relpath(page, report.parent)).as_posix()
    return f'<a href="{html.escape(target)}">trajectory</a>'


def write_html(
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    path: Path,
    *,
    trajectories: Path | None = None,
    questions: Mapping[str, str] | None = None,
) -> None:
    """Write the report page: headline, accuracy by level with its chart, failure
    kinds, cost, time, and every run with its question, answer, expected answer and a
    link to its trajectory.

    Args:
        summary: The evaluation's summary.
        rows: Its result rows.
        path: Where the page goes.
        trajectories: The evaluation's ``trajectories.jsonl``; each run then links to
            its trajectory's own file (see :func:`write_run_pages`).
        questions: Question text by task id, for rows written before results kept it.
    """
    samples = int(summary.get("samples", 1))
    runs = max(1, int(summary.get("runs", 0)))
    pages = write_run_pages(trajectories) if trajectories is not None else {}
    cards = [("pass@1", percent(summary["pass@1"]), f"over {summary['total']} tasks")]
    if summary.get("pass@1_ci95"):
        cards[0] = (
            "pass@1",
            percent(summary["pass@1"]),
            f"over {summary['total']} tasks · 95% CI {interval(summary['pass@1_ci95'])}",
        )
    if samples > 1:
        cards.append((f"pass@{samples}", percent(summary[f"pass@{samples}"]), "any sample right"))
        cards.append(
            (f"majority@{samples}", percent(summary[f"majority@{samples}"]), "most common answer")
        )
    if "llm_judge@1" in summary:
        cards.append(("LLM judge", percent(summary["llm_judge@1"]), "not the official score"))
    cards.append(("time per run", f"{summary['time_s']['per_task_mean']:.1f} s", "mean"))
    cards.append(("model calls", f"{summary['cost']['model_calls_per_run']:.1f}", "per run"))
    cards.append(("tokens", f"{summary['cost']['tokens_per_run']:.0f}", "per run"))
    sampling = ""
    if summary.get("temperature") or summary.get("seed") is not None:
        sampling = (
            f" · temperature {html.escape(str(summary.get('temperature')))}, seed "
            f"{html.escape(str(summary.get('seed')))} (+ sample number)"
        )
    chart = svg_bars(
        [(name, [pass_bar(v)]) for name, v in summary["by_level"].items()],
        ["pass@1"],
        title="pass@1 by level or family, with 95% Wilson intervals",
    )
    parts = [
        "<!doctype html><meta charset=utf-8>",
        f"<title>{html.escape(str(summary['dataset']))} evaluation</title><style>{_CSS}</style>",
        f"<h1>{html.escape(str(summary['dataset']))} · {html.escape(str(summary['topology']))}"
        f" · {html.escape(str(summary['model']))}</h1>",
        '<p class="muted">Every task is in the denominator; a crash, timeout, missing plan or '
        "budget stop counts as a wrong answer of its kind. Scored by the official rules on the "
        f"text behind FINAL ANSWER:.{sampling}</p><div class=cards>",
        *(
            f"<div class=card><div class=muted>{html.escape(a)}</div>"
            f"<div class=big>{html.escape(b)}</div><div class=muted>{html.escape(c)}</div></div>"
            for a, b, c in cards
        ),
        "</div><h2>Accuracy by level / family</h2>",
        chart,
        '<p class="muted">Bars: pass@1; whiskers: 95% Wilson interval over the runs.</p>',
        *(
            _bar_html(f"{name} ({v['total']})", v["pass@1"], percent(v["pass@1"]))
            for name, v in summary["by_level"].items()
        ),
        "<h2>Runs by failure kind</h2>",
        *(
            _bar_html(kind.replace("_", " "), count / runs, str(count), bad=True)
            for kind, count in summary["failures"].items()
        ),
        "<h2>Runs</h2><table><tr><th>task</th><th>sample</th><th>level</th><th>question</th>"
        "<th>result</th><th>answer</th><th>expected</th><th>time</th><th>calls</th><th></th></tr>",
    ]
    for row in rows:
        ok = bool(row.get("correct"))
        verdict = "right" if ok else html.escape(str(row.get("failure")))
        question = str(row.get("question") or (questions or {}).get(str(row["task_id"]), ""))
        expected = row.get("display") or row.get("expected", "")
        page = pages.get(str(row.get("trajectory_id")))
        parts.append(
            f'<tr id="{html.escape(str(row.get("trajectory_id", "")))}">'
            f"<td>{html.escape(str(row['task_id']))}</td><td>{row.get('sample', 0)}</td>"
            f"<td>{html.escape(str(row.get('family', '')))}</td>"
            f"<td class=q>{html.escape(bounded(question, _QUESTION_CHARS))}</td>"
            f"<td class={'ok' if ok else 'no'}>{verdict}</td>"
            f"<td>{html.escape(str(row.get('extracted', ''))[:200])}</td>"
            f"<td>{html.escape(str(expected)[:200])}</td>"
            f"<td>{float(row.get('duration_s', 0)):.1f} s</td><td>{row.get('model_calls', 0)}</td>"
            f"<td>{_link(page, path)}</td></tr>"
        )
    parts.append("</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def _cell(text: str) -> str:
    return f"<td>{html.escape(text)}</td>"


def write_comparison_html(summary: Mapping[str, Any], path: Path) -> None:
    """Write a comparison's page: pass@1 of each planner with its 95% interval, pass@1
    by family, the paired test against the baseline, the planners' own figures, and a
    link to each side's own report."""
    planners: Mapping[str, Mapping[str, Any]] = summary["planners"]
    labels = list(planners)
    legend = [f"{label} ({side['planner']})" for label, side in planners.items()]
    overall = svg_bars(
        [("all tasks", [pass_bar(side) for side in planners.values()])],
        legend,
        title="pass@1 per planner, with 95% Wilson intervals",
    )
    by_family = svg_bars(
        [
            (family, [pass_bar(side["by_family"].get(family, {})) for side in planners.values()])
            for family in summary["families"]
        ],
        legend,
        title="pass@1 per family and planner, with 95% Wilson intervals",
    )
    title = f"{summary['dataset']} · {summary['topology']} · planners compared: {', '.join(labels)}"
    parts = [
        "<!doctype html><meta charset=utf-8>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{summary["total"]} tasks × {summary["samples"]} sample(s) per '
        "planner; every other role, worker, prompt, seed and setting the same, runs "
        "interleaved task by task. Every run is in the denominator (a run never made counts "
        f"as wrong). Baseline: {html.escape(str(summary['baseline']))}. Differences are "
        "paired over the same (task, sample) runs and tested with the exact McNemar test "
        "(b: only the baseline right, c: only the other planner right).</p>",
        "<h2>pass@1</h2>",
        overall,
        "<h2>pass@1 by family</h2>",
        by_family,
        "<h2>Accuracy and the paired test</h2><table><tr><th>planner</th><th>model</th>"
        "<th>runs</th><th>pass@1</th><th>95% CI</th><th>Δ vs baseline</th><th>b</th><th>c</th>"
        "<th>p (McNemar, exact)</th><th>report</th></tr>",
    ]
    for label, side in planners.items():
        versus = side["vs_baseline"]
        report = Path(os.path.relpath(Path(side["folder"]) / "report.html", path.parent))
        parts.append(
            "<tr>"
            + _cell(label)
            + _cell(str(side["planner"]))
            + _cell(str(side["runs"]))
            + _cell(percent(side["pass@1"]))
            + _cell(interval(side["pass@1_ci95"]))
            + _cell("baseline" if versus is None else f"{100 * versus['difference']:+.1f} pts")
            + _cell("" if versus is None else str(versus["b"]))
            + _cell("" if versus is None else str(versus["c"]))
            + _cell("" if versus is None else f"{versus['p_value']:.3g}")
            + f'<td><a href="{html.escape(report.as_posix())}">runs</a></td></tr>'
        )
    parts.append(
        "</table><h2>Planner figures</h2><table><tr><th>planner</th><th>first plan valid</th>"
        "<th>right worker</th><th>plan size</th><th>tokens in / out per run</th>"
        "<th>planner tokens in / out per run</th><th>s per run</th><th>total s</th></tr>"
    )
    for label, side in planners.items():
        tokens = side["tokens"]
        parts.append(
            "<tr>"
            + _cell(label)
            + _cell(percent(side["first_plan_valid"]))
            + _cell(share(side["right_worker"]))
            + _cell(f"{side['plan_size']:.2f}")
            + _cell(f"{tokens['input_per_run']:.0f} / {tokens['output_per_run']:.0f}")
            + _cell(
                f"{tokens_text(tokens['planner_input_per_run'])} / "
                f"{tokens_text(tokens['planner_output_per_run'])}"
            )
            + _cell(f"{side['time_s']['per_run_mean']:.1f}")
            + _cell(f"{side['time_s']['total']:.0f}")
            + "</tr>"
        )
    parts.append(
        '</table><p class="muted">First plan valid: the planner\'s first call gave a plan '
        "the run used, with no repair. Right worker: the share of subtasks (flow: turns) "
        "routed to a worker the task declares it needs (— when no task declares one). Plan "
        "size: subtasks per run (flow: planner turns).</p>"
    )
    parts.append(
        "<h2>pass@1 by family</h2><table><tr><th>family</th><th>tasks</th>"
        + "".join(f"<th>{html.escape(label)}</th>" for label in labels)
        + "</tr>"
    )
    for family, total in summary["families"].items():
        cells = "".join(
            _cell(percent(side["by_family"].get(family, {}).get("pass@1", 0.0)))
            for side in planners.values()
        )
        parts.append(f"<tr>{_cell(family)}{_cell(str(total))}{cells}</tr>")
    parts.append("</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
