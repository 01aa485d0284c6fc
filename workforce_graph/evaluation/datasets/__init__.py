"""Evaluation datasets: GAIA folders, plain JSONL, Game of 24, reasoning-gym, the generated
curriculum."""

from __future__ import annotations

from pathlib import Path

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask
from workforce_graph.evaluation.datasets.curriculum import load_curriculum
from workforce_graph.evaluation.datasets.gaia import load_gaia
from workforce_graph.evaluation.datasets.game24 import check_24, load_game24
from workforce_graph.evaluation.datasets.jsonl import load_jsonl
from workforce_graph.evaluation.datasets.reasoning_gym import load_reasoning_gym

__all__ = [
    "DatasetError",
    "EvalDataset",
    "EvalTask",
    "check_24",
    "load_curriculum",
    "load_dataset",
    "load_gaia",
    "load_game24",
    "load_jsonl",
    "load_reasoning_gym",
]


def load_dataset(spec: str, *, size: int = 50) -> EvalDataset:
    """``game24``, ``reasoning-gym:TASK``, ``curriculum:SEED``, a ``.jsonl`` file or a GAIA
    folder.

    Args:
        spec: What to evaluate on.
        size: Tasks per reasoning-gym task or per curriculum family (procedural sets have
            no fixed size).
    """
    if spec == "game24":
        return load_game24()
    if spec == "curriculum" or spec.startswith("curriculum:"):
        seed = spec.partition(":")[2] or "0"
        if not seed.isdigit():
            raise DatasetError(f"curriculum:SEED takes a whole number, not {seed!r}")
        return load_curriculum(size, seed=int(seed))
    if spec.startswith("reasoning-gym:"):
        return load_reasoning_gym(spec.split(":", 1)[1], size=size)
    path = Path(spec)
    if path.is_dir():
        return load_gaia(path)
    if path.suffix == ".jsonl" and path.is_file():
        return load_jsonl(path)
    raise DatasetError(
        f"{spec!r} is not a dataset: give a GAIA folder, a .jsonl file of question/answer "
        "rows, 'game24', 'reasoning-gym:TASK' or 'curriculum:SEED'"
    )
