"""The ``code`` worker: its declaration, its ``run_python`` tool and its failure modes."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from workforce_graph.default_plugins.code import plugin as code_plugin
from workforce_graph.default_plugins.code.sandbox import (
    ExecutionResult,
    LocalSandbox,
    SandboxError,
    SandboxLimits,
)
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.worker_runtime import run_worker
from workforce_graph.workers import SubtaskContext, SubtaskFailed, WorkerSpec

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the local sandbox needs POSIX")

FAST = SandboxLimits(timeout_s=10, cpu_s=5, memory_mb=256, max_output_bytes=2000)


def registered() -> WorkerSpec:
    specs: list[WorkerSpec] = []
    code_plugin.register_workers(register=specs.append)
    assert len(specs) == 1
    return specs[0]


def context(description: str = "Add up 1..100") -> SubtaskContext:
    return SubtaskContext(
        request="What is 1 + 2 + ... + 100?",
        subtask_id="s1",
        description=description,
        capabilities=["python"],
        dependency_results={},
        attachments=[],
    )


class BrokenSandbox:
    """A sandbox whose infrastructure is down."""

    name = "broken"

    def run(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        raise SandboxError("E2B is unreachable (connection refused)")

    async def arun(self, code: str, *, timeout_s: float | None = None) -> ExecutionResult:
        raise SandboxError("E2B is unreachable (connection refused)")


def test_declaration() -> None:
    spec = registered()
    assert spec.name == "code" and spec.available
    assert {"python", "code_execution", "data_analysis", "math"} <= set(spec.capabilities)
    assert [t.name for t in spec.tools] == ["run_python"]
    assert "print" in spec.system_prompt
    assert any("network" in lim for lim in spec.limitations)
    card = spec.card()
    assert card["tools"][0]["name"] == "run_python" and card["examples"]


def test_tool_returns_output_to_the_model() -> None:
    tool = code_plugin.make_run_python_tool(lambda: LocalSandbox(FAST))
    text = tool.invoke({"code": "print(sum(range(101)))"})
    assert text == "exit code: 0\nstdout:\n5050\n"


async def test_async_tool_reports_a_traceback() -> None:
    tool = code_plugin.make_run_python_tool(lambda: LocalSandbox(FAST))
    text = await tool.ainvoke({"code": "print(1 / 0)"})
    assert text.startswith("exit code: 1") and "ZeroDivisionError" in text


def test_a_sandbox_kill_is_a_tool_result_the_model_can_act_on() -> None:
    tool = code_plugin.make_run_python_tool(
        lambda: LocalSandbox(SandboxLimits(timeout_s=1.0, cpu_s=5))
    )
    text = tool.invoke({"code": "while True:\n    pass"})
    assert text.startswith("killed by the sandbox: wall-clock timeout")
    assert "run it again" in text


def test_empty_code_is_answered_not_run() -> None:
    tool = code_plugin.make_run_python_tool(lambda: BrokenSandbox())
    assert tool.invoke({"code": "   "}).startswith("error: no code given")


def test_infrastructure_failure_raises_subtask_failed() -> None:
    tool = code_plugin.make_run_python_tool(lambda: BrokenSandbox())
    with pytest.raises(SubtaskFailed, match="code sandbox failed: E2B is unreachable"):
        tool.invoke({"code": "print(1)"})


async def test_sandbox_that_cannot_be_built_raises_subtask_failed() -> None:
    def factory() -> Any:
        raise SandboxError("the local code sandbox needs Linux or macOS")

    tool = code_plugin.make_run_python_tool(factory)
    with pytest.raises(SubtaskFailed, match="code sandbox unavailable"):
        await tool.ainvoke({"code": "print(1)"})


def test_with_e2b_key_the_tool_uses_e2b_and_maps_its_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # E2B_API_URL points the SDK's control plane at a closed local port: no internet.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("E2B_API_KEY", "e2b_test")
    monkeypatch.setenv("E2B_API_URL", f"http://127.0.0.1:{port}")
    tool = code_plugin.make_run_python_tool()
    with pytest.raises(SubtaskFailed, match="E2B is unreachable"):
        tool.invoke({"code": "print(1)"})


def _scripted_worker(code: str) -> ScriptedChatModel:
    def worker(messages: list[BaseMessage]) -> Any:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            return AIMessage(
                "", tool_calls=[{"name": "run_python", "args": {"code": code}, "id": "call-1"}]
            )
        return f"The sum is {str(results[-1].content).split()[-1]}"

    return ScriptedChatModel(responders={"worker": worker})


async def test_worker_runs_code_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    spec = registered()
    model = _scripted_worker("print(sum(range(101)))")
    result = await run_worker(spec, model, context())
    assert result == {
        "status": "done",
        "result": "The sum is 5050",
        "reason": None,
        "tool_calls": 1,
        "kind": None,
    }
    assert [t.name for t in model.bound_tools] == ["run_python"]


async def test_worker_fails_the_subtask_when_the_sandbox_is_down() -> None:
    spec = WorkerSpec(
        name="code",
        description="Runs Python.",
        capabilities=("python",),
        tools=(code_plugin.make_run_python_tool(lambda: BrokenSandbox()),),
        system_prompt=code_plugin.SYSTEM_PROMPT,
    )
    result = await run_worker(spec, _scripted_worker("print(1)"), context())
    assert result["status"] == "failed"
    assert (
        result["reason"]
        == "run_python: code sandbox failed: E2B is unreachable (connection refused)"
    )
