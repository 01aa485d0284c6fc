"""Tool replay: workers whose tools answer from recorded trajectories.

A replayed tool returns what the recorded call with the same name and arguments
returned (in recorded order when the same call was made several times), so an
evaluation or a test re-run does not drift with the web. A call that was never
recorded ends its subtask as failed with that reason rather than reaching the network.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from workforce_graph.trajectory.format import Trajectory
from workforce_graph.workers import SubtaskFailed, WorkerSpec

__all__ = ["ReplayedWorkers", "ToolReplay", "replay_workers"]


def _key(name: str, arguments: Any) -> str:
    return name + "\x00" + json.dumps(arguments, sort_keys=True, default=str)


class ToolReplay:
    """Recorded tool results by tool name and arguments."""

    def __init__(self, trajectories: Iterable[Trajectory]) -> None:
        self._answers: dict[str, deque[tuple[str | None, str | None]]] = defaultdict(deque)
        self._last: dict[str, tuple[str | None, str | None]] = {}
        for trajectory in trajectories:
            for call in trajectory.tools:
                self._answers[_key(call.name, call.input)].append((call.output, call.error))
        self.replayed = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._answers.values())

    def answer(self, name: str, arguments: Any) -> str:
        """The recorded output; the same call made more often than recorded repeats the
        last recorded answer."""
        key = _key(name, arguments)
        queue = self._answers.get(key)
        if queue:
            self._last[key] = queue.popleft()
        if key not in self._last:
            raise SubtaskFailed(
                f"tool {name} was not recorded with arguments "
                f"{json.dumps(arguments, default=str)[:200]}; replay cannot answer it"
            )
        self.replayed += 1
        output, error = self._last[key]
        if error is not None:
            raise ToolException(error)
        return output or ""

    def tool(self, original: BaseTool) -> BaseTool:
        """``original``'s name, description and arguments, answering from the recording."""

        async def replayed(**arguments: Any) -> str:
            return self.answer(original.name, arguments)

        return StructuredTool.from_function(
            coroutine=replayed,
            name=original.name,
            description=original.description,
            args_schema=original.args_schema,
            handle_tool_error=True,
        )


def replay_workers(
    workers: Sequence[WorkerSpec], source: ToolReplay | Iterable[Trajectory]
) -> list[WorkerSpec]:
    """``workers`` with every tool answering from ``source`` (custom workers built by a
    ``factory`` are kept as they are: their tools are theirs to replay)."""
    replay = source if isinstance(source, ToolReplay) else ToolReplay(source)
    return [
        replace(spec, tools=tuple(replay.tool(t) for t in spec.tools)) if spec.tools else spec
        for spec in workers
    ]


class ReplayedWorkers:
    """A picklable workers factory: the installed workers, tools replayed from the
    trajectory files or folders ``sources`` (for ``eval --replay``, Ray included)."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.sources = list(sources)

    def __call__(self) -> list[WorkerSpec]:
        from workforce_graph.plugins import collect_workers
        from workforce_graph.trajectory.format import read_trajectories

        registry = collect_workers()
        return replay_workers(list(registry.available.values()), read_trajectories(self.sources))
