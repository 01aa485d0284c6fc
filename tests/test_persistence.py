"""Run persistence: the --db targets, the run index, concurrent runs on one checkpointer.

PostgreSQL tests use ``$WORKFORCE_GRAPH_TEST_POSTGRES`` or start a throwaway server from
the installed PostgreSQL binaries (see ``tests/pg_server.py``); without either they are
skipped, except under ``CI=true`` where a missing server fails them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from tests.fake_openai import FakeOpenAI
from workforce_graph import WorkerSpec, build_workforce_graph
from workforce_graph.cli import main
from workforce_graph.persistence import (
    DB_ENV,
    PersistenceError,
    RunRecord,
    RunStore,
    default_db_path,
    open_checkpointer,
    open_run_store,
    parse_db,
)
from workforce_graph.testing import ScriptedChatModel, plan_reply

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pg_dsn(pg: str) -> str:
    return pg


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_dsn"))
    return str(tmp_path / "runs.sqlite") if request.param == "sqlite" else "memory"


@pytest.fixture
async def store(db: str) -> AsyncIterator[RunStore]:
    async with open_run_store(db) as opened:
        yield opened


# -- --db values -------------------------------------------------------------------


def test_parse_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    assert parse_db(None).kind == "sqlite"
    assert parse_db(None).location == str(default_db_path())
    assert default_db_path().name == "runs.sqlite"
    assert parse_db("memory").kind == "memory"
    assert parse_db(str(tmp_path / "x.db")).location == str(tmp_path / "x.db")
    assert parse_db("postgres://u@h/db").kind == "postgres"
    monkeypatch.setenv(DB_ENV, "postgresql://u:secret@h:5433/db")
    target = parse_db(None)
    assert target.kind == "postgres"
    assert "secret" not in target.describe() and "h:5433" in target.describe()
    assert parse_db("memory").kind == "memory"  # --db beats the environment


async def test_unusable_sqlite_path_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PersistenceError, match="cannot open the run database"):
        async with open_run_store(str(blocker / "runs.sqlite")):
            pass


async def test_sqlite_setup_meeting_another_setups_lock_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some SQLite lock conflicts fail at once rather than wait (switching a new file to
    WAL while another process does): the setup is tried again, and a conflict that
    lasts is a one-line error, not a traceback."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    real_setup = AsyncSqliteSaver.setup
    conflicts = {"left": 1}

    async def conflicting_setup(self: AsyncSqliteSaver) -> None:
        if conflicts["left"]:
            conflicts["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        await real_setup(self)

    monkeypatch.setattr(AsyncSqliteSaver, "setup", conflicting_setup)
    path = str(tmp_path / "runs.sqlite")
    async with open_run_store(path) as store:
        await store.record_start(RunRecord.new("after1", "written after the conflict"))
    assert conflicts["left"] == 0
    async with open_run_store(path) as store:
        assert [r.thread_id for r in await store.list_runs()] == ["after1"]

    conflicts["left"] = 1_000
    with pytest.raises(PersistenceError, match=r"cannot use the run database .*locked"):
        async with open_run_store(str(tmp_path / "other.sqlite")):
            pass


# -- the run index -------------------------------------------------------------------


async def test_run_index(store: RunStore) -> None:
    first = RunRecord.new("aaa111", "first task", {"model": "m"})
    first.started_at -= 10
    await store.record_start(first)
    await store.record_start(RunRecord.new("aaa222", "second task"))
    await store.record_start(RunRecord.new("bbb333", "third task"))
    await store.set_status("aaa111", "answered")

    runs = await store.list_runs()
    ids = [r.thread_id for r in runs]
    assert ids[-1] == "aaa111" and set(ids) >= {"aaa111", "aaa222", "bbb333"}
    done = await store.get_run("aaa111")
    assert done is not None and done.status == "answered" and done.finished_at is not None
    assert done.options == {"model": "m"} and done.duration_s is not None
    assert done.duration_s >= 10

    # Resuming keeps the start time and clears the finish.
    await store.record_start(RunRecord.new("aaa111", "first task"))
    again = await store.get_run("aaa111")
    assert again is not None and again.status == "running" and again.finished_at is None
    assert again.started_at == done.started_at and again.options == {"model": "m"}

    assert await store.find_thread("bbb") == "bbb333"
    with pytest.raises(LookupError, match="ambiguous"):
        await store.find_thread("aaa")
    with pytest.raises(LookupError, match="no run 'zzz'"):
        await store.find_thread("zzz")


async def test_running_run_of_a_dead_process_reads_as_interrupted(store: RunStore) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = RunRecord.new("dead01", "killed")
    record.pid = int(child.stdout)
    await store.record_start(record)
    loaded = await store.get_run("dead01")
    assert loaded is not None and loaded.status == "running"
    assert loaded.effective_status() == "interrupted"
    await store.record_start(RunRecord.new("live01", "this process"))
    live = await store.get_run("live01")
    assert live is not None and live.effective_status() == "running"


def test_resume_refuses_a_run_that_is_still_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.sqlite")

    async def record() -> None:
        async with open_run_store(db) as store:
            await store.record_start(RunRecord.new("busy01", "still going"))

    asyncio.run(record())
    with pytest.raises(SystemExit) as exited:
        main(["resume", "busy01", "--db", db])
    assert exited.value.code == 2
    assert "is still running (process" in capsys.readouterr().err


async def test_sqlite_runs_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "runs.sqlite")
    async with open_run_store(path) as store:
        await store.record_start(RunRecord.new("keep01", "kept"))
    async with open_run_store(path) as store:
        assert [r.thread_id for r in await store.list_runs()] == ["keep01"]
    async with open_checkpointer(path) as saver:
        assert type(saver).__name__ == "AsyncSqliteSaver"


# -- concurrent runs on one checkpointer -------------------------------------------


def _request(messages: list[BaseMessage]) -> str:
    text = "\n".join(str(m.content) for m in messages)
    match = re.search(r"(?:Request|Overall request \(for context only\)):\n(task number \d+)", text)
    assert match, text
    return match.group(1)


def _model() -> ScriptedChatModel:
    return ScriptedChatModel(
        responders={
            "planner": lambda m: plan_reply(
                {
                    "id": "a",
                    "description": f"First part of {_request(m)}",
                    "capabilities": ["reasoning"],
                },
                {
                    "id": "b",
                    "description": "Second part",
                    "capabilities": ["reasoning"],
                    "depends_on": ["a"],
                },
            ),
            "worker": lambda m: f"worked on {_request(m)}",
            "generator": lambda m: f"answer for {_request(m)}",
        },
        latency_s=0.005,
    )


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
async def test_twenty_concurrent_runs_keep_their_state_apart(store: RunStore) -> None:
    graph = build_workforce_graph(
        model=_model(),
        workers=[WorkerSpec(name="reasoning", description="Thinks.", capabilities=("reasoning",))],
    ).compile(checkpointer=store.checkpointer)
    prefix = os.urandom(4).hex()

    async def one(i: int) -> None:
        thread_id, task = f"{prefix}-{i:02d}", f"task number {i}"
        await store.record_start(RunRecord.new(thread_id, task))
        out = await graph.ainvoke(
            {"task": task}, {"configurable": {"thread_id": thread_id}}, durability="sync"
        )
        await store.set_status(thread_id, "answered" if out["answer"]["complete"] else "incomplete")

    await asyncio.gather(*(one(i) for i in range(20)))

    for i in range(20):
        thread_id, task = f"{prefix}-{i:02d}", f"task number {i}"
        state = (await graph.aget_state({"configurable": {"thread_id": thread_id}})).values
        assert state["task"] == task
        assert state["answer"]["text"] == f"answer for {task}"
        assert [s["result"] for s in state["subtasks"]] == [f"worked on {task}"] * 2
        assert state["subtasks"][0]["description"] == f"First part of {task}"
        record = await store.get_run(thread_id)
        assert record is not None and record.task == task and record.status == "answered"
    listed = [r for r in await store.list_runs(1000) if r.thread_id.startswith(prefix)]
    assert len(listed) == 20


# -- the CLI on PostgreSQL --------------------------------------------------------


def test_cli_run_on_postgres(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    env.update(WORKFORCE_GRAPH_PLUGINS="reasoning", PYTHONPATH=str(ROOT), LANGSMITH_TRACING="false")
    with FakeOpenAI(answer="Stored in Postgres.") as fake:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "workforce_graph.cli",
                "run",
                "Keep me",
                "--model",
                "fake-model",
                "--base-url",
                fake.base_url,
                "--db",
                pg_dsn,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, done.stderr
    thread_id = json.loads(done.stdout)["thread_id"]

    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--db", pg_dsn, "--json", "--limit", "1000"])
    assert exited.value.code == 0
    runs: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    [run] = [r for r in runs if r["thread_id"] == thread_id]
    assert run["status"] == "answered" and run["task"] == "Keep me"
    with pytest.raises(SystemExit) as exited:
        main(["show", thread_id, "--db", pg_dsn, "--json"])
    assert exited.value.code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["answer"] == "Stored in Postgres." and shown["results"][0]["status"] == "done"


def test_processes_setting_up_a_new_postgres_database_at_once_all_succeed(pg_dsn: str) -> None:
    import psycopg

    fresh = f"wfg_setup_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {fresh}")
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{fresh}"
    openers = 4
    barrier = threading.Barrier(openers, timeout=60)
    errors: list[BaseException] = []

    def one(n: int) -> None:
        async def main() -> None:
            barrier.wait()  # every opener meets the empty database together
            async with open_run_store(dsn) as opened:
                await opened.store.aput(("test",), f"k{n}", {"n": n})

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    async def keys() -> list[str]:
        async with open_run_store(dsn) as opened:
            return sorted(item.key for item in await opened.store.asearch(("test",)))

    assert asyncio.run(keys()) == [f"k{n}" for n in range(openers)]
