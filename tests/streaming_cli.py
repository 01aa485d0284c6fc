"""The real CLI with a scripted model, for tests that run it as a process.

``python tests/streaming_cli.py ARGS...`` is ``workforce-graph ARGS...`` with every role
answered by one scripted model and no server check. The generator answers
:data:`ANSWER` word by word; when ``$STREAM_GATE_FD`` names a readable file descriptor,
it waits before each piece after the first for one byte from it, so a test decides
when each piece of the answer may be written (and sees it arrive before the next).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from workforce_graph.cli import execute, main
from workforce_graph.testing import ScriptedChatModel, plan_reply
from workforce_graph.topologies import get_topology

ANSWER = "Alpha Bravo Charlie Delta Echo"
GATE_ENV = "STREAM_GATE_FD"


class GatedModel(ScriptedChatModel):
    """Streams the answer only as fast as the gate lets it."""

    gate_fd: int | None = None

    async def _before_chunk(self, index: int, role: str) -> None:
        if index and role == "generator" and self.gate_fd is not None:
            await asyncio.to_thread(os.read, self.gate_fd, 1)


def scripted_models(options: Any) -> dict[str, Any]:
    gate = os.environ.get(GATE_ENV)
    model = GatedModel(
        responders={
            "planner": plan_reply(
                {"id": "s1", "description": "Find the facts", "capabilities": ["reasoning"]}
            ),
            "worker": "the facts",
            "generator": ANSWER,
        },
        gate_fd=int(gate) if gate else None,
    )
    return {role: model for role in get_topology(options.topology).roles}


async def no_server_check(*args: Any, **kwargs: Any) -> None:
    return None


if __name__ == "__main__":
    execute.resolve_models = scripted_models  # type: ignore[assignment]
    execute.check_models = no_server_check  # type: ignore[assignment]
    main()
