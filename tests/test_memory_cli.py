"""``workforce-graph memory list|show|clear``, ``run --no-memory`` and ``eval [--memory]``
against a local OpenAI-compatible server, on the CLI's SQLite run database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.test_cli import assert_one_line_error, call, in_process_env  # noqa: F401
from workforce_graph.past_runs.retrieval import HEADER

FRANCE = "What is the population of France in 2020?"
SPAIN = "What is the population of Spain in 2020?"

pytestmark = pytest.mark.usefixtures("in_process_env", "plugins")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFORCE_GRAPH_PLUGINS", "reasoning")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    plan = [{"id": "s1", "description": "Look it up", "capabilities": ["reasoning"]}]
    with FakeOpenAI(plan=plan, answer="FINAL ANSWER: 67 million") as fake:
        yield fake


def planner_prompts(server: FakeOpenAI) -> list[str]:
    return [
        "\n".join(str(m.get("content")) for m in c["messages"]) for c in server.calls("planner")
    ]


def run(capsys: pytest.CaptureFixture[str], server: FakeOpenAI, task: str, *args: str) -> None:
    code, _, err = call(
        capsys, "run", task, "--model", "m", "--base-url", server.base_url, "--json", *args
    )
    assert code == 0, err


def memory(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = call(capsys, "memory", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_runs_are_remembered_listed_shown_and_cleared(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAI
) -> None:
    assert memory(capsys, "list")["past_runs"] == []
    run(capsys, server, FRANCE)
    [row] = memory(capsys, "list")["past_runs"]
    assert (row["request"], row["outcome"], row["steps"], row["topology"]) == (
        FRANCE,
        "worked",
        1,
        "workforce",
    )
    before = len(planner_prompts(server))
    run(capsys, server, SPAIN)
    first, second = planner_prompts(server)[0], planner_prompts(server)[before]
    assert HEADER not in first and before >= 1
    assert HEADER in second and f"Request: {FRANCE}" in second

    shown = memory(capsys, "show", row["key"][:20])
    assert shown["key"] == row["key"] and shown["steps"][0]["description"] == "Look it up"
    code, out, _ = call(capsys, "memory", "show", row["key"])
    assert code == 0 and "Plan that worked" in out and FRANCE in out
    code, out, _ = call(capsys, "memory", "list")
    assert code == 0 and "worked" in out and "population of Spain" in out

    assert memory(capsys, "clear")["deleted"] == 2
    assert memory(capsys, "list")["past_runs"] == []


def test_no_memory_neither_reads_nor_writes(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAI
) -> None:
    run(capsys, server, FRANCE)
    run(capsys, server, SPAIN, "--no-memory")
    assert all(HEADER not in prompt for prompt in planner_prompts(server))
    assert [r["request"] for r in memory(capsys, "list")["past_runs"]] == [FRANCE]


def test_plan_alone_reads_the_memory_and_adds_no_record(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAI
) -> None:
    run(capsys, server, FRANCE)
    code, out, err = call(capsys, "plan", SPAIN, "--model", "m", "--base-url", server.base_url)
    assert code == 0, err
    assert json.loads(out)["subtasks"][0]["description"] == "Look it up"
    assert f"Request: {FRANCE}" in planner_prompts(server)[-1]
    code, _, err = call(
        capsys, "plan", SPAIN, "--model", "m", "--base-url", server.base_url, "--no-memory"
    )
    assert code == 0, err
    assert HEADER not in planner_prompts(server)[-1]
    assert [r["request"] for r in memory(capsys, "list")["past_runs"]] == [FRANCE]


def test_a_bad_id_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "memory", "show", "no-such-run")
    assert code == 2 and out == ""
    assert_one_line_error(err, "no past run 'no-such-run'", "workforce-graph memory list")


def test_eval_sees_no_memory_unless_asked(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAI, tmp_path: Path
) -> None:
    run(capsys, server, FRANCE)
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "es", "question": SPAIN, "answer": "67 million"}) + "\n")
    args = ["eval", str(data), "--model", "m", "--base-url", server.base_url]
    args += ["--db", str(tmp_path / "runs.sqlite"), "--json"]  # the runs' (in_process_env)
    code, out, err = call(capsys, *args, "--out", str(tmp_path / "plain"))
    assert code == 0, err
    assert json.loads(out)["memory"] == {"on": False}
    assert HEADER not in planner_prompts(server)[-1]
    assert len(memory(capsys, "list")["past_runs"]) == 1  # nothing written either

    code, out, err = call(capsys, *args, "--out", str(tmp_path / "memory"), "--memory")
    assert code == 0, err
    assert json.loads(out)["memory"] == {"on": True, "past_runs": 1, "questions_in_memory": 0}
    assert HEADER in planner_prompts(server)[-1]
    rows = memory(capsys, "list")["past_runs"]
    assert [(r["request"], r["score"]) for r in rows] == [(SPAIN, 1.0), (FRANCE, None)]

    code, _, err = call(capsys, *args, "--memory", "--compare", "a", "--compare", "b")
    assert code == 2
    assert_one_line_error(err, "--memory cannot be combined with --compare")
