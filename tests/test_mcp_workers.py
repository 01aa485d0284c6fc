"""MCP servers as workers: a real MCP server (``tests/mcp_server.py``, FastMCP) over stdio
and streamable HTTP, its tools called by a scripted model inside both topologies, the
server's failures as unavailable workers or failed subtasks, and no server process left
behind. The command line's ``--mcp`` is in ``tests/test_mcp_cli.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from tests.conftest import run_graph, spec
from tests.mcp_helpers import (
    DEADLINE_S,
    SERVER,
    assert_none_running,
    free_port,
    started_pids,
    stdio_server,
    wait_for_port,
)
from tests.mcp_server import SECRET
from workforce_graph.mcp import McpConfigError, load_mcp_config, load_mcp_workers
from workforce_graph.testing import ScriptedChatModel, plan_reply


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


@pytest.fixture
def http_server(pid_dir: Path) -> Iterator[str]:
    """The MCP server over streamable HTTP in a subprocess; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        env={**os.environ, "MCP_TEST_PID_DIR": str(pid_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE_S)


def calling(tool: str, args: dict[str, Any] | None = None) -> Callable[[list[BaseMessage]], Any]:
    """A worker that calls ``tool`` once, then reports what it returned."""

    def respond(messages: list[BaseMessage]) -> Any:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            return AIMessage("", tool_calls=[{"name": tool, "args": args or {}, "id": "call-1"}])
        return f"The tool said: {results[-1].text}"

    return respond


def model_for(tool: str, capability: str, args: dict[str, Any] | None = None) -> ScriptedChatModel:
    plan = plan_reply({"id": "s1", "description": f"use {tool}", "capabilities": [capability]})
    return ScriptedChatModel(
        responders={
            "planner": lambda m: plan,
            "worker": calling(tool, args),
            # The answer is the worker's result, as the generator's prompt holds it.
            "generator": lambda m: str(m[-1].content),
        }
    )


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"mcpServers": {"x": {"args": ["a"]}}}, "needs 'command' (stdio) or 'url'"),
        ({"mcpServers": {"x": {"type": "sse", "url": "http://h/sse"}}}, "unknown transport 'sse'"),
        ({"mcpServers": {"x": {"command": "c", "capabilites": ["a"]}}}, "unknown key"),
        ({"mcpServers": {"x": {"url": "ftp://h/mcp"}}}, "http(s) URL"),
        ({"mcpServers": {"Bad Name": {"command": "c"}}}, "server name 'Bad Name'"),
        ({"mcpServers": ["c"]}, '"mcpServers"'),
        ({"mcpServers": {"x": {"command": "c", "timeout_s": 0}}}, "timeout_s"),
    ],
)
def test_a_bad_configuration_is_one_line_naming_the_server(
    config: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(McpConfigError) as raised:
        load_mcp_config(config)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_desktop_client_configurations_load_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(
        json.dumps(
            {
                "globalShortcut": "Ctrl+Space",
                "mcpServers": {
                    "files": {"command": "npx", "args": ["-y", "server-fs"], "cwd": "sub"},
                    "remote": {"type": "streamableHttp", "url": "http://127.0.0.1:1/mcp"},
                    "off": {"command": "x", "disabled": True, "autoApprove": []},
                },
            }
        )
    )
    config = load_mcp_config(path)
    assert list(config.servers) == ["files", "remote"]
    assert config.servers["files"].transport == "stdio"
    assert config.servers["files"].cwd == str((tmp_path / "sub").resolve())  # type: ignore[union-attr]
    assert config.servers["remote"].transport == "streamable_http"


# -- the graph, over both transports -------------------------------------------------


async def test_stdio_server_tool_runs_in_the_graph_and_no_process_is_left(
    pid_dir: Path,
) -> None:
    model = model_for("secret_word", "secret_word")
    final, _ = await run_graph(
        model,
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={"mcpServers": {"calc": stdio_server(pid_dir)}},
    )
    assert final["subtasks"][0]["worker"] == "calc"
    assert final["answer"]["complete"] is True
    assert SECRET in final["answer"]["text"]
    # Loading the workers started it once, the call once more; both are gone.
    assert len(started_pids(pid_dir)) == 2
    assert_none_running(pid_dir)
    planner_prompt = model.calls_by_role("planner")[0]["prompt"]
    assert "- calc: Exact arithmetic and a secret word." in planner_prompt
    assert "tools: add, secret_word, refuse, crash, hang" in planner_prompt


async def test_streamable_http_server_tool_runs_in_the_flow_too(http_server: str) -> None:
    from workforce_graph import build_flow_graph

    workers = await load_mcp_workers(
        {"mcpServers": {"calc": {"type": "http", "url": http_server, "capabilities": ["math"]}}}
    )
    (calc,) = workers.specs
    assert calc.available and list(calc.capabilities) == ["math"]
    wrong = http_server.removesuffix("/mcp") + "/nope"
    (lost,) = (await load_mcp_workers({"mcpServers": {"calc": {"url": wrong}}})).specs
    assert lost.unavailable_reason == (
        f"MCP server 'calc' at {wrong} answered HTTP 404 during start-up (check the URL's path)"
    )
    # The workforce topology first.
    final, _ = await run_graph(
        model_for("add", "math", {"a": 40, "b": 2}),
        workers=[spec("reasoning", "reasoning")],
        mcp_servers=workers,
    )
    assert final["answer"]["complete"] is True and "The tool said: 42" in final["answer"]["text"]
    # The same workers in the flow: its executor calls the tool the same way.
    graph = build_flow_graph(
        model=ScriptedChatModel(
            responders={
                "query_analysis": lambda m: {
                    "needs": "a sum",
                    "capabilities": ["math"],
                    "answer_form": "a number",
                },
                "planner": lambda m: {
                    "justification": "it adds",
                    "context": "",
                    "sub_goal": "add 40 and 2",
                    "worker": "calc",
                },
                "executor": calling("add", {"a": 40, "b": 2}),
                "verifier": lambda m: {"reason": "done", "decision": "STOP"},
                "generator": lambda m: str(m[-1].content),
            }
        ),
        workers=[spec("reasoning", "reasoning")],
        mcp_servers=workers,
    ).compile()
    result = await graph.ainvoke({"task": "add 40 and 2"})
    assert "42" in result["answer"]["text"]


async def test_a_server_that_cannot_start_is_unavailable_and_the_run_goes_on(
    pid_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_for("secret_word", "secret_word")
    final, _ = await run_graph(
        model,
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={
            "mcpServers": {
                "calc": stdio_server(pid_dir),
                "broken": stdio_server(pid_dir, "--fail-start"),
                "missing": {"command": "no-such-mcp-server-command"},
                "remote": {"url": f"http://127.0.0.1:{free_port()}/mcp"},
            }
        },
    )
    assert final["answer"]["complete"] is True and SECRET in final["answer"]["text"]
    prompt = model.calls_by_role("planner")[0]["prompt"]
    assert "- calc:" in prompt
    assert "- broken:" not in prompt and "- missing:" not in prompt and "- remote:" not in prompt
    monkeypatch.delenv("CALC_TOKEN", raising=False)
    workers = await load_mcp_workers(
        {
            "mcpServers": {
                "broken": stdio_server(pid_dir, "--fail-start"),
                "missing": {"command": "no-such-mcp-server-command"},
                "remote": {"url": "http://127.0.0.1:9/mcp"},
                "keyless": {"command": sys.executable, "env": {"TOKEN": "${CALC_TOKEN}"}},
            }
        }
    )
    reasons = {w.name: w.unavailable_reason for w in workers.specs}
    assert reasons["keyless"] == (
        "MCP server 'keyless': env TOKEN: environment variable CALC_TOKEN is not set"
    )
    assert reasons["broken"] == (
        "MCP server 'broken' exited during start-up "
        "(last line on its stderr: calc server: CALC_LICENCE is not set)"
    )
    assert reasons["missing"] == (
        "MCP server 'missing' cannot start: command 'no-such-mcp-server-command' not found"
    )
    assert reasons["remote"] is not None and reasons["remote"].startswith(
        "cannot reach MCP server 'remote' at http://127.0.0.1:9/mcp: "
    )
    assert_none_running(pid_dir)


async def test_a_server_crashing_mid_call_fails_the_subtask_with_the_reason(
    pid_dir: Path,
) -> None:
    final, _ = await run_graph(
        model_for("crash", "crash"),
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={"mcpServers": {"calc": stdio_server(pid_dir)}},
        max_retries=0,
        max_replans=0,
    )
    (subtask,) = final["subtasks"]
    assert subtask["status"] == "failed"
    assert subtask["failure_reason"] == (
        "crash: MCP server 'calc' exited during the call to 'crash' "
        "(last line on its stderr: calc server: crashing on purpose)"
    )
    assert final["answer"]["complete"] is False
    assert_none_running(pid_dir)


async def test_an_http_server_that_dies_mid_call_fails_the_subtask(http_server: str) -> None:
    final, _ = await run_graph(
        model_for("crash", "crash"),
        workers=[spec("reasoning", "reasoning")],
        # A limit far past the test's run: the server's end is noticed, not waited out.
        mcp_servers={"mcpServers": {"calc": {"url": http_server, "timeout_s": 120}}},
        max_retries=0,
        max_replans=0,
    )
    reason = final["subtasks"][0]["failure_reason"]
    assert reason.startswith(
        f"crash: MCP server 'calc' stopped answering during the call to 'crash': "
        f"{http_server} is no longer reachable ("
    ), reason


async def test_a_call_that_does_not_answer_in_time_fails_the_subtask_and_stops_the_server(
    pid_dir: Path,
) -> None:
    final, _ = await run_graph(
        model_for("hang", "hang"),
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={"mcpServers": {"calc": stdio_server(pid_dir, timeout_s=1)}},
        max_retries=0,
        max_replans=0,
    )
    assert final["subtasks"][0]["failure_reason"] == (
        "hang: MCP server 'calc' did not answer the call to 'hang' within 1 s"
    )
    assert_none_running(pid_dir)


async def test_a_tool_error_goes_back_to_the_model(pid_dir: Path) -> None:
    model = model_for("refuse", "refuse", {"reason": "not today"})
    final, _ = await run_graph(
        model,
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={"mcpServers": {"calc": stdio_server(pid_dir)}},
    )
    assert final["subtasks"][0]["status"] == "done"
    assert "refused: not today" in final["answer"]["text"]


def test_the_synchronous_api_calls_mcp_tools_too(pid_dir: Path) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from workforce_graph import build_workforce_graph

    graph = build_workforce_graph(
        model=model_for("secret_word", "secret_word"),
        workers=[spec("reasoning", "reasoning")],
        mcp_servers={"mcpServers": {"calc": stdio_server(pid_dir)}},
    ).compile(checkpointer=InMemorySaver())
    final = graph.invoke({"task": "the word"}, {"configurable": {"thread_id": "t"}})
    assert SECRET in final["answer"]["text"]
    assert_none_running(pid_dir)
