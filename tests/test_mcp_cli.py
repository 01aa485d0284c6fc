"""``--mcp FILE`` on the command line: ``run`` calls an MCP server's tool through the real
OpenAI client, ``plugins`` lists the MCP workers with their tools, a bad file is one line
and exit 2, and Ctrl-C or SIGTERM mid-call leaves no server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.mcp_helpers import (
    DEADLINE_S,
    SERVER,
    alive,
    assert_none_running,
    started_pids,
    stdio_server,
)
from tests.mcp_server import SECRET
from workforce_graph.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pid_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


def _call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("WORKFORCE_GRAPH_") or key.endswith("_API_KEY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WORKFORCE_GRAPH_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("COLUMNS", "200")
    # Only the subprocesses get WORKFORCE_GRAPH_PLUGINS: in this process the plugin
    # manager is loaded once, and later tests need every plugin.
    return {
        **os.environ,
        "WORKFORCE_GRAPH_PLUGINS": "reasoning",
        "PYTHONPATH": str(ROOT),
        "LANGSMITH_TRACING": "false",
    }


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ('{"mcpServers": {"x": {"type": "websocket", "url": "ws://h"}}}', "unknown transport"),
        ('{"mcpServers": {"x": {"command": 3}}}', "server 'x': command"),
    ],
)
def test_cli_bad_configuration_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    cli_env: dict[str, str],
    content: str | None,
    fragment: str,
) -> None:
    path = tmp_path / "mcp.json"
    if content is not None:
        path.write_text(content)
    for command in (["plugins", "--mcp", str(path)], ["run", "a task", "--mcp", str(path)]):
        code, out, err = _call(capsys, *command)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and out == ""
        assert len(lines) == 1 and lines[0].startswith("workforce-graph: error: "), err
        assert fragment in lines[0] and str(path) in lines[0]


def test_cli_plugins_lists_mcp_workers_with_their_tools(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cli_env: dict[str, str], pid_dir: Path
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "calc": stdio_server(pid_dir, capabilities=["math"]),
                    "broken": stdio_server(pid_dir, "--fail-start"),
                }
            }
        )
    )
    code, out, _ = _call(capsys, "plugins", "--mcp", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    (mcp,) = [p for p in report["plugins"] if p["name"] == "mcp"]
    workers = {w["name"]: w for w in mcp["workers"]}
    assert workers["calc"]["available"] is True
    assert workers["calc"]["capabilities"] == ["math"]
    assert workers["calc"]["tools"] == ["add", "secret_word", "refuse", "crash", "hang"]
    assert workers["calc"]["mcp"] == {"transport": "stdio", "where": f"{sys.executable} {SERVER}"}
    assert workers["broken"]["available"] is False
    assert "CALC_LICENCE is not set" in workers["broken"]["unavailable_reason"]
    code, out, _ = _call(capsys, "plugins", "--mcp", str(path))
    assert code == 0 and "calc" in out and "secret_word" in out and "unavailable" in out
    assert_none_running(pid_dir)


class ToolCallingOpenAI(FakeOpenAI):
    """The fake OpenAI server, where a reply ``{"tool_calls": [[name, args], ...]}`` is
    sent as the assistant's tool calls (as a model calling the MCP server's tools)."""

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        payload = super()._completion(body)
        message = payload["choices"][0]["message"]
        try:
            reply = json.loads(message["content"])
        except (TypeError, ValueError):
            return payload
        if isinstance(reply, dict) and "tool_calls" in reply:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call-{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(reply["tool_calls"])
            ]
            payload["choices"][0]["finish_reason"] = "tool_calls"
        return payload


def _openai_worker(tool: str) -> Callable[[list[dict[str, Any]], dict[str, Any]], Any]:
    def respond(messages: list[dict[str, Any]], body: dict[str, Any]) -> Any:
        said = [m for m in messages if m.get("role") == "tool"]
        if not said:
            return {"tool_calls": [[tool, {}]]}
        content = said[-1]["content"]
        text = content if isinstance(content, str) else "".join(p["text"] for p in content)
        return f"The tool said: {text}"

    return respond


def _openai(tool: str, capability: str) -> ToolCallingOpenAI:
    return ToolCallingOpenAI(
        plan=[{"id": "s1", "description": f"use {tool}", "capabilities": [capability]}],
        responders={
            "worker": _openai_worker(tool),
            "generator": lambda messages, body: str(messages[-1]["content"]),
        },
    )


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workforce_graph.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_run_with_mcp_calls_the_tool_and_leaves_no_process(
    tmp_path: Path, cli_env: dict[str, str], pid_dir: Path
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"calc": stdio_server(pid_dir)}}))
    with _openai("secret_word", "secret_word") as fake:
        process = _cli(
            cli_env,
            "run",
            "What is the secret word?",
            "--model",
            "fake-model",
            "--base-url",
            fake.base_url,
            "--mcp",
            str(path),
            "--json",
        )
        out, err = process.communicate(timeout=DEADLINE_S * 2)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["complete"] is True and SECRET in result["answer"]
    assert "Traceback" not in err
    assert_none_running(pid_dir)
    # The server's name and tools were in the planner's prompt.
    assert "tools: add, secret_word" in json.dumps(fake.calls("planner")[0]["messages"])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_stopped_mid_call_stops_the_mcp_server_too(
    tmp_path: Path, cli_env: dict[str, str], pid_dir: Path, stop: signal.Signals
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"calc": stdio_server(pid_dir)}}))
    with _openai("hang", "hang") as fake:
        process = _cli(
            cli_env,
            "run",
            "Wait forever",
            "--model",
            "fake-model",
            "--base-url",
            fake.base_url,
            "--mcp",
            str(path),
            "--events",
        )
        try:
            deadline = time.monotonic() + DEADLINE_S * 2
            # The second start is the one for the call (the first listed the tools).
            while len(started_pids(pid_dir)) < 2 or not any(
                alive(pid) for pid in started_pids(pid_dir)
            ):
                assert time.monotonic() < deadline, "the tool call never started"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.05)
                    raise AssertionError(f"the CLI ended early: {process.stderr.read()}")  # type: ignore[union-attr]
            process.send_signal(stop)
            _, err = process.communicate(timeout=DEADLINE_S)
        finally:
            process.kill()
    assert process.returncode == 128 + stop
    assert "Interrupted run" in err and "Traceback" not in err
    assert_none_running(pid_dir)


def test_cli_run_with_a_given_plan_for_an_mcp_worker(
    tmp_path: Path, cli_env: dict[str, str], pid_dir: Path
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"calc": stdio_server(pid_dir)}}))
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {"subtasks": [{"id": "s1", "description": "get it", "capabilities": ["secret_word"]}]}
        )
    )
    with _openai("secret_word", "secret_word") as fake:
        common = ["--model", "fake-model", "--base-url", fake.base_url, "--json"]
        process = _cli(
            cli_env, "run", "The word?", "--plan", str(plan), "--mcp", str(path), *common
        )
        out, err = process.communicate(timeout=DEADLINE_S * 2)
        assert process.returncode == 0, err
        assert SECRET in json.loads(out)["answer"]
        assert fake.calls("planner") == []
        # Without --mcp, no worker offers the plan's capability: refused before the run.
        process = _cli(cli_env, "run", "The word?", "--plan", str(plan), *common)
        _, err = process.communicate(timeout=DEADLINE_S * 2)
    assert process.returncode == 2 and "secret_word" in err
    assert_none_running(pid_dir)
