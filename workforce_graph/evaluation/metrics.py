"""The figures of an evaluation, from its result rows: pass@1 over every task,
pass@k and majority@k when sampled, failures by kind, level or family, cost, time."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from workforce_graph.evaluation.outcome import FAILURE_KINDS
from workforce_graph.evaluation.scorer import normalize_str

__all__ = ["summarise"]


def _majority_correct(rows: list[Mapping[str, Any]]) -> bool:
    votes = Counter(normalize_str(str(r.get("extracted") or "")) for r in rows)
    if not votes:
        return False
    top, _ = votes.most_common(1)[0]
    return any(r["correct"] for r in rows if normalize_str(str(r.get("extracted") or "")) == top)


def summarise(
    rows: Iterable[Mapping[str, Any]], *, tasks: Iterable[Mapping[str, str]], samples: int
) -> dict[str, Any]:
    """One summary object. ``tasks`` (``task_id``, ``family``) is the denominator: a task
    with no result row (never run) counts as wrong, of kind ``not_run``."""
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[str(row["task_id"])].append(row)
    families: dict[str, list[float]] = defaultdict(list)
    pass1: list[float] = []
    pass_k: list[float] = []
    majority: list[float] = []
    failures: Counter[str] = Counter({kind: 0 for kind in FAILURE_KINDS})
    times: list[float] = []
    calls = input_tokens = output_tokens = withheld = 0
    for task in tasks:
        runs = by_task.get(task["task_id"], [])
        accuracy = sum(1 for r in runs if r["correct"]) / samples if runs else 0.0
        pass1.append(accuracy)
        pass_k.append(1.0 if any(r["correct"] for r in runs) else 0.0)
        majority.append(1.0 if _majority_correct(runs) else 0.0)
        families[task.get("family") or "all"].append(accuracy)
        if len(runs) < samples:
            failures["not_run"] += samples - len(runs)
        for r in runs:
            if r.get("failure"):
                failures[str(r["failure"])] += 1
            times.append(float(r.get("duration_s", 0.0)))
            calls += int(r.get("model_calls", 0))
            input_tokens += int(r.get("input_tokens", 0))
            output_tokens += int(r.get("output_tokens", 0))
            withheld += int(r.get("withheld", 0))
    total = len(pass1)
    runs_done = len(times)
    summary: dict[str, Any] = {
        "total": total,
        "samples": samples,
        "runs": runs_done,
        "pass@1": statistics.fmean(pass1) if pass1 else 0.0,
        "correct": sum(1 for r in by_task.values() for x in r if x["correct"]),
        "failures": dict(failures),
        "by_level": {
            name: {"total": len(values), "pass@1": statistics.fmean(values)}
            for name, values in sorted(families.items())
        },
        "time_s": {
            "per_task_mean": statistics.fmean(times) if times else 0.0,
            "per_task_median": statistics.median(times) if times else 0.0,
            "total": sum(times),
        },
        "cost": {
            "model_calls": calls,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "model_calls_per_run": calls / runs_done if runs_done else 0.0,
            "tokens_per_run": (input_tokens + output_tokens) / runs_done if runs_done else 0.0,
        },
        "withheld_results": withheld,
    }
    judged = [r for runs in by_task.values() for r in runs if "judge_score" in r]
    if judged:
        # Beside the official figure, never instead of it; an unanswered judge is not right.
        summary["llm_judge@1"] = sum(1 for r in judged if r["judge_score"] == 1.0) / (
            total * samples or 1
        )
    if samples > 1:
        summary[f"pass@{samples}"] = statistics.fmean(pass_k) if pass_k else 0.0
        summary[f"majority@{samples}"] = statistics.fmean(majority) if majority else 0.0
    return summary
