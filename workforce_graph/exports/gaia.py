"""A GAIA submission file: one ``task_id, model_answer, reasoning_trace`` line per task.

The task id is the trajectory's ``meta.task_id`` (set by ``workforce-graph eval``).

A submission is one system's answers, one per task. Runs of one task by different
systems (another topology, or another planner model: see
:mod:`workforce_graph.exports.groups`) are not samples of each other, and keeping the
first one read would make the file's system depend on the order of its sources. So an
input holding more than one system is refused, naming them, unless ``prefer`` picks
one; the others' runs are then left out and counted, and a task the chosen system did
not run is not filled in from another. Within the system, the lowest sample of a task
is submitted (sample 0 of ``eval --samples N``).
"""

from __future__ import annotations

from collections.abc import Iterable

from workforce_graph.evaluation.scorer import extract_final_answer
from workforce_graph.exports.groups import System, Systems
from workforce_graph.exports.result import ExportError, ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["gaia_rows"]

NO_TASK_ID = "trajectory without meta.task_id"


def _trace(trajectory: Trajectory) -> str:
    steps = [
        f"[{call.role}{':' + call.subtask_id if call.subtask_id else ''}] "
        + completion_text(call)[:2000]
        for call in trajectory.calls
        if call.error is None
    ]
    return "\n".join(steps)


def _listing(tasks: dict[System, set[str]]) -> str:
    return ", ".join(f"{s.label} ({len(tasks[s])} tasks)" for s in sorted(tasks))


def _chosen(tasks: dict[System, set[str]], prefer: str | None) -> System | None:
    """The one system to submit, or ``None`` for an input without task ids.

    Raises:
        ExportError: Several systems and no ``prefer``, or a ``prefer`` that names
            none or more than one of them.
    """
    if prefer is None:
        if len(tasks) > 1:
            first = sorted(tasks)[0]
            # The shortest name that picks it: its topology, unless another shares it.
            shared = sum(1 for system in tasks if system.topology == first.topology) > 1
            raise ExportError(
                f"the trajectories come from {len(tasks)} systems: {_listing(tasks)}; a "
                "GAIA submission answers each task once, from one system: pick it with "
                "--prefer (a topology, a planner model or TOPOLOGY/MODEL, e.g. --prefer "
                f"{first.label if shared else first.topology})"
            )
        return next(iter(tasks), None)
    matching = [system for system in sorted(tasks) if system.matches(prefer)]
    if len(matching) != 1:
        problem = "names none" if not matching else f"names {len(matching)}"
        raise ExportError(
            f"--prefer {prefer} {problem} of the systems in the trajectories: "
            f"{_listing(tasks)}; name one as TOPOLOGY/MODEL"
        )
    return matching[0]


def gaia_rows(trajectories: Iterable[Trajectory], *, prefer: str | None = None) -> ExportResult:
    """One submission row per task, from one system's runs.

    Args:
        trajectories: Recorded runs with ``meta.task_id``.
        prefer: The system to submit when the runs come from several: a topology
            (``flow``), a planner model or a ``topology/model`` label.

    Raises:
        ExportError: Runs of several systems and no ``prefer`` (or a ``prefer`` that
            does not name exactly one of them).
    """
    result = ExportResult()
    read = list(trajectories)
    systems = Systems(read, "planner")
    tasks: dict[System, set[str]] = {}
    runs: list[tuple[Trajectory, System, str]] = []
    for trajectory in read:
        task_id = trajectory.meta.get("task_id")
        if not task_id:
            result.dropped[NO_TASK_ID] += 1
            continue
        system = systems.of(trajectory)
        tasks.setdefault(system, set()).add(str(task_id))
        runs.append((trajectory, system, str(task_id)))
    chosen = _chosen(tasks, prefer)
    best: dict[str, tuple[int, Trajectory]] = {}
    for trajectory, system, task_id in runs:
        if system != chosen:
            result.dropped[f"run of another system than --prefer {prefer}"] += 1
            continue
        sample = int(trajectory.meta.get("sample", 0))
        if task_id in best:
            kept = best[task_id][0]
            result.dropped[
                "later sample of a task already submitted"
                if sample != kept
                else "repeated run of a task's sample already submitted"
            ] += 1
            if sample >= kept:
                continue
        best[task_id] = (sample, trajectory)
    for task_id, (_, trajectory) in best.items():
        answer = (
            trajectory.outcome.extracted
            if trajectory.outcome and trajectory.outcome.extracted is not None
            else extract_final_answer(trajectory.answer)
        )
        result.rows.append(
            {"task_id": task_id, "model_answer": answer, "reasoning_trace": _trace(trajectory)}
        )
    result.stats["trajectories"] = len(read)
    if chosen is not None:
        result.stats["system"] = chosen.label
    if not result.rows:
        result.empty_reason = (
            "no trajectory was read; pass an eval's --out folder or its trajectories.jsonl"
            if not read
            else f"none of the {len(read)} trajectories read has meta.task_id: export the "
            "folder of a workforce-graph eval"
        )
    return result
