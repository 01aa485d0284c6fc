"""Which recorded runs belong together: the same topology and model, then the same task.

Runs of one question are samples of each other only when the same system made them: a
Workforce run and a flow run of a task, or a base planner's run and a trained one's
(``eval --compare``), are different policies. DPO pairs and Flow-GRPO groups compare
samples, so they group by (task, topology, model); a GAIA submission answers each task
once, so it takes one system's answers.

A trajectory's model is the one that made its decisions of the exported role (the
planner by default), as the recorder wrote it on each call. A run that made no such call
(cut off before planning) takes the one model its topology shows elsewhere in the input;
where that is not one model, it is ``unknown model``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from workforce_graph.trajectory.format import Trajectory

__all__ = ["UNKNOWN_MODEL", "System", "Systems"]

UNKNOWN_MODEL = "unknown model"


@dataclass(frozen=True, order=True)
class System:
    """What made a run: its topology and the model of the exported role."""

    topology: str
    model: str

    @property
    def label(self) -> str:
        """``topology/model``, as summaries print it and ``--prefer`` accepts it."""
        return f"{self.topology}/{self.model}"

    def matches(self, name: str) -> bool:
        """Whether ``name`` (a topology, a model or a ``topology/model`` label) names it."""
        return name in (self.topology, self.model, self.label)


def _recorded_model(trajectory: Trajectory, role: str) -> str | None:
    for call in trajectory.calls:
        if call.role == role and call.model:
            return call.model
    return None


class Systems:
    """The system of each trajectory of one export's input.

    Args:
        trajectories: All the trajectories of the export (the fallback for a run without
            a call of ``role`` looks at the others).
        role: Whose model tells systems apart.
    """

    def __init__(self, trajectories: Iterable[Trajectory], role: str) -> None:
        self.role = role
        self._known: dict[str, set[str]] = defaultdict(set)
        for trajectory in trajectories:
            model = _recorded_model(trajectory, role)
            if model is not None:
                self._known[trajectory.topology].add(model)

    def of(self, trajectory: Trajectory) -> System:
        model = _recorded_model(trajectory, self.role)
        if model is None:
            known = self._known.get(trajectory.topology, set())
            model = next(iter(known)) if len(known) == 1 else UNKNOWN_MODEL
        return System(trajectory.topology, model)
