"""Flow-GRPO on-policy, in the flow: roll out, score, build rows, update, repeat.

Each iteration runs the dataset's questions ``rollouts`` times through the flow topology
with the current planner (``hf:`` with sampling; the other roles keep their models),
scores every run with the evaluation's scorer (the recorder writes the trajectories),
turns them into flow-grpo rows (the outcome broadcast to every planner turn, advantages
normalised within each question's group; groups whose rewards do not vary are dropped
and counted) and updates the planner with
:func:`~workforce_graph.training.flow_grpo.train_flow_grpo`, the KL term holding it
near the starting model. An iteration whose groups all had equal rewards has no signal:
the planner is kept and the report says so.

Every iteration lives in ``OUT/iter-K/`` (``rollouts/`` is a resumable evaluation,
``model/`` the updated planner), so an interrupted loop continues where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workforce_graph.folders import output_folder
from workforce_graph.training.base_model import resolve_base_model
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS, FlowGrpoLoss, train_flow_grpo
from workforce_graph.training.options import TrainOptions

__all__ = ["FlowGrpoLoop", "IterationReport", "run_flow_grpo_loop"]


@dataclass(frozen=True, kw_only=True)
class FlowGrpoLoop:
    """The on-policy loop's settings (AgentFlow: 8 rollouts, train temperature 0.7)."""

    iterations: int = 2
    rollouts: int = 8
    """Runs per question each iteration (the group of its advantages)."""
    questions: int | None = None
    """Use the first N questions of the dataset (all by default)."""
    temperature: float = 0.7
    max_new_tokens: int = 512
    topology: str = "flow"
    model: str | None = None
    """Model of every other role (default: the project's default, ``local``)."""
    concurrency: int = 1
    timeout_s: float = 600.0
    normalise: str = "trajectories"
    graph_options: dict[str, Any] = field(default_factory=dict)
    """Keywords of the topology's factory (``max_turns``, ...)."""
    model_factory: Callable[[], Any] | None = None
    """Builds the other roles' model in the process that runs (as in ``GraphSpec``)."""
    workers_factory: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.rollouts < 2:
            raise ValueError("iterations must be >= 1 and rollouts >= 2 (advantages need a group)")


@dataclass
class IterationReport:
    iteration: int
    policy: str
    """The planner that made this iteration's rollouts."""
    rollouts: int
    pass_at_1: float
    rollout_s: float
    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    train_s: float = 0.0
    updated: str | None = None
    """The planner after the update; ``None`` when there was no signal to learn from."""

    @property
    def rollouts_per_min(self) -> float:
        return 60.0 * self.rollouts / self.rollout_s if self.rollout_s else 0.0


async def run_flow_grpo_loop(
    dataset: Any,
    *,
    base: str,
    out: str | Path,
    loop: FlowGrpoLoop | None = None,
    options: TrainOptions | None = None,
    loss: FlowGrpoLoss | None = None,
    on_iteration: Callable[[IterationReport], None] | None = None,
) -> list[IterationReport]:
    """Run ``loop.iterations`` Flow-GRPO iterations on ``dataset`` starting from ``base``.

    Args:
        dataset: An evaluation dataset (``workforce_graph.evaluation.load_dataset``).
        base: The starting planner: ``local`` or a model directory; also the reference.
        out: Folder of the loop (``iter-K/rollouts``, ``iter-K/model``, ``loop.json``).
        loop: Rollout settings.
        options: Update settings (default: AgentFlow's, lr 1e-6).
        loss: Clip and KL settings.
        on_iteration: Called with each iteration's report as it ends.

    Returns:
        One report per iteration.
    """
    from workforce_graph.evaluation.graphs import GraphSpec
    from workforce_graph.evaluation.runner import Evaluation
    from workforce_graph.exports.flow_grpo import flow_grpo_rows
    from workforce_graph.trajectory.format import read_trajectories

    loop = loop or FlowGrpoLoop()
    folder = output_folder(out, holds="the training loop")
    reference = str(resolve_base_model(base))
    policy = reference
    reports: list[IterationReport] = []
    for iteration in range(1, loop.iterations + 1):
        here = folder / f"iter-{iteration}"
        # Unconstrained: the rows' log-probabilities are the policy's own, so the samples
        # must come from that distribution and not from one masked by a grammar.
        planner = (
            f"hf:{policy}?temperature={loop.temperature}&max_new_tokens={loop.max_new_tokens}"
            "&constrained=0"
        )
        evaluation = Evaluation(
            dataset=dataset,
            graph=GraphSpec(
                topology=loop.topology,  # type: ignore[arg-type]
                model=loop.model,
                role_models={"planner": planner},
                options=dict(loop.graph_options),
                model_factory=loop.model_factory,
                workers_factory=loop.workers_factory,
            ),
            out_dir=here / "rollouts",
            samples=loop.rollouts,
            limit=loop.questions,
            concurrency=loop.concurrency,
            timeout_s=loop.timeout_s,
        )
        started = time.perf_counter()
        summary = await evaluation.run()
        report = IterationReport(
            iteration=iteration,
            policy=policy,
            rollouts=int(summary.get("runs", summary.get("total", 0) * loop.rollouts)),
            pass_at_1=float(summary.get("pass@1", 0.0)),
            rollout_s=time.perf_counter() - started,
        )
        export = flow_grpo_rows(
            read_trajectories([here / "rollouts"]),
            normalise=loop.normalise,  # type: ignore[arg-type]
        )
        report.rows, report.dropped = len(export.rows), dict(export.dropped)
        done = here / "model" / "training.json"
        if done.is_file():  # this iteration was trained before an interruption
            trained = json.loads(done.read_text(encoding="utf-8"))
            report.losses = [float(x) for x in trained.get("losses", [])]
            policy = report.updated = str(here / "model")
        elif export.rows:
            started = time.perf_counter()
            result = train_flow_grpo(
                export.rows,
                base=policy,
                out=here / "model",
                options=options or FLOW_GRPO_DEFAULTS,
                loss=loss,
                reference=reference,
            )
            report.losses, report.train_s = result.losses, time.perf_counter() - started
            policy = report.updated = str(result.out)
        reports.append(report)
        (folder / "loop.json").write_text(
            json.dumps([asdict(r) for r in reports], indent=2) + "\n", encoding="utf-8"
        )
        if on_iteration is not None:
            on_iteration(report)
    return reports
