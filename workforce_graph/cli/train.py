"""``workforce-graph train sft|dpo|flow-grpo|gguf``: train the planner, export it.

Each command reads rows (see ``docs/training.md``), trains ``--base`` (``local`` is the
bundled SmolLM2-135M, made trainable once and cached) and saves a plain model
directory that ``--planner-model hf:DIR`` uses; ``train gguf`` writes such a directory as
a GGUF file for ``gguf:FILE``. Errors a user can cause end as one line on stderr and
exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.options import Debug, Json, guard

if TYPE_CHECKING:
    from workforce_graph.training.options import TrainOptions, TrainResult

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Train the planner: OWL's SFT then DPO, or Flow-GRPO on flow rollouts.",
    no_args_is_help=True,
)

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
    int, typer.Option(help="Checkpoint every N updates (-1: each epoch; 0: never).")
]
MaxLength = Annotated[int, typer.Option(min=16, help="Tokens per row; longer rows are cut.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar or loss log.")]


_SAME_NAME = (
    *("epochs", "batch_size", "grad_accum", "max_steps", "device", "lora", "lora_r"),
    *("save_steps", "max_length", "seed", "beta"),
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
    sys.stderr.write(
        f"trained {summary['rows']} rows in {summary['steps']} updates, "
        f"loss {summary['first_loss']} -> {summary['last_loss']}, "
        f"{summary['seconds']} s ({summary['tokens_per_s']} tokens/s); model in {result.out}\n"
    )
    return ""


def _guard(debug: bool, action: Callable[[], str]) -> None:
    """The CLI's guard, with training's own errors as one-line usage errors."""
    from workforce_graph.training.base_model import BaseModelError
    from workforce_graph.training.options import TrainingError
    from workforce_graph.training.rows import RowFormatError

    def run() -> int:
        try:
            # Training chatter (progress, loss logs, library notices) goes to stderr, so
            # stdout holds only the summary (one JSON object with --json).
            with contextlib.redirect_stdout(sys.stderr):
                text = action()
        except (BaseModelError, RowFormatError, TrainingError, ValueError) as exc:
            raise CliError(str(exc).splitlines()[0]) from exc
        if text:
            print(text)
        return 0

    guard(debug, run)


def _owl_stage(kind: str) -> Callable[..., None]:
    def command(
        data: Data,
        out: Out,
        base: Base = "local",
        lr: Lr = None,
        epochs: Epochs = None,
        batch_size: BatchSize = 4,
        grad_accum: GradAccum = 3,
        max_steps: MaxSteps = -1,
        device: DeviceOpt = "auto",
        lora: Lora = False,
        lora_r: LoraR = 16,
        beta: Annotated[float, typer.Option(help="DPO's beta.")] = 0.1,
        save_steps: SaveSteps = -1,
        max_length: MaxLength = 2048,
        seed: Seed = 0,
        quiet: Quiet = False,
        json_out: Json = False,
        debug: Debug = False,
    ) -> None:
        given = dict(locals())

        def action() -> str:
            from workforce_graph.training.options import TrainOptions
            from workforce_graph.training.owl_stages import train_dpo, train_sft
            from workforce_graph.training.rows import read_rows

            options = _options(TrainOptions(), given)
            rows = read_rows(data, "sft" if kind == "sft" else "dpo")
            train = train_sft if kind == "sft" else train_dpo
            return _report(train(rows, base=base, out=out, options=options), json_out)

        _guard(debug, action)

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
    iterations: Annotated[int, typer.Option(min=1, help="On-policy iterations.")] = 2,
    rollouts: Annotated[int, typer.Option(min=2, help="Rollouts per question.")] = 8,
    questions: Annotated[
        int | None, typer.Option(min=1, help="Use the first N questions.", show_default=False)
    ] = None,
    temperature: Annotated[float, typer.Option(help="Rollout sampling temperature.")] = 0.7,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model of the other roles (default: local).", show_default=False
        ),
    ] = None,
    topology: Annotated[str, typer.Option(help="flow or workforce.")] = "flow",
    base: Base = "local",
    reference: Annotated[
        str | None,
        typer.Option(help="Model the KL term keeps close to (default: --base itself)."),
    ] = None,
    lr: Lr = None,
    epochs: Epochs = None,
    batch_size: BatchSize = 4,
    grad_accum: GradAccum = 2,
    max_steps: MaxSteps = -1,
    device: DeviceOpt = "auto",
    lora: Lora = False,
    lora_r: LoraR = 16,
    clip: Annotated[float, typer.Option(help="Clip range of the ratio (both sides).")] = 0.2,
    kl: Annotated[float, typer.Option(help="Weight of the KL term (0: none).")] = 0.001,
    save_steps: SaveSteps = -1,
    max_length: MaxLength = 4096,
    seed: Seed = 0,
    quiet: Quiet = False,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """Flow-GRPO: clipped-ratio policy loss on per-turn advantages (AgentFlow's defaults)."""
    given = dict(locals())

    def action() -> str:
        from workforce_graph.training.flow_grpo import (
            FLOW_GRPO_DEFAULTS,
            FlowGrpoLoss,
            train_flow_grpo,
        )
        from workforce_graph.training.rows import read_rows

        if (data is None) == (dataset is None):
            raise ValueError(
                "pass --data FILE (exported flow-grpo rows) or --dataset SPEC (on-policy)"
            )
        options = _options(FLOW_GRPO_DEFAULTS, given)
        loss = FlowGrpoLoss(clip_low=clip, clip_high=clip, kl_coef=kl)
        if dataset is not None:
            return _on_policy(
                dataset,
                base,
                out,
                options,
                loss,
                iterations,
                rollouts,
                questions,
                temperature,
                model,
                topology,
                json_out,
            )
        assert data is not None
        rows = read_rows(data, "flow-grpo")
        result = train_flow_grpo(
            rows, base=base, out=out, options=options, loss=loss, reference=reference
        )
        return _report(result, json_out)

    _guard(debug, action)


def _on_policy(
    dataset: str,
    base: str,
    out: Path,
    options: TrainOptions,
    loss: Any,
    iterations: int,
    rollouts: int,
    questions: int | None,
    temperature: float,
    model: str | None,
    topology: str,
    as_json: bool,
) -> str:
    import asyncio
    from dataclasses import asdict

    from workforce_graph.evaluation.datasets import load_dataset
    from workforce_graph.training.flow_loop import FlowGrpoLoop, IterationReport, run_flow_grpo_loop

    if topology not in ("flow", "workforce"):
        raise ValueError(f"--topology must be flow or workforce, not {topology!r}")
    loop = FlowGrpoLoop(
        iterations=iterations,
        rollouts=rollouts,
        questions=questions,
        temperature=temperature,
        model=model,
        topology=topology,
    )

    def progress(report: IterationReport) -> None:
        sys.stderr.write(
            f"iteration {report.iteration}: {report.rollouts} rollouts "
            f"({report.rollouts_per_min:.1f}/min), pass@1 {report.pass_at_1:.3f}, "
            f"{report.rows} rows, dropped {report.dropped or 'nothing'}, "
            + (
                f"loss {report.losses[0]:.4f} -> {report.losses[-1]:.4f}"
                if report.losses
                else "no update (no group with differing rewards)"
            )
            + "\n"
        )

    reports = asyncio.run(
        run_flow_grpo_loop(
            load_dataset(dataset),
            base=base,
            out=out,
            loop=loop,
            options=options,
            loss=loss,
            on_iteration=None if as_json else progress,
        )
    )
    return json.dumps([asdict(r) for r in reports]) if as_json else ""


@train_app.command("gguf")
def gguf(
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

    _guard(debug, action)
