"""OWL's two training stages on TRL: SFT on runs that scored, then DPO on pairs.

- :func:`train_sft`: ``SFTTrainer`` over conversational rows, ``messages`` or
  ``prompt`` + ``completion`` (the loss then covers the completion only, TRL's default).
- :func:`train_dpo`: ``DPOTrainer`` over ``prompt`` + ``chosen`` + ``rejected`` rows: for
  one prompt, a planner output whose run scored and one whose run did not. The reference
  model is the base itself (TRL copies it; with ``--lora`` it is the base with the
  adapter off).

Both save a plain model directory (LoRA merged) that ``hf:DIR`` and ``--base DIR`` take.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from workforce_graph.folders import output_folder
from workforce_graph.training.base_model import require_training_packages
from workforce_graph.training.model_io import (
    load_for_training,
    lora_config,
    quiet_libraries,
    resume_point,
    run_trainer,
)
from workforce_graph.training.options import (
    TrainOptions,
    TrainResult,
    pick_device,
    trainer_arguments,
)
from workforce_graph.training.rows import check_rows

__all__ = ["train_dpo", "train_sft"]


def train_sft(
    rows: Sequence[dict[str, Any]],
    *,
    base: str,
    out: str | Path,
    options: TrainOptions | None = None,
) -> TrainResult:
    """Fine-tune ``base`` on SFT ``rows`` and save the model in ``out``.

    Args:
        rows: SFT rows (see :mod:`workforce_graph.training.rows`).
        base: ``local`` or a Hugging Face model directory.
        out: Directory for checkpoints and the final model.
        options: Training options (OWL's defaults).

    Returns:
        The saved model's directory, the logged losses and the throughput.

    Raises:
        RowFormatError: A row of the wrong shape.
        TrainingError: No GPU for ``--device cuda``, missing packages, unloadable base.
    """
    return _train("sft", rows, base=base, out=Path(out), options=options or TrainOptions())


def train_dpo(
    rows: Sequence[dict[str, Any]],
    *,
    base: str,
    out: str | Path,
    options: TrainOptions | None = None,
) -> TrainResult:
    """Train ``base`` to prefer each DPO row's ``chosen`` output; save the model in ``out``.

    Arguments, result and errors as :func:`train_sft`.
    """
    return _train("dpo", rows, base=base, out=Path(out), options=options or TrainOptions())


def _train(
    kind: Literal["sft", "dpo"],
    rows: Sequence[dict[str, Any]],
    *,
    base: str,
    out: Path,
    options: TrainOptions,
) -> TrainResult:
    # The rows and the folder first: a wrong option is named before a missing package.
    checked = check_rows(((f"row {i + 1}", row) for i, row in enumerate(rows)), kind)
    out = output_folder(out, holds="the model")
    require_training_packages()
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    # Warnings and loading bars of the libraries would drown the training bar.
    with quiet_libraries():
        resume_point(out, options)
        device = pick_device(options.device)
        model, tokenizer, base_path = load_for_training(base, device, frozen=options.lora)
        arguments = {**trainer_arguments(options, out, device), "max_length": options.max_length}
        common: dict[str, Any] = {
            "model": model,
            "train_dataset": Dataset.from_list(checked),
            "processing_class": tokenizer,
            "peft_config": lora_config(options),
        }
        trainer: SFTTrainer | DPOTrainer
        if kind == "sft":
            trainer = SFTTrainer(args=SFTConfig(**arguments), **common)
        else:
            trainer = DPOTrainer(args=DPOConfig(**arguments, beta=options.beta), **common)
        return run_trainer(
            trainer, tokenizer, out, kind=kind, base=base_path, rows=len(checked), options=options
        )
