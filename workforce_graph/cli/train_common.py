"""What the ``train`` commands share: their options, declared once, and how a command
turns into training, one summary line, and one line on an error or an interrupt.

Errors a user can cause end as one line on stderr and exit code 2; Ctrl-C and SIGTERM
end as one line naming the command that continues (130, 143).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workforce_graph.cli.errors import EXIT_INTERRUPTED, CliError
from workforce_graph.cli.options import PROG, guard
from workforce_graph.cli.train_config import command_line, main_process
from workforce_graph.training.options import TrainOptions

if TYPE_CHECKING:
    from workforce_graph.training.options import TrainResult

__all__ = [
    "Base",
    "BatchSize",
    "Data",
    "DeviceOpt",
    "Epochs",
    "GradAccum",
    "KeepCheckpoints",
    "Lora",
    "LoraR",
    "Lr",
    "MaxLength",
    "MaxSteps",
    "Out",
    "Quiet",
    "Resume",
    "SaveSteps",
    "Seed",
    "checkpoint_hint",
    "guard_training",
    "loop_hint",
    "say_interrupted",
    "summary_text",
    "train_options",
]

# Every option is declared once, here; its default is the settings dataclass's own.
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


def train_options(defaults: TrainOptions, given: dict[str, Any]) -> TrainOptions:
    """The training options from a command's parameters (its ``locals()``)."""
    from dataclasses import replace

    if given["device"] not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {given['device']!r}")
    changes = {name: given[name] for name in _SAME_NAME if given.get(name) is not None}
    if given.get("lr") is not None:
        changes["learning_rate"] = given["lr"]
    return replace(defaults, **changes, lora_alpha=2 * given["lora_r"], progress=not given["quiet"])


def summary_text(result: TrainResult, as_json: bool) -> str:
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


def guard_training(debug: bool, action: Callable[[], str], resume_hint: Callable[[], str]) -> None:
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
            say_interrupted(resume_hint())
            return 128 + signal.SIGTERM if isinstance(stopped, _Terminated) else EXIT_INTERRUPTED
        except (BaseModelError, EvalError, RowFormatError, TrainingError, ValueError) as exc:
            raise CliError(str(exc).splitlines()[0]) from exc
        except ImportError as exc:  # a package of the extra broken past the first check
            missing = exc.name or "a training package"
            raise CliError(f"training could not import {missing}: {TRAIN_HINT}") from exc
        if text and main_process():
            print(text)
        return 0

    guard(debug, run)


def say_interrupted(hint: str) -> None:
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


def checkpoint_hint(ctx: typer.Context, out: Path) -> Callable[[], str]:
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


def loop_hint(ctx: typer.Context, out: Path) -> Callable[[], str]:
    """How to go on after an interrupted on-policy loop: the same command again."""

    def hint() -> str:
        kept = f"finished rollouts and iterations are kept in {out}"
        return f"{kept}; continue with: {command_line(ctx)}"

    return hint
