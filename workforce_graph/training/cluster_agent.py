"""The flow as the agent of a cluster engine: one rollout, its planner turns, its advantage.

A rollout runs the flow topology on one task with its planner pointed at the engine
(through an :class:`~workforce_graph.training.engine_proxy.EngineProxy`, which records
each planner turn's tokens) and every other role on its own model, and is scored by the
evaluation's scorer, as the in-process loop's rollouts are. Its planner turns are the
planner's decisions in the recorded trajectory, each matched to the engine turn that
produced it; the other roles' calls are never trained. A group is one task's rollouts;
each rollout gets one advantage, its reward normalised over the group by
:func:`~workforce_graph.exports.flow_grpo.normalised` (the in-process loop's function),
shared by every one of its planner turns. A group whose rewards do not vary has no
advantage and is dropped, as the in-process loop drops it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workforce_graph.evaluation.datasets.base import EvalDataset, EvalTask
from workforce_graph.exports.flow_grpo import normalised
from workforce_graph.training.engine_proxy import CaptureError, EngineProxy, EngineTurn
from workforce_graph.trajectory.format import Trajectory

__all__ = [
    "POLICY_NAME",
    "AgentRollout",
    "FlowAgent",
    "PlannerTurn",
    "group_advantages",
    "group_rows",
    "select_planner_turns",
]

POLICY_NAME = "policy"
"""The planner's model name in the trajectories: the engine's own name is the proxy's."""


@dataclass(frozen=True)
class PlannerTurn:
    """A planner decision of a rollout and the engine turn that sampled it."""

    turn: int
    """The flow's turn number."""
    call_index: int
    """Its model call's ``index`` in the trajectory."""
    engine: EngineTurn


@dataclass
class AgentRollout:
    """One finished rollout: its reward and the planner turns to train."""

    task_id: str
    rollout_id: str
    reward: float
    """The evaluation's score: 1.0 right, 0.0 wrong or incomplete."""
    trajectory: Trajectory
    """The recorded run, scored (its ``outcome`` set)."""
    planner_turns: list[PlannerTurn] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class FlowAgent:
    """Runs the flow on one task with the planner on the engine.

    Args:
        dataset: The tasks and their scorer.
        model: Model of every other role (default: the project's default, ``local``).
        base_url: An OpenAI-compatible server for the other roles' model names.
        max_turns: Turns of the flow per rollout (AgentFlow trains with at most 3).
        graph_options: Further keywords of the flow's factory (they win).
        timeout_s: One rollout's limit; a rollout cut there is scored as wrong.
        call_timeout_s: One planner request's limit.
        model_factory: Builds the other roles' model (tests, custom models).
        workers_factory: Builds the workers (default: the installed plugins).
    """

    dataset: EvalDataset
    model: str | None = None
    base_url: str | None = None
    max_turns: int = 3
    graph_options: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 600.0
    call_timeout_s: float = 300.0
    model_factory: Callable[[], Any] | None = None
    workers_factory: Callable[[], Any] | None = None

    def graph(self, planner_url: str) -> Any:
        """The compiled flow graph whose planner asks ``planner_url``."""
        from langgraph.checkpoint.memory import InMemorySaver

        from workforce_graph.flow.graph import build_flow_graph
        from workforce_graph.models import resolve_model

        # A client retry would ask the engine again: two samples, one of them unused.
        planner = resolve_model(
            POLICY_NAME, base_url=planner_url, timeout_s=self.call_timeout_s, max_retries=0
        )
        options: dict[str, Any] = {"max_turns": self.max_turns, **self.graph_options}
        if self.workers_factory is not None:
            options["workers"] = self.workers_factory()
        model = self.model_factory() if self.model_factory is not None else self.model
        built = build_flow_graph(
            model=model, role_models={"planner": planner}, base_url=self.base_url, **options
        )
        return built.compile(checkpointer=InMemorySaver())

    async def rollout(
        self, task: EvalTask, proxy: EngineProxy, *, sample: int = 0, rollout_id: str | None = None
    ) -> AgentRollout:
        """Run ``task`` once through the flow, the planner on ``proxy``; score it.

        Raises:
            CaptureError: A planner decision has no recorded engine turn.
        """
        from workforce_graph.evaluation.runner import score_run
        from workforce_graph.evaluation.unit import UnitSpec, run_unit

        rollout_id = rollout_id or uuid.uuid4().hex
        unit = UnitSpec(
            task_id=task.task_id,
            sample=sample,
            question=task.question,
            files=task.files,
            answer_format=self.dataset.answer_format,
            thread_id=rollout_id,
            meta={"task_id": task.task_id, "dataset": self.dataset.name, "family": task.family},
        )
        url = proxy.open(rollout_id)
        try:
            run = await run_unit(self.graph(url), unit, topology="flow", timeout_s=self.timeout_s)
        finally:
            recorded = proxy.take(rollout_id)
        _, trajectory = score_run(self.dataset, task, run)
        reward = trajectory.outcome.score if trajectory.outcome is not None else 0.0
        return AgentRollout(
            task_id=task.task_id,
            rollout_id=rollout_id,
            reward=float(reward),
            trajectory=trajectory,
            planner_turns=select_planner_turns(trajectory, recorded),
        )


