"""Training options shared by the SFT, DPO and Flow-GRPO trainers.

The defaults are OWL's (lr 1e-5, 2 epochs, bf16 on a GPU, effective batch 12 as
4 rows x 3 accumulation steps); Flow-GRPO overrides the learning rate with AgentFlow's
1e-6 (see :mod:`workforce_graph.training.flow_grpo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Device",
    "TrainOptions",
    "TrainResult",
    "TrainingError",
    "TrainingStopped",
    "pick_device",
    "trainer_arguments",
]

Device = Literal["auto", "cpu", "cuda"]


class TrainingError(RuntimeError):
    """Training cannot start or finish; the message says what to do, in one line."""


class TrainingStopped(KeyboardInterrupt):
    """Training was asked to stop before it finished; the model was not saved."""


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """How to train (every trainer); defaults follow the OWL paper."""

    learning_rate: float = 1e-5
    epochs: float = 2.0
    batch_size: int = 4
    """Rows per device step."""
    grad_accum: int = 3
    """Steps whose gradients are summed before an update (4 x 3 = OWL's batch of 12)."""
    max_steps: int = -1
    """Stop after this many updates (-1: run every epoch)."""
    device: Device = "auto"
    """``cuda`` trains in bf16 where the GPU supports it; ``auto`` picks cuda if present."""
    lora: bool = False
    """Train a LoRA adapter (peft) instead of every weight; merged into the saved model."""
    lora_r: int = 16
    lora_alpha: int = 32
    max_length: int = 2048
    """Tokens per row; longer rows are cut (TRL's default truncation)."""
    save_steps: int = 0
    """Checkpoint every this many updates (-1: at the end of each epoch; 0: never).

    A checkpoint holds the optimizer state as well as the model (about three times the
    model's size), so none is written unless asked; ``resume`` continues from the last."""
    resume: bool = False
    """Continue from the last checkpoint in the output folder (written by ``save_steps``)."""
    keep_checkpoints: bool = False
    """Keep the checkpoints once training has finished (they are only for resuming)."""
    logging_steps: int = 1
    seed: int = 0
    progress: bool = True
    """Show a progress bar and log the loss as training goes."""
    beta: float = 0.1
    """DPO's beta (TRL's default; OWL does not state one)."""

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "lora_r", "lora_alpha", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.learning_rate <= 0 or self.epochs <= 0:
            raise ValueError("learning_rate and epochs must be > 0")


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    out: Path
    """The saved model directory (a plain model, LoRA merged)."""
    rows: int
    """Rows given."""
    steps: int
    losses: list[float]
    """The logged training loss, one value per logging step."""
    seconds: float
    tokens: int
    """Tokens the trainer saw (prompt and completion, every epoch)."""
    rows_seen: int = 0
    """Distinct rows the updates covered: steps x effective batch, at most ``rows``
    (``max_steps`` can stop training before every row was seen)."""
    history: list[dict[str, float]] = field(default_factory=list)
    """Every logged step (``step``, ``loss`` and what the trainer logs beside it: ``kl``
    for Flow-GRPO, ``rewards/margins`` for DPO, ...)."""

    def summary(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "rows": self.rows,
            "rows_seen": self.rows_seen,
            "steps": self.steps,
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
        }


def pick_device(device: Device) -> Literal["cpu", "cuda"]:
    """Resolve ``auto`` and check that a requested GPU is there."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda, but torch sees no CUDA GPU; use --device cpu")
    return device


def trainer_arguments(options: TrainOptions, out: Path, device: str) -> dict[str, Any]:
    """Keyword arguments common to every ``TrainingArguments`` subclass used here."""
    import torch

    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    return {
        "output_dir": str(out),
        "learning_rate": options.learning_rate,
        "num_train_epochs": options.epochs,
        "max_steps": options.max_steps,
        "per_device_train_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.grad_accum,
        "bf16": bf16,
        "use_cpu": device == "cpu",
        "logging_steps": options.logging_steps,
        "save_strategy": {-1: "epoch", 0: "no"}.get(options.save_steps, "steps"),
        "save_steps": max(options.save_steps, 1),
        "save_total_limit": 2,
        "report_to": "none",
        "seed": options.seed,
        "disable_tqdm": not options.progress,
        "lr_scheduler_type": "linear",
        "include_num_input_tokens_seen": "non_padding",
    }
