"""Flow-GRPO on-policy, in the flow: roll out, score, build rows, update, repeat.

Each iteration runs the dataset's questions ``rollouts`` times through the flow topology
with the current planner (``hf:`` with sampling, by default under the decision schema's
grammar; the other roles keep their models), scores every run with the evaluation's
scorer (the recorder writes the trajectories), turns them into flow-grpo rows (the
outcome broadcast to every planner turn, advantages normalised within each question's
group; groups whose rewards do not vary are dropped and counted) and updates the planner
with :func:`~workforce_graph.training.flow_grpo.train_flow_grpo`, the KL term holding it
near the reference (the starting model unless another is given). An iteration whose
groups all had equal rewards has no signal: the planner is kept and the report says so.
With a held-out dataset, the planner after each iteration answers it once (greedy).

With ``rollout_server`` the planner is sampled from a server kept on the current policy
version (:mod:`~workforce_graph.training.policy_sync`); each rollout records its version,
rollouts of an older one are refused unless ``off_policy``, and the rows train on the
token ids the server sampled where it gave them. The rollouts run ``concurrency`` at once,
here or on Ray (:mod:`~workforce_graph.training.rollout_pool`); a failing rollout server
fails the iteration, keeping what finished.

Every iteration lives in ``OUT/iter-K/`` (``rollouts/`` and ``held-out/`` are resumable
evaluations, ``model/`` the updated planner, finished once its ``training.json`` is
written), so an interrupted loop continues where it stopped: finished rollouts are kept
and trained iterations are not trained again. ``OUT/loop.json`` and ``OUT/report.html``
hold every iteration's figures (:mod:`workforce_graph.training.progress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from workforce_graph.folders import output_folder
from workforce_graph.topologies import get_topology
from workforce_graph.training.base_model import resolve_base_model
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS, FlowGrpoLoss, train_flow_grpo
from workforce_graph.training.iteration_report import (
    IterationReport,
    earlier_reports,
    export_rows,
    report_detail,
    score_rollouts,
)
from workforce_graph.training.model_io import quiet_libraries
from workforce_graph.training.options import TrainOptions
from workforce_graph.training.policy_sync import ADAPTER_DIR, PolicySync, check_versions
from workforce_graph.training.progress import LOOP_FILE, ProgressLog
from workforce_graph.training.rollout_pool import Executor, RolloutPool
from workforce_graph.training.served_policy import ServedPolicy, ServerKind

__all__ = ["FlowGrpoLoop", "IterationReport", "run_flow_grpo_loop"]


@dataclass(frozen=True, kw_only=True)
class FlowGrpoLoop:
    """The on-policy loop's settings (AgentFlow: 8 rollouts, temperature 0.7, 3 turns)."""

    iterations: int = 2
    rollouts: int = 8
    """Runs per question each iteration (the group of its advantages)."""
    questions: int | None = None
    """Use the first N questions of the dataset (all by default)."""
    temperature: float = 0.7
    max_new_tokens: int = 512
    topology: str = "flow"
    """A name in :data:`~workforce_graph.topologies.TOPOLOGIES`."""
    model: str | None = None
    """Model of every other role (default: the project's default, ``local``)."""
    max_turns: int = 3
    """Turns of the flow per rollout; AgentFlow trains with at most 3 (``graph_options``
    may still set ``max_turns``, and wins)."""
    concurrency: int = 1
    """Rollouts at once."""
    timeout_s: float = 600.0
    normalise: str = "trajectories"
    rollout_grammar: bool = True
    """Decode the planner's rollouts under its decision schema (``hf:DIR?constrained=1``).

    The samples then come from the policy renormalised over the tokens the grammar allows,
    while the update scores them under the unmasked policy: a biased, off-policy estimate
    (docs/training.md, "Rollouts under the grammar"). Without it, an untrained planner's
    decisions rarely parse, every rollout fails alike and no group has a signal."""
    held_out_questions: int | None = None
    """Use the first N questions of the held-out dataset (all by default)."""
    graph_options: dict[str, Any] = field(default_factory=dict)
    """Keywords of the topology's factory (``max_replans``, ...)."""
    model_factory: Callable[[], Any] | None = None
    """Builds the other roles' model in the process that runs (as in ``GraphSpec``)."""
    workers_factory: Callable[[], Any] | None = None
    rollout_server: ServerKind | None = None
    """Sample the planner from a server (:mod:`~workforce_graph.training.served_policy`):
    ``llama-cpp`` (started by the loop), ``vllm`` or ``openai`` (at ``rollout_base_url``);
    ``None``: in this process (``hf:``)."""
    rollout_base_url: str | None = None
    rollout_model: str | None = None
    """The served name of the starting model (default: the first the server lists)."""
    off_policy: bool = False
    """Train on rollouts of an older policy version instead of refusing them."""
    executor: Executor = "local"
    """``ray``: rollouts on Ray workers (needs ``db``, a PostgreSQL checkpointer)."""
    ray_address: str | None = None
    db: str | None = None

    def __post_init__(self) -> None:
        get_topology(self.topology)  # an unknown name fails here, naming the known ones
        if self.iterations < 1 or self.rollouts < 2:
            raise ValueError("iterations must be >= 1 and rollouts >= 2 (advantages need a group)")
        if self.max_turns < 1 or self.concurrency < 1:
            raise ValueError("max_turns and concurrency must be >= 1")
        self.pool()  # checks the executor's settings
        if self.rollout_base_url and self.rollout_server is None:
            raise ValueError("--rollout-base-url needs --rollout-server vllm or openai")

    def pool(self) -> RolloutPool:
        """Where the rollouts run and how many at once."""
        return RolloutPool(
            concurrency=self.concurrency,
            executor=self.executor,
            ray_address=self.ray_address,
            db=self.db,
        )

    def planner(self, policy: str, *, sampling: bool = True) -> str:
        """The planner's model spec: ``policy`` under ``hf:``, sampling or greedy."""
        temperature = self.temperature if sampling else 0
        return (
            f"hf:{policy}?temperature={temperature}&max_new_tokens={self.max_new_tokens}"
            f"&constrained={int(self.rollout_grammar)}"
        )

    def options_of_graph(self) -> dict[str, Any]:
        """The topology's keywords: ``max_turns`` for the flow, then ``graph_options``."""
        turns = {"max_turns": self.max_turns} if get_topology(self.topology).turn_by_turn else {}
        return {**turns, **self.graph_options}

    def describe(self) -> dict[str, Any]:
        """The settings as JSON values (a factory by its name)."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if callable(value):
                value = getattr(value, "__qualname__", repr(value))
            out[item.name] = value
        return out


async def run_flow_grpo_loop(
    dataset: Any,
    *,
    base: str,
    out: str | Path,
    loop: FlowGrpoLoop | None = None,
    options: TrainOptions | None = None,
    loss: FlowGrpoLoss | None = None,
    reference: str | None = None,
    held_out: Any = None,
    on_iteration: Callable[[IterationReport], None] | None = None,
    on_rollout: Callable[[dict[str, Any]], None] | None = None,
) -> list[IterationReport]:
    """Run ``loop.iterations`` Flow-GRPO iterations on ``dataset`` starting from ``base``.

    Args:
        dataset: An evaluation dataset (``workforce_graph.evaluation.load_dataset``).
        base: The starting planner: ``local`` or a model directory.
        out: Folder of the loop (``iter-K/rollouts``, ``iter-K/model``, ``loop.json``).
        loop: Rollout settings.
        options: Update settings (default: AgentFlow's, lr 1e-6); ``progress`` also
            shows a bar over each iteration's rollouts.
        loss: Clip and KL settings.
        reference: The model the KL term keeps the planner near (default: ``base``).
        held_out: An evaluation dataset the planner answers after each iteration
            (greedy, one run a question); its pass@1 is reported. ``None``: none.
        on_iteration: Called with each iteration's report as it ends.
        on_rollout: Called with each finished rollout's result row.

    Returns:
        One report per iteration.
    """
    from workforce_graph.trajectory.format import read_trajectories

    loop = loop or FlowGrpoLoop()
    options = options or FLOW_GRPO_DEFAULTS
    folder = output_folder(out, holds="the training loop")
    start = str(resolve_base_model(base))
    kl_reference = str(resolve_base_model(reference)) if reference else start
    earlier = earlier_reports(folder / LOOP_FILE)
    log = ProgressLog(
        folder,
        kind="flow-grpo loop",
        unit="iteration",
        settings={
            "dataset": getattr(dataset, "name", str(dataset)),
            "held_out": getattr(held_out, "name", None) if held_out is not None else None,
            "base": start,
            "reference": kl_reference,
            **loop.describe(),
            "update": asdict(options),
            "loss": asdict(loss or FlowGrpoLoss()),
        },
    )
    if loop.rollout_server == "vllm" and not options.lora:
        raise ValueError("--rollout-server vllm needs --lora: vLLM loads LoRA adapters at runtime")
    policy = start
    version = 0  # updates behind the planner
    judged: dict[str, float] = {}  # held-out pass@1 by planner: an unchanged one is not rerun
    reports: list[IterationReport] = []
    sync = _policy_sync(loop, folder)
    # The planner's loading bars and the libraries' notices would drown the loop's own.
    with quiet_libraries(), contextlib.ExitStack() as stack:
        if sync is not None:
            stack.callback(sync.close)  # the server the loop started never outlives it
        for iteration in range(1, loop.iterations + 1):
            here = folder / f"iter-{iteration}"
            label = f"iteration {iteration}/{loop.iterations}"
            started = time.perf_counter()
            served = sync.serve(version, policy) if sync is not None else None
            summary, ran = await _evaluate(
                dataset,
                loop,
                here / "rollouts",
                planner=loop.planner(policy),
                served=served,
                version=served.version if served is not None else version,
                samples=loop.rollouts,
                limit=loop.questions,
                label=f"{label}: rollouts",
                progress=options.progress,
                on_result=on_rollout,
            )
            report = IterationReport(
                iteration=iteration,
                policy=policy,
                rollouts=int(summary.get("runs", 0)),
                pass_at_1=float(summary.get("pass@1", 0.0)),
                rollout_s=time.perf_counter() - started,
                rollouts_run=ran,
                policy_version=version,
            )
            before = earlier.get(iteration, {})
            if not ran and before:  # every rollout was kept: keep how long they took too
                report.rollout_s = float(before.get("rollout_s", report.rollout_s))
                report.rollouts_run = int(before.get("rollouts_run", 0))
            trajectories = list(read_trajectories([here / "rollouts"]))
            report.stale_rollouts = check_versions(
                trajectories, iteration=iteration, version=version, off_policy=loop.off_policy
            )
            score_rollouts(report, trajectories)
            rows = export_rows(
                report,
                trajectories,
                normalise=loop.normalise,
                served=loop.rollout_server is not None,
            )
            # Recorded before the update too: an update takes long, and a start after an
            # interruption in it reads how long these rollouts took from here.
            log.record(
                (r.figures() for r in [*reports, report]),
                [report_detail(r) for r in [*reports, report]],
            )
            done = here / "model" / "training.json"
            if done.is_file():  # this iteration was trained before an interruption
                trained = json.loads(done.read_text(encoding="utf-8"))
                report.losses = [float(x) for x in trained.get("losses", [])]
                report.kl = [float(e["kl"]) for e in trained.get("history", []) if "kl" in e]
                report.train_s = float(before.get("train_s", 0.0))
                policy = report.updated = str(here / "model")
                version += 1
            elif report.rows:
                started = time.perf_counter()
                # vLLM serves the start with each version's adapter: go on training it.
                adapter = loop.rollout_server == "vllm" and version > 0
                result = await _update(
                    rows,
                    base=start if adapter else policy,
                    out=here / "model",
                    options=options,
                    loss=loss,
                    reference=kl_reference,
                    adapter=str(Path(policy) / ADAPTER_DIR) if adapter else None,
                )
                report.losses, report.train_s = result.losses, time.perf_counter() - started
                report.kl = [entry["kl"] for entry in result.history if "kl" in entry]
                policy = report.updated = str(result.out)
                version += 1
            if held_out is not None:
                if policy not in judged:
                    scored, _ = await _evaluate(
                        held_out,
                        loop,
                        here / "held-out",
                        planner=loop.planner(policy, sampling=False),
                        version=version,
                        samples=1,
                        limit=loop.held_out_questions,
                        label=f"{label}: held-out",
                        progress=options.progress,
                    )
                    judged[policy] = float(scored.get("pass@1", 0.0))
                report.held_out_pass_at_1 = judged[policy]
            reports.append(report)
            log.record((r.figures() for r in reports), [report_detail(r) for r in reports])
            if on_iteration is not None:
                on_iteration(report)
    return reports


async def _evaluate(
    dataset: Any,
    loop: FlowGrpoLoop,
    folder: Path,
    *,
    planner: str,
    samples: int,
    limit: int | None,
    label: str,
    progress: bool,
    served: ServedPolicy | None = None,
    version: int = 0,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """Run (or finish) one evaluation with ``planner`` (or the ``served`` one); its
    summary and the runs it ran."""
    from workforce_graph.training.rollout_pool import ServedGraphSpec, run_rollouts

    graph = ServedGraphSpec(
        topology=loop.topology,
        model=loop.model,
        role_models={"planner": served.label if served is not None else planner},
        options=loop.options_of_graph(),
        model_factory=loop.model_factory,
        workers_factory=loop.workers_factory,
        served=served,
    )
    return await run_rollouts(
        dataset,
        graph,
        folder,
        samples=samples,
        limit=limit,
        pool=loop.pool(),
        policy_version=version,
        timeout_s=loop.timeout_s,
        label=label,
        progress=progress,
        on_result=on_result,
    )


def _policy_sync(loop: FlowGrpoLoop, folder: Path) -> PolicySync | None:
    """The rollout server's keeper, or ``None`` for a planner in this process."""
    if loop.rollout_server is None:
        return None
    return PolicySync(
        loop.rollout_server,
        folder,
        base_url=loop.rollout_base_url,
        base_name=loop.rollout_model,
        off_policy=loop.off_policy,
        temperature=loop.temperature,
        max_tokens=loop.max_new_tokens,
        grammar=loop.rollout_grammar,
        # Within the run's own limit, so a server that stops answering is seen as one
        # (a timed-out request, with its retry) rather than as a run that timed out.
        timeout_s=loop.timeout_s / 3,
    )


async def _update(
    rows: list[dict[str, Any]],
    *,
    base: str,
    out: Path,
    options: TrainOptions,
    loss: FlowGrpoLoss | None,
    reference: str,
    adapter: str | None = None,
) -> Any:
    """The update, in a thread so the event loop still answers a stop signal.

    Cancelled (a signal, or the caller's task), the thread stops at the end of its
    current step instead of finishing the update: no ``training.json`` is written, so
    the next start trains this iteration again from its rollouts.
    """
    stop = threading.Event()
    try:
        return await asyncio.to_thread(
            train_flow_grpo,
            rows,
            base=base,
            out=out,
            options=options,
            loss=loss,
            reference=reference,
            stop=stop,
            adapter=adapter,
        )
    except asyncio.CancelledError:
        stop.set()
        raise
