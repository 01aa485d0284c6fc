"""``workforce-graph serve mcp``, driven by the real ``mcp`` client over both transports.

The server runs as a subprocess (``tests/mcp_serve_cli.py``: the CLI with one test
worker that can block until cancelled) on the fake OpenAI-compatible server of
``tests/fake_openai.py``. Waits are on conditions (a notification seen, a pid file
written, a process gone, a status recorded), each with a deadline against a hang.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.fake_openai import FakeOpenAI
from workforce_graph.cli import main

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = str(ROOT / "tests" / "mcp_serve_cli.py")
DEADLINE_S = 60.0


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer="Forty-two.") as server:
        yield server


@pytest.fixture
def children(tmp_path: Path) -> Path:
    folder = tmp_path / "children"
    folder.mkdir()
    return folder


@pytest.fixture
def env(tmp_path: Path, children: Path) -> dict[str, str]:
    """A server subprocess's environment: its own run store, only the test worker."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFORCE_GRAPH_") and not k.endswith("_API_KEY")
    }
    clean.update(
        WORKFORCE_GRAPH_DB=str(tmp_path / "runs.sqlite"),
        WORKFORCE_GRAPH_PLUGINS="none",  # no built-in worker: the test worker alone
        LANGSMITH_TRACING="false",
        PYTHONPATH=str(ROOT),
        MCP_SERVE_CHILD_DIR=str(children),
    )
    return clean


def serve_args(fake: FakeOpenAI, *extra: str) -> list[str]:
    return [LAUNCHER, "serve", "mcp", "--model", "fake-model", "--base-url", fake.base_url, *extra]


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it is true; fail after :data:`DEADLINE_S`."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def await_for(condition: Callable[[], Any], what: str) -> Any:
    with anyio.fail_after(DEADLINE_S):
        while True:
            value = condition()
            if value:
                return value
            await anyio.sleep(0.05)
    raise AssertionError(what)  # not reached


