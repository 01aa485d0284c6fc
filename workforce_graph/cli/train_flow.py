"""``workforce-graph train flow-grpo``: Flow-GRPO on exported rows, or on-policy in a
topology (rollouts, scores, an update, per iteration)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workforce_graph.cli.options import Debug, Json
from workforce_graph.cli.train_common import (
    Base,
    BatchSize,
    DeviceOpt,
    Epochs,
    GradAccum,
    KeepCheckpoints,
    Lora,
    LoraR,
    Lr,
    MaxLength,
    MaxSteps,
    Out,
    Quiet,
    Resume,
    SaveSteps,
    Seed,
    checkpoint_hint,
    guard_training,
    loop_hint,
    say_interrupted,
    summary_text,
    train_options,
)
from workforce_graph.cli.train_config import Config, as_given, save_config, set_apart
from workforce_graph.topologies import TOPOLOGIES
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS, FlowGrpoLoss
from workforce_graph.training.flow_loop import FlowGrpoLoop
from workforce_graph.training.options import TrainOptions
from workforce_graph.training.served_policy import SERVER_KINDS

if TYPE_CHECKING:
    from workforce_graph.training.flow_loop import IterationReport

__all__ = ["flow_grpo"]

_TRAIN = TrainOptions()
_GRPO = FLOW_GRPO_DEFAULTS
_GRPO_LOSS = FlowGrpoLoss()
_LOOP = FlowGrpoLoop()
_ON_POLICY = "On-policy loop (--dataset)"
_TOPOLOGY_NAMES = " or ".join(sorted(TOPOLOGIES))
# The loop's settings that are CLI options of the same name (only with --dataset).
_LOOP_NAMES = (
    *("iterations", "rollouts", "questions", "temperature", "model", "topology"),
    *("max_turns", "concurrency", "max_new_tokens", "rollout_grammar", "held_out_questions"),
    *("rollout_server", "rollout_base_url", "rollout_model", "off_policy"),
    *("executor", "ray_address", "db"),
)
_SERVED = "Rollouts from a served planner (--dataset)"


def flow_grpo(
    ctx: typer.Context,
    out: Out,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Train once on exported flow-grpo rows (JSONL)."),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="On-policy in the flow: game24, reasoning-gym:TASK, a .jsonl or a GAIA folder.",
            show_default=False,
        ),
    ] = None,
    iterations: Annotated[
        int, typer.Option(min=1, help="On-policy iterations.", rich_help_panel=_ON_POLICY)
    ] = _LOOP.iterations,
    rollouts: Annotated[
        int, typer.Option(min=2, help="Rollouts per question.", rich_help_panel=_ON_POLICY)
    ] = _LOOP.rollouts,
    questions: Annotated[
        int | None,
        typer.Option(
            min=1, help="Use the first N questions.", show_default=False, rich_help_panel=_ON_POLICY
        ),
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Rollout sampling temperature.", rich_help_panel=_ON_POLICY)
    ] = _LOOP.temperature,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model of the other roles (default: local).",
            show_default=False,
            rich_help_panel=_ON_POLICY,
        ),
    ] = None,
    topology: Annotated[
        str, typer.Option(help=f"{_TOPOLOGY_NAMES}.", rich_help_panel=_ON_POLICY)
    ] = _LOOP.topology,
    max_turns: Annotated[
        int,
        typer.Option(
            min=1,
            help="Turns of the flow per rollout (AgentFlow trains with at most 3).",
            rich_help_panel=_ON_POLICY,
        ),
    ] = _LOOP.max_turns,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Rollouts at once.", rich_help_panel=_ON_POLICY)
    ] = _LOOP.concurrency,
    max_new_tokens: Annotated[
        int,
        typer.Option(min=1, help="Tokens a planner reply may take.", rich_help_panel=_ON_POLICY),
    ] = _LOOP.max_new_tokens,
    rollout_grammar: Annotated[
        bool,
        typer.Option(
            help="Decode the planner's rollouts under its decision schema; the update scores "
            "them under the unmasked policy (a biased estimate, see docs/training.md).",
            rich_help_panel=_ON_POLICY,
        ),
    ] = _LOOP.rollout_grammar,
    held_out: Annotated[
        str | None,
        typer.Option(
            help="A dataset the planner answers after each iteration (greedy); its pass@1 "
            "goes into loop.json and the report.",
            show_default=False,
            rich_help_panel=_ON_POLICY,
        ),
    ] = None,
    held_out_questions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Use the first N held-out questions.",
            show_default=False,
            rich_help_panel=_ON_POLICY,
        ),
    ] = None,
    rollout_server: Annotated[
        str | None,
        typer.Option(
            help="Sample the planner from a server: llama-cpp (the loop starts and restarts "
            "llama_cpp.server with each version), vllm (loads each version's LoRA adapter "
            "at --rollout-base-url; needs --lora) or openai (any server; its weights never "
            "change). Default: in this process.",
            show_default=False,
            rich_help_panel=_SERVED,
        ),
    ] = None,
    rollout_base_url: Annotated[
        str | None,
        typer.Option(
            help="The vllm or openai rollout server, http://host:port/v1.",
            show_default=False,
            rich_help_panel=_SERVED,
        ),
    ] = None,
    rollout_model: Annotated[
        str | None,
        typer.Option(
            help="The server's name of the starting model (default: the first it lists).",
            show_default=False,
            rich_help_panel=_SERVED,
        ),
    ] = None,
    off_policy: Annotated[
        bool,
        typer.Option(
            "--off-policy",
            help="Train on rollouts made by an older policy version instead of refusing them.",
            rich_help_panel=_SERVED,
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="Where rollouts run: local, or ray (needs --db postgresql://...).",
            rich_help_panel=_ON_POLICY,
        ),
    ] = _LOOP.executor,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join (ray://host:10001 or auto; default: a local one).",
            show_default=False,
            rich_help_panel=_ON_POLICY,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Checkpointer of the rollouts; with --executor ray a shared postgresql:// DSN.",
            show_default=False,
            rich_help_panel=_ON_POLICY,
        ),
    ] = None,
    base: Base = "local",
    reference: Annotated[
        str | None,
        typer.Option(help="Model the KL term keeps close to (default: --base itself)."),
    ] = None,
    lr: Lr = None,
    epochs: Epochs = None,
    batch_size: BatchSize = _GRPO.batch_size,
    grad_accum: GradAccum = _GRPO.grad_accum,
    max_steps: MaxSteps = _GRPO.max_steps,
    device: DeviceOpt = _GRPO.device,
    lora: Lora = False,
    lora_r: LoraR = _GRPO.lora_r,
    clip: Annotated[
        float, typer.Option(help="Clip range of the ratio (both sides).")
    ] = _GRPO_LOSS.clip_low,
    kl: Annotated[
        float, typer.Option(help="Weight of the KL term (0: none).")
    ] = _GRPO_LOSS.kl_coef,
    save_steps: SaveSteps = _TRAIN.save_steps,
    resume: Resume = False,
    keep_checkpoints: KeepCheckpoints = False,
    # Flow rows hold a whole planner prompt (worker cards, memory): more than SFT's 2048.
    max_length: MaxLength = 4096,
    seed: Seed = _GRPO.seed,
    quiet: Quiet = False,
    json_out: Json = False,
    config: Config = None,
    debug: Debug = False,
) -> None:
    """Flow-GRPO: clipped-ratio policy loss on per-turn advantages (AgentFlow's defaults).

    With --data, one update on exported rows; with --dataset, on-policy in the flow:
    rollouts, scores, an update, per iteration. An interrupted loop continues where it
    stopped when the same command runs again."""
    given = dict(locals())
    on_policy = dataset is not None

    def action() -> str:
        from workforce_graph.folders import output_folder
        from workforce_graph.training.flow_grpo import train_flow_grpo
        from workforce_graph.training.rows import read_rows

        if (data is None) == (dataset is None):
            raise ValueError(
                "pass --data FILE (exported flow-grpo rows) or --dataset SPEC (on-policy)"
            )
        if not on_policy:
            misplaced = [
                as_given(ctx, param)[0]
                for param in ctx.command.params
                if param.name in (*_LOOP_NAMES, "held_out") and set_apart(ctx, param)
            ]
            if misplaced:
                verb = "applies" if len(misplaced) == 1 else "apply"
                raise ValueError(f"{', '.join(misplaced)} only {verb} with --dataset (on-policy)")
        elif resume:
            raise ValueError(
                "--resume is for --data; the on-policy loop always continues where it "
                "stopped: run the same command again"
            )
        options = train_options(FLOW_GRPO_DEFAULTS, given)
        loss = FlowGrpoLoss(clip_low=clip, clip_high=clip, kl_coef=kl)
        save_config(ctx, output_folder(out, holds="the model"))
        if dataset is not None:
            hint = loop_hint(ctx, out)()
            return _on_policy(dataset, out, base, reference, options, loss, given, json_out, hint)
        assert data is not None
        rows = read_rows(data, "flow-grpo")
        result = train_flow_grpo(
            rows, base=base, out=out, options=options, loss=loss, reference=reference
        )
        return summary_text(result, json_out)

    guard_training(debug, action, loop_hint(ctx, out) if on_policy else checkpoint_hint(ctx, out))


def _on_policy(
    dataset: str,
    out: Path,
    base: str,
    reference: str | None,
    options: TrainOptions,
    loss: Any,
    given: dict[str, Any],
    as_json: bool,
    hint: str,
) -> str:
    import asyncio
    from dataclasses import asdict

    from workforce_graph.cli.interrupt import run_interruptibly
    from workforce_graph.evaluation.datasets import load_dataset
    from workforce_graph.training.flow_loop import run_flow_grpo_loop

    if given["topology"] not in TOPOLOGIES:
        raise ValueError(f"--topology must be {_TOPOLOGY_NAMES}, not {given['topology']!r}")
    if given["rollout_server"] not in (None, *SERVER_KINDS):
        raise ValueError(
            f"--rollout-server must be {' or '.join(SERVER_KINDS)}, not {given['rollout_server']!r}"
        )
    loop = FlowGrpoLoop(**{name: given[name] for name in _LOOP_NAMES})
    held_out = load_dataset(given["held_out"]) if given["held_out"] else None
    reports: list[IterationReport] = []

    async def work() -> int:
        try:
            reports.extend(
                await run_flow_grpo_loop(
                    load_dataset(dataset),
                    base=base,
                    out=out,
                    loop=loop,
                    options=options,
                    loss=loss,
                    reference=reference,
                    held_out=held_out,
                    on_iteration=None if as_json else _iteration_line,
                )
            )
        except asyncio.CancelledError:
            # A signal: run_interruptibly exits with 130 or 143 once this line is out.
            say_interrupted(hint)
            raise
        return 0

    run_interruptibly(work())
    if as_json:
        return json.dumps([asdict(r) for r in reports])
    sys.stderr.write(f"figures in {out / 'loop.json'} and {out / 'report.html'}\n")
    return ""


def _iteration_line(report: IterationReport) -> None:
    held_out = (
        ""
        if report.held_out_pass_at_1 is None
        else f", held-out pass@1 {report.held_out_pass_at_1:.3f}"
    )
    stale = f", {report.stale_rollouts} off-policy" if report.stale_rollouts else ""
    sys.stderr.write(
        f"iteration {report.iteration} (policy v{report.policy_version}): "
        f"{report.rollouts} rollouts{stale} "
        f"({report.rollouts_per_min:.1f}/min), pass@1 {report.pass_at_1:.3f}, "
        f"valid decisions {_share(report.valid_decisions)}, {report.rows} rows, "
        f"groups dropped for equal rewards {_share(report.dropped_groups)}, "
        + (
            f"loss {report.losses[0]:.4f} -> {report.losses[-1]:.4f}"
            if report.losses
            else "no update (no group with differing rewards)"
        )
        + held_out
        + "\n"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