def _prompt_key(messages: Sequence[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(m.get("role"), m.get("content")) for m in messages]


def select_planner_turns(
    trajectory: Trajectory, recorded: Sequence[EngineTurn], *, role: str = "planner"
) -> list[PlannerTurn]:
    """The planner turns of ``trajectory``, each with the engine turn that sampled it.

    The turns are the planner's decisions (:meth:`Trajectory.decisions`: the calls whose
    output the run used, as the in-process export takes them); calls of other roles and
    rejected planner replies are left out. Each is matched, in order, to the recorded
    engine turn with the same prompt and reply; recorded turns no decision used (a reply
    the run rejected) stay untrained.

    Raises:
        CaptureError: A decision with no recorded turn: the planner was not served by
            the engine proxy, so its tokens are unknown.
    """
    selected: list[PlannerTurn] = []
    position = 0
    for index, call in enumerate(trajectory.decisions(role)):
        wanted = _prompt_key(call.messages)
        for at in range(position, len(recorded)):
            engine = recorded[at]
            if engine.text == call.text and _prompt_key(engine.messages) == wanted:
                turn = call.turn if call.turn is not None else index
                selected.append(PlannerTurn(turn=turn, call_index=call.index, engine=engine))
                position = at + 1
                break
        else:
            raise CaptureError(
                f"{role} turn {call.turn} of rollout {trajectory.trajectory_id} has no "
                "recorded tokens: point the planner at the engine proxy"
            )
    return selected


def group_advantages(rewards: Sequence[float]) -> list[float] | None:
    """One advantage per rollout: its reward normalised over the group (sample std +
    1e-6, as the in-process loop and verl); ``None`` when the rewards do not vary."""
    population = [float(r) for r in rewards]
    if len(set(population)) < 2:
        return None
    return [normalised(reward, population) for reward in population]


def group_rows(rollouts: Sequence[AgentRollout]) -> list[dict[str, Any]]:
    """The flow-grpo rows of one task's rollouts: one per planner turn, the rollout's
    advantage on each (none when the group's rewards do not vary).

    The prompt is what the engine was sent and the completion what it sampled, so a
    reply the model wrote as canonical JSON agrees with the in-process export's row
    (which re-serialises the parsed object).

    Raises:
        ValueError: The rollouts are not all of one task.
    """
    tasks = {rollout.task_id for rollout in rollouts}
    if len(tasks) > 1:
        raise ValueError(f"a group is one task's rollouts, not {sorted(tasks)}")
    advantages = group_advantages([rollout.reward for rollout in rollouts])
    if advantages is None:
        return []
    return [
        {
            "group_id": rollout.task_id,
            "trajectory_id": rollout.trajectory.trajectory_id,
            "turn": turn.turn,
            "prompt": turn.engine.messages,
            "completion": [{"role": "assistant", "content": turn.engine.text}],
            "reward": rollout.reward,
            "advantage": advantage,
        }
        for rollout, advantage in zip(rollouts, advantages, strict=True)
        for turn in rollout.planner_turns
    ]
