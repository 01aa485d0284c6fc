"""A plan's types and its validation: a DAG over the capabilities workers offer.

CAMEL's coordinator accepts unknown and cyclic dependency ids and lets tasks wait 600 s;
here a plan is a DAG or it is sent back to the planner with every error found
(:func:`validate_plan`). A plan given by a person (plan review, ``run --plan``) is
checked by the same function.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Protocol

from pydantic import BaseModel, Field

__all__ = ["Plan", "PlanValidationError", "PlannedSubtask", "topological_order", "validate_plan"]


class PlannedSubtask(BaseModel):
    """One step of a plan as the planner (or a person reviewing it) writes it."""

    id: str = Field(description="Short unique id, e.g. 's1'.")
    description: str = Field(description="Self-contained instruction a worker can act on alone.")
    capabilities: list[str] = Field(description="Capability tags the worker needs.")
    depends_on: list[str] = Field(
        default_factory=list, description="Ids of subtasks whose results this one needs."
    )


class Plan(BaseModel):
    """A plan: subtasks forming a DAG through ``depends_on``."""

    subtasks: list[PlannedSubtask]


class _Step(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def capabilities(self) -> list[str]: ...
    @property
    def depends_on(self) -> list[str]: ...


class PlanValidationError(ValueError):
    """The plan is not a usable DAG; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def validate_plan(
    steps: Sequence[_Step],
    *,
    offered_capabilities: Collection[str],
    done_ids: Collection[str] = (),
    max_subtasks: int | None = None,
) -> None:
    """Raise :class:`PlanValidationError` unless ``steps`` form a valid plan.

    Args:
        steps: The planned subtasks.
        offered_capabilities: Capability tags some available worker offers.
        done_ids: Ids of subtasks finished in an earlier plan; steps may depend on them
            but may not reuse their ids.
        max_subtasks: Upper bound on the number of new steps.
    """
    problems: list[str] = []
    if not steps:
        problems.append("the plan has no subtasks; give at least one")
    if max_subtasks is not None and len(steps) > max_subtasks:
        problems.append(f"the plan has {len(steps)} subtasks; at most {max_subtasks} are allowed")
    seen: set[str] = set()
    for step in steps:
        if not step.id.strip():
            problems.append("a subtask has an empty id")
        if step.id in seen:
            problems.append(f"subtask id {step.id!r} is used more than once")
        if step.id in done_ids:
            problems.append(f"subtask id {step.id!r} is already a finished subtask; pick a new id")
        seen.add(step.id)
        if not step.description.strip():
            problems.append(f"subtask {step.id!r} has an empty description")
    known = seen | set(done_ids)
    offered = set(offered_capabilities)
    for step in steps:
        for dep in step.depends_on:
            if dep not in known:
                problems.append(f"subtask {step.id!r} depends on unknown id {dep!r}")
            if dep == step.id:
                problems.append(f"subtask {step.id!r} depends on itself")
        if not step.capabilities:
            problems.append(f"subtask {step.id!r} names no capability")
        for tag in step.capabilities:
            if tag not in offered:
                problems.append(
                    f"subtask {step.id!r} needs capability {tag!r}, which no available worker "
                    f"offers (offered: {', '.join(sorted(offered))})"
                )
    if not problems:
        try:
            topological_order({s.id: [d for d in s.depends_on if d in seen] for s in steps})
        except CycleError as exc:
            cycle = " -> ".join(str(n) for n in exc.args[1])
            problems.append(f"the dependencies form a cycle: {cycle}")
    if problems:
        raise PlanValidationError(problems)


def topological_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Ids ordered so that each comes after its dependencies (stable for equal ranks).

    Raises:
        graphlib.CycleError: If the dependencies form a cycle.
    """
    position = {node: i for i, node in enumerate(depends_on)}
    sorter: TopologicalSorter[str] = TopologicalSorter(
        {n: [d for d in deps if d in position] for n, deps in depends_on.items()}
    )
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(ready)
        sorter.done(*ready)
    return order
