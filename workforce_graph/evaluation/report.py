"""An evaluation's report: a terminal table and a standalone HTML page (no scripts, no
network: one file to open or attach)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_report", "write_html"]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def print_report(summary: Mapping[str, Any], console: Console) -> None:
    """The summary as tables on ``console``."""
    samples = int(summary.get("samples", 1))
    head = Table(title=f"{summary['dataset']} · {summary['topology']} · {summary['model']}")
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_row("tasks (denominator)", str(summary["total"]))
    head.add_row("pass@1", _pct(summary["pass@1"]))
    if "llm_judge@1" in summary:
        head.add_row("LLM judge (not the official score)", _pct(summary["llm_judge@1"]))
    if samples > 1:
        head.add_row(f"pass@{samples}", _pct(summary[f"pass@{samples}"]))
        head.add_row(f"majority@{samples}", _pct(summary[f"majority@{samples}"]))
    time_s, cost = summary["time_s"], summary["cost"]
    head.add_row(
        "time per run (mean / median)",
        f"{time_s['per_task_mean']:.1f} s / {time_s['per_task_median']:.1f} s",
    )
    head.add_row("model calls per run", f"{cost['model_calls_per_run']:.1f}")
    head.add_row("tokens per run", f"{cost['tokens_per_run']:.0f}")
    if summary.get("withheld_results"):
        head.add_row("web results withheld (leakage)", str(summary["withheld_results"]))
    console.print(head)
    kinds = Table(title="runs by failure kind")
    kinds.add_column("kind")
    kinds.add_column("runs", justify="right")
    for kind, count in summary["failures"].items():
        kinds.add_row(kind.replace("_", " "), str(count))
    levels = Table(title="by level / family")
    levels.add_column("level")
    levels.add_column("tasks", justify="right")
    levels.add_column("pass@1", justify="right")
    for name, values in summary["by_level"].items():
        levels.add_row(name, str(values["total"]), _pct(values["pass@1"]))
    console.print(kinds, levels)


_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}.big{font-size:2.6rem;font-weight:700}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;
padding:.8rem 1.1rem;min-width:9rem}.muted{color:#666;font-size:.85rem}
.bar{display:flex;align-items:center;gap:.6rem;margin:.25rem 0}.bar span.l{width:11rem}
.bar div.t{flex:1;background:#eee;border-radius:4px;height:1.1rem}
.bar div.f{height:100%;border-radius:4px;background:#2b7bd0}.bar div.f.bad{background:#d0572b}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border-bottom:1px solid #eee;
padding:.25rem .4rem;text-align:left;vertical-align:top}td.ok{color:#1a7f37}td.no{color:#b3261e}"""


def _bar(label: str, fraction: float, text: str, bad: bool = False) -> str:
    width = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div class="bar"><span class="l">{html.escape(label)}</span><div class="t">'
        f'<div class="f{" bad" if bad else ""}" style="width:{width:.1f}%"></div></div>'
        f"<span>{html.escape(text)}</span></div>"
    )


def write_html(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write the report page: headline, accuracy by level, failure kinds, cost, time,
    and every run."""
    samples = int(summary.get("samples", 1))
    runs = max(1, int(summary.get("runs", 0)))
    cards = [("pass@1", _pct(summary["pass@1"]), f"over {summary['total']} tasks")]
    if samples > 1:
        cards.append((f"pass@{samples}", _pct(summary[f"pass@{samples}"]), "any sample right"))
        cards.append(
            (f"majority@{samples}", _pct(summary[f"majority@{samples}"]), "most common answer")
        )
    if "llm_judge@1" in summary:
        cards.append(("LLM judge", _pct(summary["llm_judge@1"]), "not the official score"))
    cards.append(("time per run", f"{summary['time_s']['per_task_mean']:.1f} s", "mean"))
    cards.append(("model calls", f"{summary['cost']['model_calls_per_run']:.1f}", "per run"))
    cards.append(("tokens", f"{summary['cost']['tokens_per_run']:.0f}", "per run"))
    parts = [
        "<!doctype html><meta charset=utf-8>",
        f"<title>{html.escape(str(summary['dataset']))} evaluation</title><style>{_CSS}</style>",
        f"<h1>{html.escape(str(summary['dataset']))} · {html.escape(str(summary['topology']))}"
        f" · {html.escape(str(summary['model']))}</h1>",
        '<p class="muted">Every task is in the denominator; a crash, timeout, missing plan or '
        "budget stop counts as a wrong answer of its kind. Scored by the official rules on the "
        "text behind FINAL ANSWER:.</p><div class=cards>",
        *(
            f"<div class=card><div class=muted>{html.escape(a)}</div>"
            f"<div class=big>{html.escape(b)}</div><div class=muted>{html.escape(c)}</div></div>"
            for a, b, c in cards
        ),
        "</div><h2>Accuracy by level / family</h2>",
        *(
            _bar(f"{name} ({v['total']})", v["pass@1"], _pct(v["pass@1"]))
            for name, v in summary["by_level"].items()
        ),
        "<h2>Runs by failure kind</h2>",
        *(
            _bar(kind.replace("_", " "), count / runs, str(count), bad=True)
            for kind, count in summary["failures"].items()
        ),
        "<h2>Runs</h2><table><tr><th>task</th><th>sample</th><th>level</th><th>result</th>"
        "<th>answer</th><th>expected</th><th>time</th><th>calls</th></tr>",
    ]
    for row in rows:
        ok = bool(row.get("correct"))
        verdict = "right" if ok else html.escape(str(row.get("failure")))
        parts.append(
            "<tr>"
            f"<td>{html.escape(str(row['task_id']))}</td><td>{row.get('sample', 0)}</td>"
            f"<td>{html.escape(str(row.get('family', '')))}</td>"
            f"<td class={'ok' if ok else 'no'}>{verdict}</td>"
            f"<td>{html.escape(str(row.get('extracted', ''))[:200])}</td>"
            f"<td>{html.escape(str(row.get('expected', ''))[:200])}</td>"
            f"<td>{float(row.get('duration_s', 0)):.1f} s</td><td>{row.get('model_calls', 0)}</td>"
            "</tr>"
        )
    parts.append("</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
