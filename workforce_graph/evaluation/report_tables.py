"""The terminal tables of an evaluation and of a comparison of planners, and the way
both reports write their figures (percentages, intervals, cut text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "bounded",
    "interval",
    "percent",
    "print_comparison",
    "print_report",
    "share",
    "tokens_text",
]


def percent(value: float) -> str:
    """``0.25`` as ``25.0%``."""
    return f"{100 * value:.1f}%"


def interval(bounds: Sequence[float] | None) -> str:
    """A confidence interval as ``12.0–34.5%`` (empty without one)."""
    if not bounds:
        return ""
    low, high = bounds
    return f"{100 * low:.1f}–{100 * high:.1f}%"


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_report(summary: Mapping[str, Any], console: Console) -> None:
    """The summary as tables on ``console``."""
    samples = int(summary.get("samples", 1))
    head = Table(title=f"{summary['dataset']} · {summary['topology']} · {summary['model']}")
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_row("tasks (denominator)", str(summary["total"]))
    pass1 = percent(summary["pass@1"])
    if summary.get("pass@1_ci95"):
        pass1 += f" (95% CI {interval(summary['pass@1_ci95'])})"
    head.add_row("pass@1", pass1)
    if "llm_judge@1" in summary:
        head.add_row("LLM judge (not the official score)", percent(summary["llm_judge@1"]))
    if samples > 1:
        head.add_row(f"pass@{samples}", percent(summary[f"pass@{samples}"]))
        head.add_row(f"majority@{samples}", percent(summary[f"majority@{samples}"]))
    if summary.get("temperature") or summary.get("seed") is not None:
        head.add_row(
            "sampling", f"temperature {summary.get('temperature')}, seed {summary.get('seed')}"
        )
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
        levels.add_row(name, str(values["total"]), percent(values["pass@1"]))
    console.print(kinds, levels)


def share(value: float | None) -> str:
    """A share as a percentage, ``—`` where there is none."""
    return "—" if value is None else percent(value)


def tokens_text(value: float | None) -> str:
    """A token count, ``—`` where there is none."""
    return "—" if value is None else f"{value:.0f}"


def print_comparison(summary: Mapping[str, Any], console: Console) -> None:
    """A comparison's tables on ``console``: accuracy with the paired test against the
    baseline, the planners' own figures, and pass@1 by family."""
    planners: Mapping[str, Mapping[str, Any]] = summary["planners"]
    accuracy = Table(
        title=f"{summary['dataset']} · {summary['topology']} · {summary['total']} tasks × "
        f"{summary['samples']} sample(s) · baseline {summary['baseline']}"
    )
    for name in ("planner", "model", "runs", "pass@1", "95% CI", "Δ vs baseline", "b / c"):
        accuracy.add_column(name, justify="left" if name in ("planner", "model") else "right")
    accuracy.add_column("p (McNemar)", justify="right")
    for label, side in planners.items():
        versus = side["vs_baseline"]
        accuracy.add_row(
            label,
            str(side["planner"]),
            str(side["runs"]),
            percent(side["pass@1"]),
            interval(side["pass@1_ci95"]),
            "baseline" if versus is None else f"{100 * versus['difference']:+.1f} pts",
            "" if versus is None else f"{versus['b']} / {versus['c']}",
            "" if versus is None else f"{versus['p_value']:.3g}",
        )
    figures = Table(title="planner figures (per run)")
    for name in (
        "planner",
        "first plan valid",
        "right worker",
        "plan size",
        "tokens in / out",
        "planner tokens in / out",
        "s / run",
        "total s",
    ):
        figures.add_column(name, justify="left" if name == "planner" else "right")
    for label, side in planners.items():
        tokens = side["tokens"]
        figures.add_row(
            label,
            percent(side["first_plan_valid"]),
            share(side["right_worker"]),
            f"{side['plan_size']:.2f}",
            f"{tokens['input_per_run']:.0f} / {tokens['output_per_run']:.0f}",
            f"{tokens_text(tokens['planner_input_per_run'])} / "
            f"{tokens_text(tokens['planner_output_per_run'])}",
            f"{side['time_s']['per_run_mean']:.1f}",
            f"{side['time_s']['total']:.0f}",
        )
    families = Table(title="pass@1 by family")
    families.add_column("family")
    families.add_column("tasks", justify="right")
    for label in planners:
        families.add_column(label, justify="right")
    for family, total in summary["families"].items():
        families.add_row(
            family,
            str(total),
            *(
                percent(side["by_family"].get(family, {}).get("pass@1", 0.0))
                for side in planners.values()
            ),
        )
    console.print(accuracy, figures, families)
