"""Loading a base model for training, running a trainer, and saving what was trained.

Every trainer saves a plain model directory (a LoRA adapter is merged first), with its
tokenizer, a ``training.json`` summary and its figures (``loop.json``, ``report.html``,
see :mod:`workforce_graph.training.progress`), so ``hf:DIR`` and ``--base DIR`` take it
as they take any Hugging Face model.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workforce_graph.training.base_model import TRAIN_HINT, resolve_base_model
from workforce_graph.training.options import (
    TrainingError,
    TrainingStopped,
    TrainOptions,
    TrainResult,
)
from workforce_graph.training.progress import Figures, ProgressLog

if TYPE_CHECKING:
    from transformers import Trainer

__all__ = [
    "checkpoints",
    "figures_of",
    "finish",
    "last_checkpoint",
    "load_for_training",
    "lora_config",
    "quiet_libraries",
    "resume_point",
    "run_trainer",
    "silence",
    "weight_dtype",
]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Numbers a trainer logs beside the loss that the progress record keeps, under its names.
_EXTRA_LOGS = {
    "rewards/accuracies": "reward_accuracy",
    "clipped": "clipped",
    "mean_token_accuracy": "token_accuracy",
}


def weight_dtype(device: str, *, frozen: bool, bf16_supported: bool) -> str:
    """The dtype a model's weights are loaded in: ``"float32"`` or ``"bfloat16"``.

    Weights that are trained stay float32 (the master weights) and the trainer computes
    in bf16 under autocast (``bf16=True``): loaded in bf16, an AdamW step at lr 1e-5
    rounds most updates away (on the bundled model 1.9% of the weights changed, against
    99.9% in float32), so the losses print while the planner barely moves. Weights that
    are not trained (the base under LoRA, whose adapters peft keeps in float32, or a
    reference model) may be bf16 on a GPU that has it, halving their memory.
    """
    return "bfloat16" if frozen and device == "cuda" and bf16_supported else "float32"


def load_for_training(base: str, device: str, *, frozen: bool = False) -> tuple[Any, Any, Path]:
    """The model, its weights in :func:`weight_dtype`, and its tokenizer."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise TrainingError(f"training needs packages that are missing: {TRAIN_HINT}") from exc
    path = resolve_base_model(base)
    bf16_supported = device == "cuda" and torch.cuda.is_bf16_supported()
    dtype = getattr(torch, weight_dtype(device, frozen=frozen, bf16_supported=bf16_supported))
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


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Hide the libraries' notices while training; the user's own progress bar stays.

    transformers, TRL, peft and torch warn about their own deprecations (a renamed
    ``TrainingArguments`` field, a TRL config default) on every run, some on every step;
    none is something a user of this command can act on. Their loading and saving bars
    ("Loading weights", "Writing model shards", dataset tokenisation) are hidden too: the
    training bar is the progress that matters. Everything is restored on the way out.
    """
    from transformers.utils import logging

    # transformers' logging helpers are unannotated: used through Any.
    transformers_logging: Any = logging

    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    with warnings.catch_warnings(), _quiet_datasets():
        for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
            warnings.simplefilter("ignore", category)
        # torch's notices about its own internals (checkpoint re-entrancy, TF32 defaults).
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch(\.|$)")
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        try:
            yield
        finally:
            transformers_logging.set_verbosity(verbosity)
            if bars:
                transformers_logging.enable_progress_bar()


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    try:  # TRL's trainers need datasets; Flow-GRPO's does not
        from datasets.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )
        from datasets.utils import logging as datasets_logging
    except ImportError:
        yield
        return
    verbosity = datasets_logging.get_verbosity()
    bars = not are_progress_bars_disabled()
    datasets_logging.set_verbosity_error()
    disable_progress_bars()
    try:
        yield
    finally:
        datasets_logging.set_verbosity(verbosity)
        if bars:
            enable_progress_bars()


def checkpoints(folder: Path) -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first.

    Trainer writes a checkpoint's files one after another and its ``trainer_state.json``
    last, so a checkpoint cut short by an interruption has none and is not one to resume
    from.
    """
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match and (path / "trainer_state.json").is_file():
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in ``folder``, if any."""
    found = checkpoints(folder)
    return found[-1] if found else None


def resume_point(out: Path, options: TrainOptions) -> Path | None:
    """The checkpoint to continue from: the last one with ``options.resume``, else none.

    Called before any model loads, so a ``--resume`` with nothing to resume costs nothing.

    Raises:
        TrainingError: ``resume`` was asked but ``out`` holds no complete checkpoint.
    """
    if not options.resume:
        return None
    found = last_checkpoint(out)
    if found is None:
        raise TrainingError(
            f"--resume: no checkpoint in {out} (only --save-steps writes them); "
            "run without --resume to start over"
        )
    return found


def figures_of(history: list[dict[str, Any]]) -> list[Figures]:
    """One point per logged training step, from a trainer's ``log_history``."""
    points: list[Figures] = []
    for entry in history:
        if "loss" not in entry:
            continue  # the end-of-training summary and evaluation entries
        extra = {name: float(entry[key]) for key, name in _EXTRA_LOGS.items() if key in entry}
        points.append(
            Figures(
                step=int(entry.get("step", len(points) + 1)),
                loss=float(entry["loss"]),
                kl=float(entry["kl"]) if "kl" in entry else None,
                reward=float(entry["rewards/margins"]) if "rewards/margins" in entry else None,
                extra=extra,
            )
        )
    return points


