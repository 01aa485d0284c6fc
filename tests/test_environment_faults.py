"""Honest under a bad environment: a silent server, a wrong model name, a damaged or
misplaced run database, a server down at resume, a file no worker can read.

CLI subprocesses against ``tests/fault_server.py`` (real HTTP, the real OpenAI client).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.fault_server import FaultServer
from tests.test_faults import ANSWER, PLAN, env, run_cli, run_json, server
from workforce_graph.models import ModelConfigError

__all__ = ["env", "server"]  # fixtures shared with tests/test_faults.py


def _one_line_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("workforce-graph: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_silent_server_is_bounded_by_the_call_timeout_with_a_waiting_line(
    env: dict[str, str], server: FaultServer
) -> None:
    server.inject("generator", "hang")
    code, result, stderr = run_json(env, server, "--call-timeout", "3")
    # --json keeps stdout for the result; the wait is said on stderr.
    assert "waiting for the generator model" in stderr and "limited to 3 s" in stderr
    assert code == 1 and result["complete"] is False
    assert "did not answer in time" in result["failed"][-1]["reason"]
    assert "Result of s1." in result["answer"]


def test_a_wrong_model_name_is_found_before_the_run_starts(
    env: dict[str, str], server: FaultServer
) -> None:
    done = run_cli(env, "run", "hi", "--model", "no-such-model", "--base-url", server.base_url)
    assert done.returncode == 2
    _one_line_error(done.stderr, "does not serve model 'no-such-model'", "fake-model")
    assert server.calls("planner") == []
    listed = run_cli(env, "runs", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_resume_of_a_finished_run_needs_no_server(env: dict[str, str]) -> None:
    with FaultServer(plan=PLAN, answer=ANSWER) as first:
        code, result, _ = run_json(env, first)
    assert code == 0
    done = run_cli(env, "resume", result["thread_id"], "--json")  # the server is gone
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == ANSWER


def test_a_file_no_worker_can_read_is_said_at_the_start_and_makes_it_incomplete(
    env: dict[str, str], server: FaultServer, tmp_path: Path
) -> None:
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(b"%PDF-1.4 " + b"x" * 1_000_000)
    code, result, stderr = run_json(
        env, server, "--file", str(attachment), task="Summarise the attached report"
    )
    assert "warning: no available worker reads attached files (report.pdf)" in stderr
    assert "workforce-graph[documents]" in stderr
    assert code == 1 and result["complete"] is False
    assert result["failed"][-1]["id"] == "attachments"
    # A request that does not refer to the file is still answered, with the warning.
    code, result, stderr = run_json(env, server, "--file", str(attachment), task="What is 6x7?")
    assert "warning: no available worker reads attached files" in stderr
    assert code == 0 and result["complete"] is True


def _damaged_database(env: dict[str, str], path: Path) -> None:
    """A run database with many runs whose data pages are then overwritten."""
    assert run_cli(env, "runs", "--db", str(path)).returncode == 0  # creates the tables
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO workforce_runs (thread_id, task, status, started_at, updated_at) "
            "VALUES (?, ?, 'answered', 0, 0)",
            [(f"t{i}", "x" * 200) for i in range(500)],
        )
        conn.commit()
        conn.execute("PRAGMA journal_mode=DELETE")  # every page in the file itself
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page after the schema
        data[start : start + 100] = b"\xff" * 100
    path.write_bytes(bytes(data))


def test_a_damaged_run_database_is_one_line_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    db = tmp_path / "damaged.sqlite"
    _damaged_database(env, db)
    for args in (["runs"], ["show", "t1"], ["runs", "--json"]):
        done = run_cli(env, *args, "--db", str(db))
        assert done.returncode == 2, done.stderr
        _one_line_error(done.stderr, "run database", "malformed")


def test_db_pointing_at_a_directory_is_one_line_without_a_thread_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = run_cli(env, "runs", "--db", str(tmp_path))
    assert done.returncode == 2
    _one_line_error(done.stderr, "is a directory")


# -- the same check for a graph built in Python ------------------------------------


def _graph(name: str, server: FaultServer, topology: str = "workforce") -> Any:
    from tests.conftest import spec
    from workforce_graph import build_flow_graph, build_workforce_graph

    build = build_flow_graph if topology == "flow" else build_workforce_graph
    return build(
        model=name, base_url=server.base_url, workers=[spec("reasoning", "reasoning")]
    ).compile()


@pytest.mark.parametrize("topology", ["workforce", "flow"])
async def test_a_graph_checks_a_named_server_model_at_its_first_call(
    server: FaultServer, topology: str
) -> None:
    graph = _graph("no-such-model", server, topology)
    with pytest.raises(ModelConfigError, match=r"does not serve model 'no-such-model'.*fake-model"):
        await graph.ainvoke({"task": "What is 6x7?"})
    # One one-token probe, and no call of any role.
    assert [c["messages"][0]["content"] for c in server.calls()] == ["Say OK."]


def test_a_sync_invoke_gets_the_same_error(server: FaultServer) -> None:
    with pytest.raises(ModelConfigError, match="does not serve model 'no-such-model'"):
        _graph("no-such-model", server).invoke({"task": "What is 6x7?"})


async def test_a_served_model_is_checked_once_per_server_and_model(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workforce_graph.models import preflight

    checks: list[tuple[str, str]] = []
    real = preflight.check_served_model

    async def counted(base_url: str, model: str, *args: Any, **kwargs: Any) -> None:
        checks.append((base_url, model))
        await real(base_url, model, *args, **kwargs)

    monkeypatch.setattr(preflight, "check_served_model", counted)
    for _ in range(2):  # two graphs: the second finds the answer cached
        state = await _graph("fake-model", server).ainvoke({"task": "What is 6x7?"})
        assert state["answer"]["complete"] and state["answer"]["text"] == ANSWER
    assert checks == [(server.base_url, "fake-model")]
