"""The trajectory format: one JSON object a line, the same for both topologies.

A trajectory is one run: every model call (role, node, subtask or turn, exact input
messages, output, tokens, latency, token ids and logprobs where the backend gives them),
every tool call, the final answer and, once scored, the outcome. ``format`` and
``version`` let readers refuse what they do not understand; docs/trajectories.md is the
reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, ValidationError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelCall",
    "Outcome",
    "ToolCall",
    "Trajectory",
    "TrajectoryFormatError",
    "append_trajectory",
    "message_dict",
    "read_trajectories",
]

FORMAT: Final = "workforce-graph/trajectory"
FORMAT_VERSION = 1

FailureKind = Literal[
    "no_plan", "plan_fallback", "worker_failure", "timeout", "budget", "crash", "wrong_answer"
]
"""How a run was wrong; ``plan_fallback``: the planner gave no valid plan, the request ran
as one subtask, and that answer was wrong."""


class TrajectoryFormatError(ValueError):
    """A file is not a trajectory file of a version this code reads."""


class ModelCall(BaseModel):
    """One chat-model call."""

    index: int
    role: str | None
    """``planner``, ``worker``, ... from the run metadata's ``workforce_role``."""
    node: str | None
    subtask_id: str | None = None
    turn: int | None = None
    step: int | None = None
    """LangGraph superstep: calls of one node execution share it (the last is the one used)."""
    model: str | None = None
    messages: list[dict[str, Any]]
    text: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    parsed: Any = None
    """The JSON object the reply carried (structured output), else ``None``."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    latency_s: float
    error: str | None = None


class ToolCall(BaseModel):
    index: int
    name: str
    role: str | None = None
    node: str | None = None
    subtask_id: str | None = None
    turn: int | None = None
    input: Any = None
    output: str | None = None
    error: str | None = None
    latency_s: float = 0.0


class Outcome(BaseModel):
    """The score of a trajectory, set by the evaluation (never by the run itself)."""

    score: float
    """1.0 correct, 0.0 wrong (the official scorer; a judge never replaces it)."""
    expected: str | None = None
    extracted: str | None = None
    """The text behind ``FINAL ANSWER:`` that was scored."""
    failure: FailureKind | None = None
    judge_score: float | None = None


class Trajectory(BaseModel):
    format: Literal["workforce-graph/trajectory"] = "workforce-graph/trajectory"
    version: int = FORMAT_VERSION
    trajectory_id: str
    group_id: str
    """The question: trajectories of one question form a group (DPO pairs, Flow-GRPO)."""
    topology: str = "workforce"
    question: str = ""
    started_at: float = 0.0
    duration_s: float = 0.0
    calls: list[ModelCall] = Field(default_factory=list)
    tools: list[ToolCall] = Field(default_factory=list)
    answer: str | None = None
    complete: bool | None = None
    error: str | None = None
    outcome: Outcome | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def decisions(self, role: str = "planner") -> list[ModelCall]:
        """The calls of ``role`` whose output the run used, in order.

        A node may call its model several times (a repair after an invalid reply); the
        last successful call of a node execution (same node, step, subtask and turn) is
        the decision, the earlier ones were rejected.
        """
        chosen: dict[tuple[Any, ...], ModelCall] = {}
        for call in self.calls:
            if call.role != role or call.error is not None:
                continue
            chosen[(call.node, call.step, call.subtask_id, call.turn)] = call
        return sorted(chosen.values(), key=lambda c: c.index)


def message_dict(message: BaseMessage) -> dict[str, Any]:
    """A message as an OpenAI-style chat dict (what TRL's conversational rows use)."""
    role = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(
        message.type, message.type
    )
    content = message.content
    out: dict[str, Any] = {
        "role": role,
        "content": content if isinstance(content, str) else json.dumps(content),
    }
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [
            {"id": c.get("id"), "name": c["name"], "args": c["args"]} for c in tool_calls
        ]
    if message.type == "tool":
        out["tool_call_id"] = getattr(message, "tool_call_id", None)
    return out


def append_trajectory(path: str | Path, trajectory: Trajectory) -> None:
    """Append one trajectory as a line of ``path`` (created with its folder if missing)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        handle.write(trajectory.model_dump_json() + "\n")


def _files(sources: Iterable[str | Path]) -> Iterator[Path]:
    for source in sources:
        path = Path(source)
        if path.is_dir():
            # The recorder's and the evaluation's file; other JSONL (results) is not read.
            yield from sorted(path.rglob("trajectories.jsonl"))
        elif path.exists():
            yield path
        else:
            raise TrajectoryFormatError(f"{path}: no such file or folder")


def read_trajectories(sources: Iterable[str | Path]) -> Iterator[Trajectory]:
    """Trajectories from JSONL files, or from the ``trajectories.jsonl`` files in folders.

    Raises:
        TrajectoryFormatError: A line is not a trajectory of a known version (with its
            file and line number).
    """
    for path in _files(sources):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TrajectoryFormatError(f"{where}: not JSON ({exc.msg})") from exc
                if not isinstance(data, dict) or data.get("format") != FORMAT:
                    raise TrajectoryFormatError(f"{where}: not a {FORMAT} line")
                if data.get("version") != FORMAT_VERSION:
                    raise TrajectoryFormatError(
                        f"{where}: trajectory version {data.get('version')!r}; "
                        f"this workforce-graph reads version {FORMAT_VERSION}"
                    )
                try:
                    yield Trajectory.model_validate(data)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    loc = ".".join(str(p) for p in first["loc"])
                    raise TrajectoryFormatError(f"{where}: {loc}: {first['msg']}") from exc
