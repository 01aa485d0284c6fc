"""The ``workforce-graph`` command, end to end against a fake OpenAI-compatible server.

Runs go through the real OpenAI client (``--model fake-model --base-url ...``), in a
subprocess where the process matters (exit codes, signals, stdin); argument and
configuration errors run in-process through ``main()`` to keep the suite fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeHTTPError, FakeOpenAI
from workforce_graph.cli import main
from workforce_graph.hookspecs import hookimpl
from workforce_graph.plugins import get_plugin_manager
from workforce_graph.workers import WorkerSpec

ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 120


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a CLI subprocess: isolated run store, only the reasoning worker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    env.update(
        WORKFORCE_GRAPH_DB=str(tmp_path / "runs.sqlite"),
        WORKFORCE_GRAPH_PLUGINS="reasoning",
        LANGSMITH_TRACING="false",
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
    )
    return env


@pytest.fixture
def in_process_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same isolation for ``main()`` called in this process; returns the db path."""
    for key in list(os.environ):
        if key.startswith("WORKFORCE_GRAPH_") or key.endswith("_API_KEY"):
            monkeypatch.delenv(key)
    db = tmp_path / "runs.sqlite"
    monkeypatch.setenv("WORKFORCE_GRAPH_DB", str(db))
    monkeypatch.setenv("COLUMNS", "200")
    return db


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(
        plan=[
            {"id": "s1", "description": "Find the facts", "capabilities": ["reasoning"]},
            {
                "id": "s2",
                "description": "Write it up",
                "capabilities": ["reasoning"],
                "depends_on": ["s1"],
            },
        ],
        answer="Forty-two.",
    ) as server:
        yield server


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workforce_graph.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(args)`` in this process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def model_args(server: FakeOpenAI) -> list[str]:
    return ["--model", "fake-model", "--base-url", server.base_url]


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("workforce-graph: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


class Streaming:
    """A CLI subprocess whose stdout lines are read as they come."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workforce_graph.cli", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        deadline = time.monotonic() + CLI_TIMEOUT_S
        while not done(self.seen):
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"the CLI ended early: {stderr}")
            self.seen.append(json.loads(line))

    def finished(self) -> set[str]:
        return {e["subtask_id"] for e in self.seen if e["event"] == "finished"}


def wait_until_checkpointed(db: Path, text: str) -> None:
    """Wait until a checkpoint write holding ``text`` is in the SQLite run store."""
    deadline = time.monotonic() + CLI_TIMEOUT_S
    needle = text.encode()
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            try:
                rows = conn.execute("SELECT value FROM writes").fetchall()
            except sqlite3.OperationalError:  # the table is not created yet
                rows = []
        if any(needle in bytes(value or b"") for (value,) in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint write holding {text!r} within {CLI_TIMEOUT_S} s")


# -- runs ----------------------------------------------------------------------


def test_run_json_reports_answer_plan_results_and_usage(
    cli_env: dict[str, str], fake: FakeOpenAI, tmp_path: Path
) -> None:
    attachment = tmp_path / "notes.txt"
    attachment.write_text("some notes")
    done = cli(
        cli_env,
        "run",
        "What is six times seven?",
        *model_args(fake),
        "--json",
        "--file",
        str(attachment),
        "--answer-format",
        "one word",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["answer"] == "Forty-two."
    assert result["complete"] is True and result["status"] == "answered"
    assert [s["id"] for s in result["plan"]] == ["s1", "s2"]
    assert result["plan"][1]["depends_on"] == ["s1"]
    assert {r["id"]: (r["status"], r["worker"]) for r in result["results"]} == {
        "s1": ("done", "reasoning"),
        "s2": ("done", "reasoning"),
    }
    assert result["results"][0]["result"] == "Result of s1."
    assert set(result["usage"]) == {"planner", "worker:reasoning", "generator"}
    assert result["usage"]["worker:reasoning"]["calls"] == 2
    assert len(result["thread_id"]) >= 8
    # The calls went through the OpenAI client to --base-url, with the options applied.
    assert [c["role"] for c in fake.calls()] == ["planner", "worker", "worker", "generator"]
    worker_prompt = json.dumps(fake.calls("worker")[0]["messages"])
    assert str(attachment.resolve()) in worker_prompt
    assert "one word" in json.dumps(fake.calls("generator")[0]["messages"])


def test_run_events_are_ndjson_on_stdout(cli_env: dict[str, str], fake: FakeOpenAI) -> None:
    done = cli(cli_env, "run", "What is six times seven?", *model_args(fake), "--events")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "run" and names[-1] == "end"
    assert names.index("plan") < names.index("started") < names.index("finished")
    assert names.count("finished") == 2 and "answer" in names
    assert events[-1]["thread_id"] == events[0]["thread_id"]
    assert events[-1]["exit_code"] == 0 and events[-1]["complete"] is True
    assert all("time" in e for e in events if e["event"] != "end")


def test_plain_progress_goes_to_stderr_and_incomplete_exits_1(
    cli_env: dict[str, str],
    fake: FakeOpenAI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.responders["worker"] = lambda messages, body: (
        "FAILED: no data" if "(s2)" in json.dumps(messages) else "Result of s1."
    )
    done = cli(
        cli_env,
        "run",
        "What is six times seven?",
        *model_args(fake),
        "--max-replans",
        "0",
        "--timeout",
        "30",
        "--max-concurrency",
        "2",
    )
    assert done.returncode == 1, done.stderr
    # stdout is the answer only; progress and usage are on stderr.
    assert done.stdout.startswith("Forty-two.")
    assert "incomplete" in done.stdout
    assert "s1 finished (reasoning" in done.stderr
    assert "s2 failed (reasoning): no data" in done.stderr
    assert "retry" in done.stderr and "Usage" in done.stderr
    thread_id = done.stderr.split("run ", 1)[1].split()[0]

    # The run is in the run store: listed, and shown in full.
    monkeypatch.setenv("WORKFORCE_GRAPH_DB", cli_env["WORKFORCE_GRAPH_DB"])
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = call(capsys, "runs", "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert listed["thread_id"] == thread_id and listed["status"] == "incomplete"
    assert listed["task"] == "What is six times seven?" and listed["duration_s"] > 0
    code, out, _ = call(capsys, "show", thread_id[:6], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["complete"] is False and shown["failed"][0]["id"] == "s2"
    assert [r["status"] for r in shown["results"]] == ["done", "failed"]
    code, out, _ = call(capsys, "show", thread_id)
    assert code == 0 and "Result of s1." in out and "no data" in out and "Usage" in out
    code, out, _ = call(capsys, "runs")
    assert code == 0 and thread_id in out and "incomplete" in out


# -- errors a user can cause ---------------------------------------------------


def test_unreachable_base_url_fails_fast_in_one_line(cli_env: dict[str, str]) -> None:
    port = _closed_port()
    done = cli(
        cli_env, "run", "hi", "--model", "fake-model", "--base-url", f"http://127.0.0.1:{port}/v1"
    )
    assert done.returncode == 2
    assert_one_line_error(done.stderr, f"127.0.0.1:{port}", "cannot reach the model server")
    assert done.stdout == ""


def test_model_server_rejecting_the_key_is_one_line(cli_env: dict[str, str]) -> None:
    def reject(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        raise FakeHTTPError(401, "Incorrect API key provided")

    with FakeOpenAI(responders={"planner": reject}) as fake:
        done = cli(cli_env, "run", "hi", *model_args(fake), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line_error(done.stderr, "rejected the API key", "Incorrect API key provided")
    # The client does not retry a 401: one call, then a clear stop.
    assert len(fake.calls("planner")) == 1


def test_debug_shows_the_traceback(
    in_process_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = call(capsys, "run", "hi", "--model", "nosuchprovider:model", "--debug")
    assert code == 2
    assert "Traceback" in err and "ModelConfigError" in err
    assert err.strip().splitlines()[-1].startswith("workforce-graph: error: ")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "hi", "--model", "nosuchprovider:model"], ["nosuchprovider:model"]),
        (["run", "hi", "--model", "openai:gpt-4o"], ["OPENAI_API_KEY"]),
        (["run", "hi", "--file", "does/not/exist.txt"], ["--file", "exist.txt"]),
        (["run", "hi", "--max-concurrency", "0"], ["--max-concurrency"]),
        (["run", "hi", "--no-such-option"], ["--no-such-option"]),
        (["run", "hi", "--json", "--events"], ["--json", "--events"]),
        (["run", "  "], ["empty"]),
        (["run", "hi", "--model", "x", "--base-url", "ftp://host/v1"], ["--base-url"]),
        (["show", "nosuchthread"], ["nosuchthread"]),
        (["resume", "nosuchthread"], ["nosuchthread"]),
        (["runs", "--db", "postgresql://u@127.0.0.1:{port}/db"], ["cannot connect"]),
    ],
)
def test_user_errors_are_one_line_exit_2(
    in_process_env: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragments: list[str],
) -> None:
    port = str(_closed_port())
    code, out, err = call(capsys, *(a.replace("{port}", port) for a in args))
    assert code == 2, err
    assert_one_line_error(err, *fragments)
    assert out == ""


def test_unreadable_directory_as_file(
    in_process_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = call(capsys, "run", "hi", "--file", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "is a directory")


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("db", [None, "memory"])
def test_invalid_utf8_on_stdin_is_replaced_and_said_in_one_line(
    in_process_env: Path,
    fake: FakeOpenAI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: str | None,
) -> None:
    _stdin(monkeypatch, b"What is six times seven? \xff\xfe end")
    code, out, err = call(
        capsys, "run", "-", *model_args(fake), "--json", *(["--db", db] if db else [])
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "UTF-8" in line]
    assert warnings == [
        "warning: standard input is not valid UTF-8: 2 undecodable byte sequences "
        "replaced with U+FFFD"
    ]
    result = json.loads(out)
    assert result["task"] == "What is six times seven? \ufffd\ufffd end"
    assert result["complete"] is True and result["answer"] == "Forty-two."
    assert "\ufffd\ufffd end" in json.dumps(
        fake.calls("planner")[0]["messages"], ensure_ascii=False
    )
    if db is None:  # the run is saved, and listed with its request
        code, out, _ = call(capsys, "runs", "--json")
        assert code == 0 and json.loads(out)[0]["task"] == result["task"]


def test_undecodable_bytes_in_the_task_argument_are_replaced_too(
    in_process_env: Path, fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    # How Python hands on an argument that is not UTF-8 (surrogateescape).
    task = b"What is six times seven? \xff".decode("utf-8", "surrogateescape")
    code, out, err = call(capsys, "run", task, *model_args(fake), "--json")
    assert code == 0, err
    assert "warning: the request is not valid UTF-8: 1 undecodable byte sequence" in err
    assert json.loads(out)["task"] == "What is six times seven? \ufffd"


@pytest.mark.parametrize("from_stdin", [False, True])
def test_a_request_over_the_limit_is_refused_with_a_hint_to_attach_it(
    in_process_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    from_stdin: bool,
) -> None:
    from workforce_graph.bounds import REQUEST_CHARS

    big = "x" * (REQUEST_CHARS + 1)
    if from_stdin:
        _stdin(monkeypatch, big.encode())
    # No --model: were the request not refused first, the local model would be loaded.
    code, out, err = call(capsys, "run", "-" if from_stdin else big)
    assert code == 2 and out == ""
    assert_one_line_error(err, "100,001 characters", "100,000", "--file PATH")
    assert not in_process_env.exists()  # refused before any run was recorded
    # At the limit, the request is accepted (and fails later, at the unreachable server).
    code, _, err = call(
        capsys, "run", "x" * REQUEST_CHARS, "--model", "m", "--base-url", "http://127.0.0.1:1/v1"
    )
    assert code == 2 and "characters" not in err


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "run", "--help")
    assert code == 0
    text = " ".join(out.split())
    for fragment in (
        "0 answered",
        "1 answered but incomplete",
        "2 usage or configuration",
        "130 interrupted",
    ):
        assert fragment in text


# -- plugins and graph ---------------------------------------------------------


class _Plugins:
    @staticmethod
    @hookimpl
    def register_workers(register: Callable[[WorkerSpec], None]) -> None:
        register(
            WorkerSpec(
                name="stocks",
                description="Quotes.",
                capabilities=("finance",),
                unavailable_reason="set STOCKS_API_KEY",
            )
        )


class _Broken:
    @staticmethod
    @hookimpl
    def register_workers(register: Callable[[WorkerSpec], None]) -> None:
        raise RuntimeError("cannot import its SDK")


@pytest.fixture
def extra_plugins() -> Iterator[None]:
    pm = get_plugin_manager()
    pm.register(_Plugins(), name="test-stocks")
    pm.register(_Broken(), name="test-broken")
    yield
    pm.unregister(name="test-stocks")
    pm.unregister(name="test-broken")


def test_plugins_json_lists_workers_availability_and_problems(
    extra_plugins: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = call(capsys, "plugins", "--json")
    assert code == 0
    report = json.loads(out)
    plugins = {p["name"]: p for p in report["plugins"]}
    [reasoning] = plugins["reasoning"]["workers"]
    assert reasoning["available"] is True and "reasoning" in reasoning["capabilities"]
    [stocks] = plugins["test-stocks"]["workers"]
    assert stocks["available"] is False and stocks["unavailable_reason"] == "set STOCKS_API_KEY"
    assert {"plugin": "test-broken", "message": "RuntimeError: cannot import its SDK"} in report[
        "problems"
    ]
    code, out, _ = call(capsys, "plugins")
    assert code == 0
    assert "unavailable: set STOCKS_API_KEY" in out and "cannot import its SDK" in out


def test_graph_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "graph")
    assert code == 0
    assert out.lstrip().startswith("---") and "graph TD;" in out
    for node in ("planner", "coordinator", "workers", "verifier", "generator"):
        assert f"{node}({node})" in out
    assert "review_plan" not in out
    code, out, _ = call(capsys, "graph", "--approve-plan")
    assert "review_plan(review_plan)" in out


def test_graph_png_without_a_renderer_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot, no mmdc
    monkeypatch.setitem(sys.modules, "pygraphviz", None)  # import fails
    code, _, err = call(capsys, "graph", "--png", str(tmp_path / "g.png"))
    assert code == 2
    assert_one_line_error(err, "Graphviz", "workforce-graph graph")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.skipif(
    not any((Path(p) / "dot").exists() for p in os.environ.get("PATH", "").split(os.pathsep)),
    reason="Graphviz 'dot' is not installed",
)
def test_graph_png_with_graphviz(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pygraphviz", None)
    code, _, err = call(capsys, "graph", "--png", str(tmp_path / "g.png"))
    assert code == 0, err
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


# -- interruption and resumption -----------------------------------------------


def test_sigkill_then_resume_does_not_repeat_finished_subtasks(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    plan = [
        {"id": "s1", "description": "Fast one", "capabilities": ["reasoning"]},
        {"id": "s2", "description": "Fast two", "capabilities": ["reasoning"]},
        {"id": "s3", "description": "Slow one", "capabilities": ["reasoning"]},
        {
            "id": "s4",
            "description": "After one",
            "capabilities": ["reasoning"],
            "depends_on": ["s1"],
        },
    ]
    with FakeOpenAI(plan=plan, worker_delays={"s3": 120}) as fake:
        run = Streaming(cli_env, "run", "Four things", *model_args(fake), "--events")
        try:
            run.wait_for(
                lambda seen: (
                    {"s1", "s2", "s4"}
                    <= {e.get("subtask_id") for e in seen if e["event"] == "finished"}
                )
            )
            thread_id = run.seen[0]["thread_id"]
            for sid in ("s1", "s2", "s4"):
                wait_until_checkpointed(Path(cli_env["WORKFORCE_GRAPH_DB"]), f"Result of {sid}.")
            run.process.send_signal(signal.SIGKILL)
            run.process.wait(timeout=30)
        finally:
            run.process.kill()
        assert "s3" not in run.finished()
        fake.worker_delays.clear()

        done = cli(cli_env, "resume", thread_id, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["complete"] is True and result["thread_id"] == thread_id
        assert {r["id"]: r["status"] for r in result["results"]} == dict.fromkeys(
            ["s1", "s2", "s3", "s4"], "done"
        )
        worker_calls = [c["subtask_id"] for c in fake.calls("worker")]
        # The finished subtasks ran once; only the one cut off by the kill ran again.
        assert sorted(worker_calls) == ["s1", "s2", "s3", "s3", "s4"]
        assert len(fake.calls("planner")) == 1
        # resume took the model and server from the stored run options.
        assert len(fake.calls("generator")) == 1


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_cleanly_with_the_thread_id(
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stop: signal.Signals,
    code: int,
) -> None:
    plan = [
        {"id": "s1", "description": "Quick", "capabilities": ["reasoning"]},
        {"id": "s2", "description": "Slow", "capabilities": ["reasoning"]},
    ]
    with FakeOpenAI(plan=plan, worker_delays={"s2": 120}) as fake:
        run = Streaming(cli_env, "run", "Slow task", *model_args(fake), "--events")
        try:
            run.wait_for(lambda seen: "s1" in run.finished())
            wait_until_checkpointed(Path(cli_env["WORKFORCE_GRAPH_DB"]), "Result of s1.")
            run.process.send_signal(stop)
            returncode = run.process.wait(timeout=60)
            stderr = run.process.stderr.read() if run.process.stderr else ""
        finally:
            run.process.kill()
        thread_id = run.seen[0]["thread_id"]
        assert returncode == code
        assert "Traceback" not in stderr
        assert (
            f"Interrupted run {thread_id}; resume with: workforce-graph resume {thread_id}"
            in stderr
        )
        monkeypatch.setenv("WORKFORCE_GRAPH_DB", cli_env["WORKFORCE_GRAPH_DB"])
        _, out, _ = call(capsys, "runs", "--json")
        assert json.loads(out)[0]["status"] == "interrupted"
        fake.worker_delays.clear()
        done = cli(cli_env, "resume", thread_id, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["complete"] is True
    # s1 finished before the stop and was not run again.
    assert sorted(c["subtask_id"] for c in fake.calls("worker")) == ["s1", "s2", "s2"]


_BLOCKED_IN_A_THREAD = """
import asyncio, sys, threading
from workforce_graph.cli.interrupt import run_interruptibly

release = threading.Event()

async def work():
    loop = asyncio.get_running_loop()
    try:
        print("blocked", flush=True)
        await loop.run_in_executor(None, release.wait)  # as a local-model call is
    except asyncio.CancelledError:
        print("recorded", flush=True)
        raise
    return 0

sys.exit(run_interruptibly(work()))
"""


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_does_not_wait_for_a_thread_that_never_finishes(
    stop: signal.Signals, code: int
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_IN_A_THREAD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "blocked"
        process.send_signal(stop)
        # The executor thread is still blocked: only an exit that skips joining it ends.
        assert process.wait(timeout=CLI_TIMEOUT_S) == code
        assert process.stdout.read().strip() == "recorded"
    finally:
        process.kill()


# -- plan review -----------------------------------------------------------------


def _review_fake() -> FakeOpenAI:
    def planner(messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        if "use one careful step" in json.dumps(messages):
            return {
                "subtasks": [
                    {
                        "id": "p2",
                        "description": "Second plan",
                        "capabilities": ["reasoning"],
                        "depends_on": [],
                    }
                ]
            }
        return {
            "subtasks": [
                {
                    "id": "p1",
                    "description": "First plan",
                    "capabilities": ["reasoning"],
                    "depends_on": [],
                }
            ]
        }

    return FakeOpenAI(responders={"planner": planner}, answer="Reviewed answer.")


def test_approve_plan_reject_then_edit(cli_env: dict[str, str]) -> None:
    edited = json.dumps([{"id": "e1", "description": "Edited step", "capabilities": ["reasoning"]}])
    with _review_fake() as fake:
        done = cli(
            cli_env,
            "run",
            "Review me",
            *model_args(fake),
            "--approve-plan",
            "--json",
            stdin=f"r\nuse one careful step\ne\n{edited}\n\n",
        )
    assert done.returncode == 0, done.stderr
    assert "Plan for review" in done.stderr and "First plan" in done.stderr
    assert "Second plan" in done.stderr
    result = json.loads(done.stdout)
    assert [s["id"] for s in result["plan"]] == ["e1"]
    assert result["answer"] == "Reviewed answer."
    assert len(fake.calls("planner")) == 2
    assert [c["subtask_id"] for c in fake.calls("worker")] == ["e1"]


def test_unanswered_plan_review_pauses_and_resume_asks_again(cli_env: dict[str, str]) -> None:
    with _review_fake() as fake:
        paused = cli(cli_env, "run", "Review me", *model_args(fake), "--approve-plan")
        assert paused.returncode == 130, paused.stderr
        assert "Traceback" not in paused.stderr
        assert "paused" in paused.stderr and "workforce-graph resume" in paused.stderr
        thread_id = paused.stderr.split("workforce-graph resume ")[1].split()[0]
        assert fake.calls("worker") == []

        done = cli(cli_env, "resume", thread_id, "--json", stdin="a\n")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["answer"] == "Reviewed answer."
        assert len(fake.calls("planner")) == 1  # the paused plan was reviewed, not remade
        assert [c["subtask_id"] for c in fake.calls("worker")] == ["p1"]


@pytest.mark.parametrize("args", [["plugins", "--json"], ["plan", "--schema"]])
def test_output_whose_reader_went_away_ends_quietly(args: list[str], tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # as `... | head` once head has exited: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "workforce_graph.cli", *args],
            env={**os.environ, "WORKFORCE_GRAPH_DB": str(tmp_path / "runs.sqlite")},
            stdin=subprocess.DEVNULL,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
    finally:
        os.close(write)
    assert done.returncode == 141
    assert done.stderr == ""  # no 'BrokenPipeError', no 'Exception ignored'
