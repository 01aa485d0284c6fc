"""The figures of an evaluation: from its result rows, pass@1 over every task (with its
95% Wilson interval), pass@k and majority@k when sampled, failures by kind, level or
family, cost, time; from its trajectories, the planner's own figures (first plan
valid, routing to the right worker, plan size, its tokens)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from workforce_graph.evaluation.outcome import FAILURE_KINDS
from workforce_graph.evaluation.scorer import normalize_str
from workforce_graph.evaluation.statistics import wilson_interval
from workforce_graph.topologies import TOPOLOGIES
from workforce_graph.trajectory.format import Trajectory

__all__ = ["first_plan_valid", "plan_size", "planner_figures", "routed_workers", "summarise"]


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
    family_right: Counter[str] = Counter()
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
        family_right[task.get("family") or "all"] += sum(1 for r in runs if r["correct"])
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
    # Over the runs the denominator asks for (a run never made is a wrong one); only
    # tasks of the denominator count, as in pass@1.
    correct = sum(family_right.values())
    summary: dict[str, Any] = {
        "total": total,
        "samples": samples,
        "runs": runs_done,
        "pass@1": statistics.fmean(pass1) if pass1 else 0.0,
        "pass@1_ci95": list(wilson_interval(correct, total * samples)),
        "correct": correct,
        "failures": dict(failures),
        "by_level": {
            name: {
                "total": len(values),
                "pass@1": statistics.fmean(values),
                "correct": family_right[name],
                "pass@1_ci95": list(wilson_interval(family_right[name], len(values) * samples)),
            }
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


def first_plan_valid(trajectory: Trajectory) -> bool:
    """The planner's first call gave a plan the run used, with no repair: the first
    planner step made one call, it did not fail, its reply parsed, and the run got
    subtasks from it (the flow has no plan to get: a parsed first step is enough)."""
    calls = [c for c in trajectory.calls if c.role == "planner"]
    if not calls:
        return False
    first_step = [c for c in calls if c.step == calls[0].step and c.node == calls[0].node]
    planned = bool(trajectory.meta.get("subtasks")) or _turn_by_turn(trajectory)
    return (
        len(first_step) == 1 and calls[0].error is None and calls[0].parsed is not None and planned
    )


def _turn_by_turn(trajectory: Trajectory) -> bool:
    """Whether the run planned turn by turn (its plan is the planner's decisions); a
    topology this version does not know counts as one with a list of subtasks."""
    spec = TOPOLOGIES.get(trajectory.topology)
    return spec is not None and spec.turn_by_turn


def routed_workers(trajectory: Trajectory) -> list[str | None]:
    """The worker each subtask went to (``None``: never assigned); in the flow, the
    worker of each planner turn."""
    if _turn_by_turn(trajectory):
        return [
            str(d.parsed.get("worker")) if isinstance(d.parsed, Mapping) else None
            for d in trajectory.decisions()
        ]
    return [
        str(s["worker"]) if s.get("worker") else None
        for s in trajectory.meta.get("subtasks") or []
        if isinstance(s, Mapping)
    ]


def plan_size(trajectory: Trajectory) -> int:
    """Subtasks of the run's plan (the last one, after any replan); the flow's planner
    turns."""
    if _turn_by_turn(trajectory):
        return len(trajectory.decisions())
    return len(trajectory.meta.get("subtasks") or [])


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


def _right_worker(
    worker: str | None, data: Mapping[str, Any], capabilities: Mapping[str, Collection[str]]
) -> bool:
    if worker is None:
        return False
    if worker in _as_set(data.get("expected_worker")):
        return True
    # Any one of the needed capabilities counts (a task may be served by several kinds).
    return bool(_as_set(data.get("expected_capabilities")) & set(capabilities.get(worker, ())))


def _declares_routing(data: Mapping[str, Any]) -> bool:
    return bool(_as_set(data.get("expected_worker")) or _as_set(data.get("expected_capabilities")))


def _per_run(total: float, runs: int) -> float:
    return total / runs if runs else 0.0


def planner_figures(
    trajectories: Iterable[Trajectory],
    *,
    task_data: Mapping[str, Mapping[str, Any]] | None = None,
    worker_capabilities: Mapping[str, Collection[str]] | None = None,
) -> dict[str, Any]:
    """The planner's figures over recorded runs.

    Args:
        trajectories: The runs (an evaluation's ``trajectories.jsonl``).
        task_data: ``EvalTask.data`` by task id; a task declaring
            ``expected_worker`` (a name or names) or ``expected_capabilities`` (any one
            counts) enters ``right_worker``.
        worker_capabilities: Each worker's capabilities, to match
            ``expected_capabilities``.

    Returns:
        ``runs``; ``first_plan_valid`` and ``plan_fallback`` (shares of runs);
        ``right_worker`` (share of the routed subtasks of declaring tasks that went to
        a right worker, ``None`` when no task declares one) over ``routed_subtasks``;
        ``plan_size`` (mean subtasks, or flow turns, per run); ``tokens`` per run, all
        calls and the planner's own (``None`` when no call names its role).
    """
    runs = list(trajectories)
    data = task_data or {}
    capabilities = worker_capabilities or {}
    routed = right = 0
    for trajectory in runs:
        declared = data.get(str(trajectory.meta.get("task_id")), {})
        if not _declares_routing(declared):
            continue
        for worker in routed_workers(trajectory):
            routed += 1
            right += _right_worker(worker, declared, capabilities)
    calls = [c for t in runs for c in t.calls]
    planner_calls = [c for c in calls if c.role == "planner"]
    has_roles = any(c.role for c in calls)
    n = len(runs)
    return {
        "runs": n,
        "first_plan_valid": _per_run(sum(first_plan_valid(t) for t in runs), n),
        "plan_fallback": _per_run(sum(bool(t.meta.get("plan_fallback")) for t in runs), n),
        "right_worker": right / routed if routed else None,
        "routed_subtasks": routed,
        "plan_size": _per_run(sum(plan_size(t) for t in runs), n),
        "tokens": {
            "input_per_run": _per_run(sum(c.input_tokens or 0 for c in calls), n),
            "output_per_run": _per_run(sum(c.output_tokens or 0 for c in calls), n),
            "planner_input_per_run": (
                _per_run(sum(c.input_tokens or 0 for c in planner_calls), n) if has_roles else None
            ),
            "planner_output_per_run": (
                _per_run(sum(c.output_tokens or 0 for c in planner_calls), n) if has_roles else None
            ),
        },
    }
