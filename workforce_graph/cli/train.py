"""``workforce-graph train sft|dpo|flow-grpo|gguf``: train the planner, export it.

Each command reads rows (see ``docs/training.md``), trains ``--base`` (``local`` is the
bundled SmolLM2-135M, made trainable once and cached) and saves a plain model
directory that ``--planner-model hf:DIR`` uses; ``train gguf`` writes such a directory as
a GGUF file for ``gguf:FILE``. Errors a user can cause end as one line on stderr and
exit code 2; Ctrl-C and SIGTERM end as one line naming the command that continues (130,
143). Every command writes its figures to ``OUT/loop.json`` and ``OUT/report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from workforce_graph.cli.options import Debug, Json
from workforce_graph.cli.train_common import (
    Base,
    BatchSize,
    Data,
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
    summary_text,
    train_options,
)
from workforce_graph.cli.train_config import Config, command_line, save_config
from workforce_graph.cli.train_flow import flow_grpo
from workforce_graph.training.options import TrainOptions

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Train the planner: OWL's SFT then DPO, or Flow-GRPO on flow rollouts.",
    no_args_is_help=True,
)
_TRAIN = TrainOptions()


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

            options = train_options(TrainOptions(), given)
            rows = read_rows(data, "sft" if kind == "sft" else "dpo")
            save_config(ctx, output_folder(out, holds="the model"))
            train = train_sft if kind == "sft" else train_dpo
            return summary_text(train(rows, base=base, out=out, options=options), json_out)

        guard_training(debug, action, checkpoint_hint(ctx, out))

    command.__doc__ = (
        "Supervised fine-tuning on prompt/completion (or messages) rows; OWL's defaults."
        if kind == "sft"
        else "DPO on prompt/chosen/rejected rows; OWL's defaults (lr 1e-5, 2 epochs)."
    )
    return command


train_app.command("sft")(_owl_stage("sft"))
train_app.command("dpo")(_owl_stage("dpo"))


train_app.command("flow-grpo")(flow_grpo)


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

    guard_training(
        debug,
        action,
        lambda: f"the export did not finish and wrote nothing; run again with: {command_line(ctx)}",
    )
