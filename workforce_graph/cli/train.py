"""``workforce-graph train sft|dpo|flow-grpo|gguf``: train the planner, export it.

Each command reads rows (see ``docs/training.md``), trains ``--base`` (``local`` is the
bundled SmolLM2-135M, made trainable once and cached) and saves a plain model
directory that ``--planner-model hf:DIR`` uses; ``train gguf`` writes such a directory as
a GGUF file for ``gguf:FILE``. Errors a user can cause end as one line on stderr and
exit code 2; Ctrl-C and SIGTERM end as one line naming the command that continues (130,
143). Every command writes its figures to ``OUT/loop.json`` and ``OUT/report.html``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer

from workforce_graph.cli.errors import EXIT_INTERRUPTED, CliError
from workforce_graph.cli.options import PROG, Debug, Json, guard
from workforce_graph.cli.train_config import Config, as_given, command_line, save_config, set_apart
from workforce_graph.training.flow_grpo import FLOW_GRPO_DEFAULTS, FlowGrpoLoss
from workforce_graph.training.flow_loop import FlowGrpoLoop
from workforce_graph.training.options import TrainOptions

if TYPE_CHECKING:
    from workforce_graph.training.flow_loop import IterationReport
    from workforce_graph.training.options import TrainResult

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Train the planner: OWL's SFT then DPO, or Flow-GRPO on flow rollouts.",
    no_args_is_help=True,
)

# Every option is declared once, here; its default is the settings dataclass's own.
_TRAIN = TrainOptions()
_GRPO = FLOW_GRPO_DEFAULTS
_GRPO_LOSS = FlowGrpoLoss()
_LOOP = FlowGrpoLoop()
_ON_POLICY = "On-policy loop (--dataset)"

Data = Annotated[Path, typer.Option("--data", help="JSONL file of training rows.")]
Base = Annotated[
    str,
    typer.Option(help="Hugging Face model directory, or 'local' for the bundled SmolLM2-135M."),
]
Out = Annotated[Path, typer.Option("--out", help="Directory for checkpoints and the model.")]
Lr = Annotated[float | None, typer.Option("--lr", help="Learning rate.", show_default=False)]
Epochs = Annotated[float | None, typer.Option(help="Passes over the rows.", show_default=False)]
BatchSize = Annotated[int, typer.Option(min=1, help="Rows per device step.")]
GradAccum = Annotated[int, typer.Option(min=1, help="Steps accumulated per update.")]
MaxSteps = Annotated[int, typer.Option(help="Stop after this many updates (-1: all epochs).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda (bf16 on a GPU).")]
Lora = Annotated[bool, typer.Option("--lora", help="Train a LoRA adapter (merged on save).")]
LoraR = Annotated[int, typer.Option(min=1, help="LoRA rank.")]
SaveSteps = Annotated[
    int,
    typer.Option(
        help="Checkpoint every N updates, for --resume (-1: each epoch; 0: none). A "
        "checkpoint holds the optimizer state too, about 3x the model's size."
    ),
]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume", help="Continue from the last checkpoint in --out (written by --save-steps)."
    ),
]
KeepCheckpoints = Annotated[
    bool,
    typer.Option(
        "--keep-checkpoints",
        help="Keep the checkpoints once training finished (by default they are removed).",
    ),
]
MaxLength = Annotated[int, typer.Option(min=16, help="Tokens per row; longer rows are cut.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar or loss log.")]


_SAME_NAME = (
    *("epochs", "batch_size", "grad_accum", "max_steps", "device", "lora", "lora_r"),
    *("save_steps", "max_length", "seed", "beta", "resume", "keep_checkpoints"),
)
# The loop's settings that are CLI options of the same name (only with --dataset).
_LOOP_NAMES = (
    *("iterations", "rollouts", "questions", "temperature", "model", "topology"),
    *("max_turns", "concurrency", "max_new_tokens", "rollout_grammar", "held_out_questions"),
)


def _options(defaults: TrainOptions, given: dict[str, Any]) -> TrainOptions:
    """The training options from a command's parameters (its ``locals()``)."""
    from dataclasses import replace

    if given["device"] not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {given['device']!r}")
    changes = {name: given[name] for name in _SAME_NAME if given.get(name) is not None}
    if given.get("lr") is not None:
        changes["learning_rate"] = given["lr"]
    return replace(defaults, **changes, lora_alpha=2 * given["lora_r"], progress=not given["quiet"])