def _progress_callback(log: ProgressLog, stop: threading.Event | None) -> Any:
    from transformers import TrainerCallback

    class ProgressFile(TrainerCallback):
        """Rewrites loop.json and report.html after every logged step; stops on ``stop``."""

        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                # The whole history: after a resume it holds the checkpoint's steps too.
                log.record(figures_of(state.log_history))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Raised, not control.should_training_stop: that would save the partial
            # update as if it were the finished one.
            if stop is not None and stop.is_set():
                raise TrainingStopped(f"stopped after update step {state.global_step}")

    return ProgressFile()


def run_trainer(
    trainer: Trainer,
    tokenizer: Any,
    out: Path,
    *,
    kind: str,
    base: Path,
    rows: int,
    options: TrainOptions,
    settings: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train (from the last checkpoint with ``options.resume``), save, record, clean up.

    Raises:
        TrainingStopped: ``stop`` was set; training ended after its current step and
            nothing was saved beyond the checkpoints already written.
    """
    resume_from = resume_point(out, options)
    log = ProgressLog(
        out,
        kind=kind,
        unit="step",
        settings={"base": str(base), "rows": rows, **asdict(options), **(settings or {})},
    )
    trainer.add_callback(_progress_callback(log, stop))
    silence(trainer, options)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    result = finish(trainer, tokenizer, out, kind=kind, base=base, rows=rows, started=started)
    if not trainer.is_world_process_zero():
        return result  # under torchrun or accelerate launch, one process writes the files
    log.record(figures_of(trainer.state.log_history))
    if not options.keep_checkpoints:
        # They hold the optimizer state only to resume an unfinished run: this one finished.
        for checkpoint in out.glob("checkpoint-*"):
            if checkpoint.is_dir() and _CHECKPOINT.match(checkpoint.name):
                shutil.rmtree(checkpoint, ignore_errors=True)
    return result


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
    """Save the trained model (LoRA merged) and its summary; return the result.

    Data-parallel (``torchrun``, ``accelerate launch``), every process returns the same
    result and only the first writes: two writers of one file would corrupt it.
    """
    model: Any = trainer.model
    writer = trainer.is_world_process_zero()
    if hasattr(model, "merge_and_unload"):
        if writer:  # the adapter too: a vLLM rollout server loads it at runtime
            model.save_pretrained(str(out / "adapter"))
        merged = model.merge_and_unload()
        if writer:
            merged.save_pretrained(str(out))
    else:
        # The trainer's own save gathers FSDP or DeepSpeed shards before the first writes.
        trainer.save_model(str(out))
    if writer:
        tokenizer.save_pretrained(str(out))
    history = [
        {k: float(v) for k, v in entry.items() if isinstance(v, int | float)}
        for entry in trainer.state.log_history
        if "loss" in entry
    ]
    losses = [entry["loss"] for entry in history]
    args = trainer.args
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
    result = TrainResult(
        out=out,
        rows=rows,
        steps=trainer.state.global_step,
        losses=losses,
        seconds=time.perf_counter() - started,
        tokens=int(trainer.state.num_input_tokens_seen or 0),
        rows_seen=min(rows, trainer.state.global_step * batch),
        history=history,
    )
    summary = {"kind": kind, "base": str(base), **result.summary(), "losses": losses}
    summary["history"] = history
    if writer:
        (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return result