def child_pids(folder: Path) -> list[int]:
    return [int(p.stem) for p in folder.glob("*.pid")]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_status(env: dict[str, str], thread_id: str) -> str | None:
    out = subprocess.run(
        [sys.executable, "-m", "workforce_graph.cli", "runs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=True,
    ).stdout
    return next((r["status"] for r in json.loads(out) if r["thread_id"] == thread_id), None)


def latest_thread(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "workforce_graph.cli", "runs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=True,
    ).stdout
    return str(json.loads(out)[0]["thread_id"])


def assert_one_line_tool_error(result: types.CallToolResult, *fragments: str) -> None:
    assert result.isError
    [content] = result.content
    assert isinstance(content, types.TextContent)
    assert "\n" not in content.text and "Traceback" not in content.text
    assert "Error executing tool" not in content.text and "Error:" not in content.text
    for fragment in fragments:
        assert fragment in content.text, content.text


@asynccontextmanager
async def stdio_session(
    fake: FakeOpenAI, env: dict[str, str], *extra: str
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=serve_args(fake, *extra), env=env)
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


class Progress:
    """A progress callback that keeps every notification."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, message))

    def said(self, fragment: str) -> bool:
        return any(fragment in (m or "") for _, m in self.seen)


async def check_tool_listing(session: ClientSession) -> None:
    [tool] = (await session.list_tools()).tools
    assert tool.name == "run_task"
    assert tool.description and "complete" in tool.description
    schema = tool.inputSchema
    assert schema["required"] == ["task"]
    assert set(schema["properties"]) == {"task", "answer_format", "attachments", "topology"}
    assert schema["properties"]["topology"]["enum"] == ["workforce", "flow"]
    assert schema["properties"]["attachments"]["items"] == {"type": "string"}
    assert tool.outputSchema is not None
    assert {"answer", "complete", "failed", "usage", "thread_id"} <= set(
        tool.outputSchema["properties"]
    )


async def check_answered_call(session: ClientSession, fake: FakeOpenAI) -> dict[str, Any]:
    progress = Progress()
    result = await session.call_tool(
        "run_task",
        {"task": "What is six times seven?", "answer_format": "a number"},
        progress_callback=progress,
    )
    assert not result.isError, result.content
    data = result.structuredContent
    assert data is not None
    assert data["answer"] == "Forty-two." and data["complete"] is True
    assert data["failed"] == [] and data["status"] == "answered"
    assert data["usage"]["planner"]["calls"] == 1
    assert data["usage"]["generator"]["calls"] == 1
    [text] = result.content
    assert isinstance(text, types.TextContent) and text.text == "Forty-two."
    assert len(progress.seen) >= 1
    assert [p for p, _ in progress.seen] == sorted({p for p, _ in progress.seen})
    assert progress.said("plan: 1 subtask(s)") and progress.said("answer (complete)")
    assert "a number" in json.dumps(fake.calls("generator")[-1]["messages"])
    return data


# -- stdio -------------------------------------------------------------------------


async def test_stdio_lists_the_tool_and_answers_with_progress(
    fake: FakeOpenAI, env: dict[str, str]
) -> None:
    async with stdio_session(fake, env) as session:
        await check_tool_listing(session)
        data = await check_answered_call(session, fake)
    assert run_status(env, data["thread_id"]) == "answered"


async def test_bad_calls_are_one_line_tool_errors_and_the_server_goes_on(
    fake: FakeOpenAI, env: dict[str, str], tmp_path: Path
) -> None:
    async with stdio_session(fake, env) as session:
        cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
            ({"task": "   "}, ("the task is empty",)),
            ({}, ("'task' is a required property",)),
            ({"task": "x", "topology": "star"}, ("'star' is not one of",)),
            ({"task": "x", "attachments": ["https://example.com/a.pdf"]}, ("not URLs",)),
            ({"task": "x", "attachments": [str(tmp_path / "missing.pdf")]}, ("cannot read it",)),
            ({"task": "x", "attachments": [str(tmp_path)]}, ("is a directory",)),
            ({"task": "x" * 100_001}, ("100,001 characters",)),
        ]
        for arguments, fragments in cases:
            assert_one_line_tool_error(await session.call_tool("run_task", arguments), *fragments)
        assert_one_line_tool_error(await session.call_tool("other", {}), "unknown tool")
        assert fake.calls() == []  # refused before any model call
        await check_answered_call(session, fake)


async def test_an_unreachable_model_server_is_a_tool_error(env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            LAUNCHER,
            "serve",
            "mcp",
            "--model",
            "m",
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
        ],
        env=env,
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("run_task", {"task": "hi"})
            assert_one_line_tool_error(result, "cannot reach the model server", str(port))
            assert (await session.list_tools()).tools  # still serving


async def test_a_cancelled_call_stops_its_run_and_the_next_call_is_served(
    fake: FakeOpenAI, env: dict[str, str], children: Path
) -> None:
    async with stdio_session(fake, env) as session:
        # call_tool takes the session's next request id; the cancellation names it.
        request_id = session._request_id
        outcome: dict[str, Any] = {}

        async def blocked_call() -> None:
            try:
                outcome["result"] = await session.call_tool(
                    "run_task", {"task": "BLOCK until cancelled"}, progress_callback=Progress()
                )
            except McpError as exc:
                outcome["error"] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked_call)
            [child] = await await_for(lambda: child_pids(children), "the worker's child")
            await session.send_notification(
                types.ClientNotification(
                    types.CancelledNotification(
                        params=types.CancelledNotificationParams(
                            requestId=request_id, reason="the user changed their mind"
                        )
                    )
                )
            )
        assert "cancelled" in str(outcome.get("error")).lower(), outcome
        await await_for(lambda: not alive(child), "the worker's child to be killed")
        thread_id = latest_thread(env)
        await await_for(lambda: run_status(env, thread_id) == "interrupted", "interrupted")
        assert fake.calls("generator") == []  # the cancelled run wrote no answer
        await check_answered_call(session, fake)


async def test_mcp_servers_of_the_served_workforce_are_left_running_nowhere(
    fake: FakeOpenAI, env: dict[str, str], tmp_path: Path
) -> None:
    """``serve mcp --mcp FILE``: the file's servers are workers of the served workforce
    (started once to list their tools), and none outlives the serving."""
    pid_dir = tmp_path / "mcp-pids"
    pid_dir.mkdir()
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "calc": {
                        "command": sys.executable,
                        "args": [str(ROOT / "tests" / "mcp_server.py")],
                        "env": {"MCP_TEST_PID_DIR": str(pid_dir)},
                    }
                }
            }
        )
    )
    async with stdio_session(fake, env, "--mcp", str(config)) as session:
        await check_answered_call(session, fake)
        planner_prompt = json.dumps(fake.calls("planner")[-1]["messages"])
        assert "calc" in planner_prompt  # the MCP server's worker was offered
    pids = child_pids(pid_dir)
    assert pids  # it was started
    await await_for(lambda: not any(alive(pid) for pid in pids), "the MCP servers to end")


def _rpc(process: subprocess.Popen[str], message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def _reply(process: subprocess.Popen[str], request_id: int) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, "the server closed stdout"
        message = json.loads(line)
        if message.get("id") == request_id:
            return dict(message)


@pytest.mark.parametrize(("stop", "code"), [(None, 0), (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stdio_server_ends_with_its_client_or_a_signal_leaving_nothing_running(
    fake: FakeOpenAI, env: dict[str, str], children: Path, stop: signal.Signals | None, code: int
) -> None:
    """Closing stdin (the client is gone) or a signal while a run goes on: the run is
    cancelled and recorded as interrupted, the worker's child process killed, and the
    server exits with the documented code, no process of its own left."""
    process = subprocess.Popen(
        [sys.executable, *serve_args(fake)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _rpc(
            process,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": types.LATEST_PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
            },
        )
        assert "result" in _reply(process, 1)
        _rpc(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _rpc(
            process,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "run_task", "arguments": {"task": "BLOCK"}},
            },
        )
        [child] = wait_for(lambda: child_pids(children), "the worker's child")
        descendants = psutil.Process(process.pid).children(recursive=True)
        assert child in {p.pid for p in descendants}
        if stop is None:
            assert process.stdin is not None
            process.stdin.close()
        else:
            process.send_signal(stop)
        assert process.wait(timeout=DEADLINE_S) == code
        assert process.stderr is not None
        err = process.stderr.read()
        assert "Traceback" not in err, err
        if stop is not None:
            assert f"stopped by {stop.name}" in err
        assert not any(alive(p.pid) for p in descendants)
        thread_id = latest_thread(env)
        assert run_status(env, thread_id) == "interrupted"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- streamable HTTP ----------------------------------------------------------------


class HttpServer:
    """``serve mcp --transport http --port 0`` in a subprocess; its URL read from the
    line it prints when it listens."""

    def __init__(self, fake: FakeOpenAI, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *serve_args(fake, "--transport", "http", "--port", "0")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        assert " at http://" in line, line
        self.url = line.split(" at ", 1)[1].split()[0]

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=DEADLINE_S)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def http_server(fake: FakeOpenAI, env: dict[str, str]) -> Iterator[HttpServer]:
    server = HttpServer(fake, env)
    yield server
    server.kill()


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(url) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_http_serves_calls_and_a_closed_session_cancels_its_run(
    fake: FakeOpenAI, env: dict[str, str], children: Path, http_server: HttpServer
) -> None:
    assert http_server.url.startswith("http://127.0.0.1:") and http_server.url.endswith("/mcp")
    async with http_session(http_server.url) as session:
        await check_tool_listing(session)
        await check_answered_call(session, fake)

    # A client that goes away mid-run: its session ends, and the run with it.
    async with http_session(http_server.url) as session, anyio.create_task_group() as tg:
        tg.start_soon(session.call_tool, "run_task", {"task": "BLOCK"})
        [child] = await await_for(lambda: child_pids(children), "the worker's child")
        tg.cancel_scope.cancel()
    await await_for(lambda: not alive(child), "the worker's child to be killed")
    thread_id = latest_thread(env)
    await await_for(lambda: run_status(env, thread_id) == "interrupted", "interrupted")

    async with http_session(http_server.url) as session:  # the server goes on
        await check_answered_call(session, fake)


async def test_http_server_stops_on_sigterm_interrupting_its_runs(
    fake: FakeOpenAI, env: dict[str, str], children: Path, http_server: HttpServer
) -> None:
    outcome: dict[str, Any] = {}
    descendants: list[psutil.Process] = []

    async def blocked_call(session: ClientSession) -> None:
        outcome["result"] = await session.call_tool("run_task", {"task": "BLOCK"})

    with anyio.fail_after(DEADLINE_S):
        async with http_session(http_server.url) as session, anyio.create_task_group() as tg:
            tg.start_soon(blocked_call, session)
            [child] = await await_for(lambda: child_pids(children), "the worker's child")
            descendants.extend(psutil.Process(http_server.process.pid).children(recursive=True))
            code, err = await anyio.to_thread.run_sync(http_server.stop)
    assert code == 143, err
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    assert not any(alive(p.pid) for p in descendants) and not alive(child)
    # The call's reply got out before the sessions closed: the client is not left waiting.
    thread_id = latest_thread(env)
    assert_one_line_tool_error(
        outcome["result"], "the server stopped", f"workforce-graph resume {thread_id}"
    )
    assert run_status(env, thread_id) == "interrupted"


# -- configuration errors -------------------------------------------------------------


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("workforce-graph: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("WORKFORCE_GRAPH_") or key.endswith("_API_KEY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WORKFORCE_GRAPH_DB", str(tmp_path / "runs.sqlite"))


def test_a_port_in_use_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], in_process: None
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = call(
            capsys, "serve", "mcp", "--transport", "http", "--port", str(port), "--model", "m"
        )
    assert code == 2 and out == ""
    assert_one_line_error(err, f"port {port} on 127.0.0.1 is in use", "--port")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "nosuchprovider:model"], ("nosuchprovider",)),
        (["--model", "openai:gpt-4o-mini"], ("OPENAI_API_KEY",)),
        (["--model", "m", "--db", "."], ("run database",)),
        (["--model", "m", "--mcp", "missing.json"], ("missing.json",)),
        (["--transport", "http", "--host", "no.such.host.invalid"], ("--host",)),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    in_process: None,
    args: list[str],
    fragments: tuple[str, ...],
) -> None:
    code, out, err = call(capsys, "serve", "mcp", *args)
    assert code == 2 and out == ""
    assert_one_line_error(err, *fragments)
