"""Datasets: a GAIA-format folder made here, plain JSONL, Game of 24's exact checker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workforce_graph.evaluation.datasets import (
    DatasetError,
    check_24,
    load_dataset,
    load_game24,
)


def make_gaia(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "sheet.csv").write_text("a,b\n1,2\n")
    rows = [
        {"task_id": "t1", "Question": "2+2?", "Level": 1, "Final answer": "4", "file_name": ""},
        {
            "task_id": "t2",
            "Question": "Sum column b.",
            "Level": 2,
            "Final answer": "2",
            "file_name": "sheet.csv",
        },
    ]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_gaia_folder_in_the_downloaded_layout(tmp_path: Path) -> None:
    folder = make_gaia(tmp_path / "2023" / "validation")
    data = load_dataset(str(folder))
    assert [(t.task_id, t.family, t.answer) for t in data.tasks] == [
        ("t1", "level 1", "4"),
        ("t2", "level 2", "2"),
    ]
    assert data.tasks[1].files == (str(folder / "sheet.csv"),)
    assert "FINAL ANSWER: [YOUR FINAL ANSWER]" in data.answer_format
    assert data.score(data.tasks[0], "4.0") == 1.0
    with pytest.raises(DatasetError, match=r"2023/validation"):
        load_dataset(str(tmp_path))  # the parent: points at the split folder
    (folder / "sheet.csv").unlink()
    with pytest.raises(DatasetError, match="attachment of task t2 is missing"):
        load_dataset(str(folder))


def test_gaia_parquet_metadata(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow") if os.environ.get("CI") != "true" else __import__("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"task_id": "p1", "Question": "Q", "Level": "3", "Final answer": "x", "file_name": ""}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "metadata.parquet")
    assert [t.task_id for t in load_dataset(str(tmp_path)).tasks] == ["p1"]


def test_plain_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "Capital of France?", "answer": "Paris"}\n\n{"question": "x"}\n')
    with pytest.raises(DatasetError, match=r"qa.jsonl:3: a row needs 'question' and 'answer'"):
        load_dataset(str(path))
    path.write_text('{"id": "a", "question": "Capital of France?", "answer": "Paris"}\n')
    data = load_dataset(str(path))
    assert data.tasks[0].task_id == "a" and data.score(data.tasks[0], "paris") == 1.0
    with pytest.raises(DatasetError, match="is not a dataset"):
        load_dataset(str(tmp_path / "nothing.txt"))


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("(1 + 2 + 3) * 4", True),
        ("4 * (1 + 2 + 3) = 24", True),
        ("(1 + 2 + 3) × 4", True),
        ("1 + 2 + 3 + 4", False),  # 10
        ("(1 + 2 + 3) * 4 * 1", False),  # a number too many
        ("(2 + 2 + 2) * 4", False),  # not the puzzle's numbers
        ("4 * 6", False),
        ("(1 + 2 + 3) ** 4", False),  # only + - * /
        ("__import__('os')", False),
        ("4 / (1 - 1) + 2 + 3", False),  # division by zero
    ],
)
def test_game24_checker_is_exact(expression: str, ok: bool) -> None:
    assert check_24(expression, [1, 2, 3, 4]) is ok


def test_game24_checker_uses_exact_fractions() -> None:
    # 8 / (3 - 8 / 3) = 24 exactly; floating point gives 23.99999999999999.
    assert check_24("8 / (3 - 8 / 3)", [3, 3, 8, 8])


def test_game24_dataset_from_the_tot_file_format() -> None:
    csv = "Rank,Puzzles,AMT (s),Solved rate\n1,1 1 4 6,4.4,99%\n2,1 1 11 11,4.4,99%\n"
    data = load_game24(csv)
    assert [t.data["numbers"] for t in data.tasks] == [[1, 1, 4, 6], [1, 1, 11, 11]]
    assert data.score(data.tasks[0], "6 * 4 * 1 * 1") == 1.0
    assert data.score(data.tasks[0], "24") == 0.0


def test_game24_has_the_packages_1362_puzzles() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("tot", reason="pip install --no-deps tree-of-thoughts-llm")
    data = load_dataset("game24")
    assert len(data.tasks) == 1362
    assert data.tasks[0].data["numbers"] == [1, 1, 4, 6]


def test_reasoning_gym_tasks_are_scored_by_their_own_verifier() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("reasoning_gym")
    data = load_dataset("reasoning-gym:basic_arithmetic", size=3)
    assert len(data.tasks) == 3 and {t.family for t in data.tasks} == {"basic_arithmetic"}
    task = data.tasks[0]
    assert data.score(task, task.answer) == 1.0
    assert data.score(task, task.answer + "1") < 1.0
    with pytest.raises(DatasetError, match="no task"):
        load_dataset("reasoning-gym:no_such_task", size=1)
