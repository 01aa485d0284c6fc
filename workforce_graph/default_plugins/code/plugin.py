"""The ``code`` worker: writes Python and runs it in a sandbox (E2B or local).

The ``run_python`` tool hands the model back what the program printed. When the
sandbox stops the code (timeout, CPU, memory), that is a tool result too, so the model
can fix its code; when the sandbox itself cannot run (E2B unreachable, no interpreter),
the tool raises :class:`~workforce_graph.workers.SubtaskFailed` and the subtask fails
with that reason.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from workforce_graph.default_plugins.code.sandbox import (
    ExecutionResult,
    Sandbox,
    SandboxError,
    default_sandbox,
)
from workforce_graph.hookspecs import hookimpl
from workforce_graph.workers import SubtaskFailed, WorkerSpec

__all__ = ["SYSTEM_PROMPT", "make_run_python_tool", "register_workers"]

SYSTEM_PROMPT = """You solve the subtask by writing and running Python with the \
run_python tool. Each call runs one complete, self-contained program in a fresh \
process and a fresh empty directory: nothing (variables, imports, files) carries over \
between calls, so repeat what you need. Only what the program prints comes back, so \
print() the values you need. There is no internet access and no input(); time and \
memory are limited, so prefer exact arithmetic and efficient algorithms. Read a \
traceback, fix the code and run it again. When the output answers the subtask, reply \
with the result stated plainly. If it cannot be done with code, reply with one line \
starting with "FAILED:" and the reason."""

_DESCRIPTION = (
    "Run a complete Python 3 program in an isolated sandbox and return its exit code, "
    "stdout and stderr. Nothing persists between calls; print() what you need to see."
)


_NO_CODE = "error: no code given; pass a complete Python program in `code`"


def _format(result: ExecutionResult) -> str:
    text = result.to_text()
    if result.killed_reason:
        text += (
            "\nThe sandbox stopped this program. Make it faster or use less memory "
            "(smaller inputs, a better algorithm) and run it again."
        )
    return text


class RunPythonInput(BaseModel):
    """Arguments of the ``run_python`` tool."""

    code: str = Field(description="A complete Python program that prints its result.")


def make_run_python_tool(
    sandbox_factory: Callable[[], Sandbox] = default_sandbox,
) -> BaseTool:
    """Build the ``run_python`` tool around a sandbox made on first use.

    Args:
        sandbox_factory: Makes the sandbox; :func:`~.sandbox.default_sandbox`
            (E2B iff ``E2B_API_KEY`` is set) by default.

    Returns:
        A LangChain tool with sync and async implementations.

    Example:
        >>> tool = make_run_python_tool()
        >>> print(tool.invoke({"code": "print(2 ** 10)"}))
        exit code: 0
        stdout:
        1024
        <BLANKLINE>
    """
    lock = threading.Lock()
    holder: list[Sandbox] = []

    def sandbox() -> Sandbox:
        with lock:
            if not holder:
                try:
                    holder.append(sandbox_factory())
                except (SandboxError, ValueError) as e:
                    raise SubtaskFailed(f"code sandbox unavailable: {e}") from e
            return holder[0]

    def run_python(code: str) -> str:
        if not code.strip():
            return _NO_CODE
        try:
            return _format(sandbox().run(code))
        except SandboxError as e:
            raise SubtaskFailed(f"code sandbox failed: {e}") from e

    async def arun_python(code: str) -> str:
        if not code.strip():
            return _NO_CODE
        try:
            return _format(await sandbox().arun(code))
        except SandboxError as e:
            raise SubtaskFailed(f"code sandbox failed: {e}") from e

    return StructuredTool.from_function(
        func=run_python,
        coroutine=arun_python,
        name="run_python",
        description=_DESCRIPTION,
        args_schema=RunPythonInput,
    )


def _limitations() -> tuple[str, ...]:
    if os.environ.get("E2B_API_KEY", "").strip():
        return (
            "runs in a remote E2B sandbox: nothing persists between calls",
            "each run is bounded in time",
            "cannot see the user's local files",
        )
    return (
        "no network access (packages must already be installed)",
        "each run is bounded in time, CPU and memory",
        "nothing persists between calls; cannot read the user's files",
    )


@hookimpl
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    unavailable = None
    if os.name != "posix" and not os.environ.get("E2B_API_KEY", "").strip():
        unavailable = "the local code sandbox needs Linux or macOS; set E2B_API_KEY to use E2B"
    register(
        WorkerSpec(
            name="code",
            description="Writes and runs Python programs to compute exact answers: "
            "arithmetic, statistics, data analysis, simulations, puzzles, string work.",
            capabilities=("python", "code_execution", "data_analysis", "math"),
            tools=(make_run_python_tool(),),
            system_prompt=SYSTEM_PROMPT,
            limitations=_limitations(),
            examples=(
                "Compute the 50th Fibonacci number modulo 1,000,007",
                "Find all combinations of 4, 7, 8, 8 that make 24 with + - * /",
                "Given this table of values, compute the mean, median and a linear fit",
            ),
            unavailable_reason=unavailable,
        )
    )
