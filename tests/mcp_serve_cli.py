"""``workforce-graph`` with one test worker, for the ``serve mcp`` tests' subprocesses.

The worker, ``sleeper`` (capability ``reasoning``), answers ``Result of <id>.`` at once,
unless the request holds ``BLOCK``: then it starts a child process that sleeps for an
hour, writes the child's pid to ``$MCP_SERVE_CHILD_DIR/<pid>.pid`` and waits for it, so
a test can see a run that only cancelling ends, and check that the run's cancellation
reaches the worker (the child is killed on the way out).

Usage: ``python tests/mcp_serve_cli.py serve mcp --model fake-model --base-url URL``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableLambda

from workforce_graph.cli import main
from workforce_graph.hookspecs import hookimpl
from workforce_graph.plugins import get_plugin_manager
from workforce_graph.workers import SubtaskContext, WorkerSpec

BLOCK = "BLOCK"
CHILD_DIR_ENV = "MCP_SERVE_CHILD_DIR"


async def _work(context: SubtaskContext) -> str:
    if BLOCK not in context["request"]:
        return f"Result of {context['subtask_id']}."
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(3600)"
    )
    folder = os.environ.get(CHILD_DIR_ENV)
    if folder:
        Path(folder, f"{child.pid}.pid").write_text(str(child.pid))
    try:
        await child.wait()
        return "the child ended"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def _factory(model: Any) -> RunnableLambda[SubtaskContext, str]:
    return RunnableLambda(_work)


class _Sleeper:
    @staticmethod
    @hookimpl
    def register_workers(register: Callable[[WorkerSpec], None]) -> None:
        register(
            WorkerSpec(
                name="sleeper",
                description="Answers at once, or waits until cancelled.",
                capabilities=("reasoning",),
                factory=_factory,
            )
        )


if __name__ == "__main__":
    get_plugin_manager().register(_Sleeper(), name="test-sleeper")
    main(sys.argv[1:])
