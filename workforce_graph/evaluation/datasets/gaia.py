"""GAIA's layout as the user downloads it: a folder with ``metadata.jsonl`` (or
``metadata.parquet``) and the attachments beside it. Nothing of GAIA is shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT

__all__ = ["load_gaia"]

_FIELDS = ("task_id", "Question", "Level", "Final answer")


def _rows(folder: Path) -> list[dict[str, Any]]:
    jsonl, parquet = folder / "metadata.jsonl", folder / "metadata.parquet"
    if jsonl.exists():
        rows = []
        for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{jsonl}:{number}: not JSON ({exc.msg})") from exc
        return rows
    if parquet.exists():
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise DatasetError(
                f"{parquet} needs pyarrow: pip install 'workforce-graph[eval]'"
            ) from exc
        return list(pq.read_table(parquet).to_pylist())
    found = sorted(str(p.parent) for p in folder.rglob("metadata.*"))
    hint = f"; GAIA folders below it: {', '.join(found[:4])}" if found else ""
    raise DatasetError(f"{folder} has no metadata.jsonl or metadata.parquet{hint}")


def load_gaia(folder: str | Path) -> EvalDataset:
    """Read a GAIA split folder (e.g. ``2023/validation``)."""
    root = Path(folder)
    tasks = []
    for index, row in enumerate(_rows(root)):
        missing = [f for f in _FIELDS if f not in row]
        if missing:
            raise DatasetError(
                f"{root}: row {index + 1} lacks {', '.join(missing)} (GAIA's fields are "
                "task_id, Question, Level, Final answer, file_name)"
            )
        files: tuple[str, ...] = ()
        if row.get("file_name"):
            attachment = root / str(row["file_name"])
            if not attachment.exists():
                raise DatasetError(
                    f"{attachment}: attachment of task {row['task_id']} is missing; "
                    "download the split with its files"
                )
            files = (str(attachment),)
        tasks.append(
            EvalTask(
                task_id=str(row["task_id"]),
                question=str(row["Question"]),
                answer=str(row["Final answer"]),
                family=f"level {row['Level']}",
                files=files,
            )
        )
    return EvalDataset(name=f"gaia:{root.name}", tasks=tasks, answer_format=GAIA_ANSWER_FORMAT)
