"""A GAIA submission file: one ``task_id, model_answer, reasoning_trace`` line per task.

The task id is the trajectory's ``meta.task_id`` (set by ``workforce-graph eval``);
with several samples of one task the first sample is submitted.
"""

from __future__ import annotations

from collections.abc import Iterable

from workforce_graph.evaluation.scorer import extract_final_answer
from workforce_graph.exports.result import ExportResult, completion_text
from workforce_graph.trajectory.format import Trajectory

__all__ = ["gaia_rows"]


def _trace(trajectory: Trajectory) -> str:
    steps = [
        f"[{call.role}{':' + call.subtask_id if call.subtask_id else ''}] "
        + completion_text(call)[:2000]
        for call in trajectory.calls
        if call.error is None
    ]
    return "\n".join(steps)


def gaia_rows(trajectories: Iterable[Trajectory]) -> ExportResult:
    result = ExportResult()
    seen: dict[str, tuple[int, dict[str, str]]] = {}
    for trajectory in trajectories:
        task_id = trajectory.meta.get("task_id")
        if not task_id:
            result.dropped["trajectory without meta.task_id"] += 1
            continue
        sample = int(trajectory.meta.get("sample", 0))
        answer = (
            trajectory.outcome.extracted
            if trajectory.outcome and trajectory.outcome.extracted is not None
            else extract_final_answer(trajectory.answer)
        )
        row = {
            "task_id": str(task_id),
            "model_answer": answer,
            "reasoning_trace": _trace(trajectory),
        }
        if task_id in seen:
            result.dropped["later sample of a task already submitted"] += 1
            if sample >= seen[task_id][0]:
                continue
        seen[str(task_id)] = (sample, row)
    result.rows = [row for _, row in seen.values()]
    return result
