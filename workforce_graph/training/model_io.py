"""Loading a base model for training, and saving what was trained.

Every trainer saves a plain model directory (a LoRA adapter is merged first), with its
tokenizer and a ``training.json`` summary, so ``hf:DIR`` and ``--base DIR`` take it
as they take any Hugging Face model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workforce_graph.training.base_model import TRAIN_HINT, resolve_base_model
from workforce_graph.training.options import TrainingError, TrainOptions, TrainResult

if TYPE_CHECKING:
    from transformers import Trainer

__all__ = ["finish", "load_for_training", "lora_config", "silence"]


def load_for_training(base: str, device: str) -> tuple[Any, Any, Path]:
    """The model (float32 on CPU, bf16 where the GPU has it) and its tokenizer."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise TrainingError(f"training needs packages that are missing: {TRAIN_HINT}") from exc
    path = resolve_base_model(base)
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        # transformers' annotations are too loose for strict mypy: kept as Any.
        tokenizer: Any = AutoTokenizer.from_pretrained(str(path))
        model: Any = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load base model {base!r}: {exc}".splitlines()[0]) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(
            f"base model {base!r} has no chat template; training rows are chat messages"
        )
    return model, tokenizer, path


def lora_config(options: TrainOptions) -> Any:
    """A peft LoRA config over every linear layer, or ``None`` without ``--lora``."""
    if not options.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def silence(trainer: Trainer, options: TrainOptions) -> None:
    """Without ``progress``, Trainer would print every log dict on stdout instead."""
    if not options.progress:
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)


def finish(
    trainer: Trainer,
    tokenizer: Any,
    out: Path,
    *,
    kind: str,
    base: Path,
    rows: int,
    started: float,
) -> TrainResult:
    """Save the trained model (LoRA merged) and its summary; return the result."""
    model: Any = trainer.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    result = TrainResult(
        out=out,
        rows=rows,
        steps=trainer.state.global_step,
        losses=losses,
        seconds=time.perf_counter() - started,
        tokens=int(trainer.state.num_input_tokens_seen or 0),
    )
    summary = {"kind": kind, "base": str(base), **result.summary(), "losses": losses}
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result
