"""A plain JSONL of question/answer rows (``id``, ``family``/``level``, ``file``,
``display``, ``expected_worker`` and ``expected_capabilities`` optional), scored with
GAIA's rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workforce_graph.evaluation.datasets.base import DatasetError, EvalDataset, EvalTask
from workforce_graph.evaluation.scorer import GAIA_ANSWER_FORMAT

__all__ = ["load_jsonl"]

_DATA_FIELDS = ("display", "expected_worker", "expected_capabilities")


def _first(row: dict[str, object], *keys: str) -> object:
    for key in keys:
        if row.get(key) not in (None, ""):
            return row[key]
    return None


def load_jsonl(path: str | Path) -> EvalDataset:
    source = Path(path)
    tasks = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}:{number}: not JSON ({exc.msg})") from exc
        question = _first(row, "question", "Question") if isinstance(row, dict) else None
        answer = _first(row, "answer", "Final answer") if isinstance(row, dict) else None
        if question is None or answer is None:
            raise DatasetError(f"{source}:{number}: a row needs 'question' and 'answer'")
        task_id = (
            _first(row, "id", "task_id") or hashlib.sha1(str(question).encode()).hexdigest()[:12]
        )
        file = _first(row, "file", "file_name")
        tasks.append(
            EvalTask(
                task_id=str(task_id),
                question=str(question),
                answer=str(answer),
                family=str(_first(row, "family", "level", "Level") or ""),
                files=(str(source.parent / str(file)),) if file else (),
                # What a comparison and a report read beside the answer, when a row has it.
                data={k: row[k] for k in _DATA_FIELDS if row.get(k) is not None},
            )
        )
    if len({t.task_id for t in tasks}) != len(tasks):
        raise DatasetError(f"{source}: task ids repeat; give each row a unique 'id'")
    return EvalDataset(name=source.stem, tasks=tasks, answer_format=GAIA_ANSWER_FORMAT)