def _report(result: TrainResult, as_json: bool) -> str:
    """The JSON summary for stdout with ``--json``; else a line on stderr and nothing."""
    summary = result.summary()
    if as_json:
        return json.dumps(summary)
    seen = (
        f"all {summary['rows']} rows"
        if summary["rows_seen"] >= summary["rows"]
        else f"{summary['rows_seen']} of {summary['rows']} rows"
    )
    sys.stderr.write(
        f"trained on {seen} in {summary['steps']} updates, "
        f"loss {_num(summary['first_loss'])} -> {_num(summary['last_loss'])}, "
        f"{summary['seconds']} s ({summary['tokens_per_s']} tokens/s); model in {result.out}, "
        f"figures in {result.out / 'report.html'}\n"
    )
    return ""


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops training as Ctrl-C does, so both end with the resume line."""

    def stop(signum: int, frame: Any) -> None:
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _guard(debug: bool, action: Callable[[], str], resume_hint: Callable[[], str]) -> None:
    """The CLI's guard, with training's own errors as one-line usage errors.

    Ctrl-C or SIGTERM ends training with one line saying how to resume and the exit code
    130 or 143, never a traceback.
    """
    from workforce_graph.evaluation.runner import EvalError
    from workforce_graph.training.base_model import TRAIN_HINT, BaseModelError
    from workforce_graph.training.options import TrainingError
    from workforce_graph.training.rows import RowFormatError

    def run() -> int:
        try:
            # Training chatter (progress, loss logs, library notices) goes to stderr, so
            # stdout holds only the summary (one JSON object with --json).
            with contextlib.redirect_stdout(sys.stderr), _sigterm_interrupts():
                text = action()
        except KeyboardInterrupt as stopped:
            _say_interrupted(resume_hint())
            return 128 + signal.SIGTERM if isinstance(stopped, _Terminated) else EXIT_INTERRUPTED
        except (BaseModelError, EvalError, RowFormatError, TrainingError, ValueError) as exc:
            raise CliError(str(exc).splitlines()[0]) from exc
        except ImportError as exc:  # a package of the extra broken past the first check
            missing = exc.name or "a training package"
            raise CliError(f"training could not import {missing}: {TRAIN_HINT}") from exc
        if text:
            print(text)
        return 0

    guard(debug, run)


def _say_interrupted(hint: str) -> None:
    _end_progress_bars()
    sys.stderr.write(f"{PROG}: interrupted; {hint}\n")
    sys.stderr.flush()


def _end_progress_bars() -> None:
    """Close the progress bars still open, so that each ends its line before ours."""
    try:
        from tqdm import tqdm
    except ImportError:  # no training packages: no bars either
        return
    for bar in list(getattr(tqdm, "_instances", ())):
        with contextlib.suppress(Exception):  # a bar half torn down by the interruption
            bar.close()


def _checkpoint_hint(ctx: typer.Context, out: Path) -> Callable[[], str]:
    """How to go on after an interrupted one-shot run: --resume if a checkpoint exists."""

    def hint() -> str:
        from workforce_graph.training.model_io import last_checkpoint

        found = last_checkpoint(out)
        if found is None:
            return (
                "no checkpoint was written (--save-steps N writes them), so nothing to resume; "
                f"start over with: {command_line(ctx)}"
            )
        return f"resume from {found.name} with: {command_line(ctx, extra=('--resume',))}"

    return hint


def _loop_hint(ctx: typer.Context, out: Path) -> Callable[[], str]:
    """How to go on after an interrupted on-policy loop: the same command again."""

    def hint() -> str:
        kept = f"finished rollouts and iterations are kept in {out}"
        return f"{kept}; continue with: {command_line(ctx)}"

    return hint


def _owl_stage(kind: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        data: Data,
        out: Out,
        base: Base = "local",
        lr: Lr = None,
        epochs: Epochs = None,
        batch_size: BatchSize = _TRAIN.batch_size,
        grad_accum: GradAccum = _TRAIN.grad_accum,
        max_steps: MaxSteps = _TRAIN.max_steps,
        device: DeviceOpt = _TRAIN.device,
        lora: Lora = False,
        lora_r: LoraR = _TRAIN.lora_r,
        beta: Annotated[float, typer.Option(help="DPO's beta.")] = _TRAIN.beta,
        save_steps: SaveSteps = _TRAIN.save_steps,
        resume: Resume = False,
        keep_checkpoints: KeepCheckpoints = False,
        max_length: MaxLength = _TRAIN.max_length,
        seed: Seed = _TRAIN.seed,
        quiet: Quiet = False,
        json_out: Json = False,
        config: Config = None,
        debug: Debug = False,
    ) -> None:
        given = dict(locals())

        def action() -> str:
            from workforce_graph.folders import output_folder
            from workforce_graph.training.owl_stages import train_dpo, train_sft
            from workforce_graph.training.rows import read_rows

            options = _options(TrainOptions(), given)
            rows = read_rows(data, "sft" if kind == "sft" else "dpo")
            save_config(ctx, output_folder(out, holds="the model"))
            train = train_sft if kind == "sft" else train_dpo
            return _report(train(rows, base=base, out=out, options=options), json_out)

        _guard(debug, action, _checkpoint_hint(ctx, out))

    command.__doc__ = (
        "Supervised fine-tuning on prompt/completion (or messages) rows; OWL's defaults."
        if kind == "sft"
        else "DPO on prompt/chosen/rejected rows; OWL's defaults (lr 1e-5, 2 epochs)."
    )
    return command


train_app.command("sft")(_owl_stage("sft"))
train_app.command("dpo")(_owl_stage("dpo"))


@train_app.command("flow-grpo")
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
        str, typer.Option(help="flow or workforce.", rich_help_panel=_ON_POLICY)
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
        options = _options(FLOW_GRPO_DEFAULTS, given)
        loss = FlowGrpoLoss(clip_low=clip, clip_high=clip, kl_coef=kl)
        save_config(ctx, output_folder(out, holds="the model"))
        if dataset is not None:
            hint = _loop_hint(ctx, out)()
            return _on_policy(dataset, out, base, reference, options, loss, given, json_out, hint)
        assert data is not None
        rows = read_rows(data, "flow-grpo")
        result = train_flow_grpo(
            rows, base=base, out=out, options=options, loss=loss, reference=reference
        )
        return _report(result, json_out)

    _guard(debug, action, _loop_hint(ctx, out) if on_policy else _checkpoint_hint(ctx, out))


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

    if given["topology"] not in ("flow", "workforce"):
        raise ValueError(f"--topology must be flow or workforce, not {given['topology']!r}")
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
            _say_interrupted(hint)
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
    sys.stderr.write(
        f"iteration {report.iteration}: {report.rollouts} rollouts "
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


@train_app.command("gguf")
def gguf(
    ctx: typer.Context,
    model: Annotated[
        Path, typer.Argument(help="A trained model directory (trained from --base local).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The GGUF file to write.")],
    template: Annotated[
        Path | None,
        typer.Option(
            help="GGUF whose tokenizer and settings to copy (default: the bundled model).",
            show_default=False,
        ),
    ] = None,
    dtype: Annotated[str, typer.Option(help="f16 or f32 weights (norms stay f32).")] = "f16",
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    """Export a trained planner to GGUF, for --planner-model gguf:FILE (constrained decoding)."""

    def action() -> str:
        from workforce_graph.training.gguf_export import export_gguf

        # export_gguf checks the value before it reads or writes anything.
        written = export_gguf(
            model, out, template=template, dtype=cast(Literal["f16", "f32"], dtype)
        )
        size_mb = round(written.stat().st_size / 1e6, 1)
        if as_json:
            return json.dumps({"gguf": str(written), "size_mb": size_mb})
        return f"wrote {written} ({size_mb} MB); use it with --planner-model gguf:{written}"

    _guard(
        debug,
        action,
        lambda: f"the export did not finish and wrote nothing; run again with: {command_line(ctx)}",
    )
