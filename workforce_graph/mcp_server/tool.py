"""The one tool the workforce offers MCP clients: its name, description, schemas, the
request it reads from the call's arguments and the result it returns.

The arguments are checked here, before any model is asked, so a bad call costs
nothing and comes back as one line: an empty or over-long task, an attachment that
is a URL, a folder or an unreadable file, an unknown topology.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from workforce_graph.attachments import UnreadableAttachment, attachment_path
from workforce_graph.bounds import RequestTooLong, check_request
from workforce_graph.topologies import DEFAULT_TOPOLOGY, TOPOLOGIES

__all__ = [
    "INPUT_SCHEMA",
    "TOOL_DESCRIPTION",
    "TOOL_NAME",
    "FailedPart",
    "RequestError",
    "RunRequest",
    "RunResult",
    "parse_request",
    "result_text",
]

TOOL_NAME = "run_task"
TOOL_DESCRIPTION = (
    "Give a self-contained task to a team of AI workers and get one answer back. A "
    "planner splits the task into subtasks, specialised workers run them (in parallel "
    "where they do not depend on each other), and a generator writes the answer. The "
    "result says whether the answer is complete (and which parts failed, and why), the "
    "tokens used per role, and the thread id under which the run is kept "
    "('workforce-graph show THREAD'). Runs take from seconds to minutes; progress is "
    "reported as it happens, and cancelling the call stops the run."
)


class RequestError(ValueError):
    """A call the workforce cannot run; the message is one line for the client."""


INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "The request, self-contained: what to find out, compute or "
            "write, with everything needed to do it.",
        },
        "answer_format": {
            "type": "string",
            "description": "Format the final answer must follow, e.g. 'a single number' "
            "or 'a markdown table'.",
        },
        "attachments": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Files for the workers: paths on the machine the server runs "
            "on (absolute, or relative to its working directory), as 'workforce-graph run "
            "--file' takes them.",
        },
        "topology": {
            "type": "string",
            "enum": list(TOPOLOGIES),
            "default": DEFAULT_TOPOLOGY,
            "description": "How the team works: "
            + "; ".join(f"{spec.name}: {spec.summary}" for spec in TOPOLOGIES.values())
            + ".",
        },
    },
    "required": ["task"],
    "additionalProperties": False,
}
"""The tool's input schema; the server checks every call's arguments against it."""


@dataclass(frozen=True)
class RunRequest:
    """One call's request, checked."""

    task: str
    answer_format: str | None = None
    attachments: list[str] = field(default_factory=list)
    """Absolute paths of readable files."""
    topology: str = DEFAULT_TOPOLOGY


class FailedPart(BaseModel):
    """A part of the request the answer could not cover."""

    id: str = Field(description="The subtask (or turn) id, or 'time' / 'attachments'.")
    reason: str = Field(description="Why it failed, for people.")
    kind: str | None = Field(default=None, description="The failure's kind, for programs.")


class RunResult(BaseModel):
    """The tool's structured result."""

    answer: str = Field(description="The answer's text.")
    complete: bool = Field(description="Whether every part of the request was answered.")
    failed: list[FailedPart] = Field(description="What failed, when the answer is incomplete.")
    usage: dict[str, dict[str, int]] = Field(
        description="Model calls and tokens by role: {'planner': {'calls', 'input_tokens', "
        "'output_tokens'}, 'worker:NAME': ..., ...}."
    )
    thread_id: str = Field(description="The run's thread id in the server's run store.")
    status: str = Field(description="answered, incomplete or failed.")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _attachment(value: str) -> str:
    if "://" in value:
        raise RequestError(
            f"attachment {value!r}: only files can be attached, not URLs; download it and "
            "attach its path, or put the URL in the task"
        )
    try:
        return attachment_path(Path(value).expanduser())
    except UnreadableAttachment as exc:
        raise RequestError(f"attachment {value!r}: {exc}") from exc


def _text(arguments: Mapping[str, Any], name: str) -> str | None:
    value = arguments.get(name)
    if value is None:
        return None
    # JSON may carry lone surrogates ("\ud800"), which no model server accepts.
    return str(value).encode("utf-8", "replace").decode("utf-8")


def parse_request(arguments: Mapping[str, Any]) -> RunRequest:
    """The request in a call's arguments (already checked against :data:`INPUT_SCHEMA`).

    Raises:
        RequestError: The task is empty or too long, an attachment cannot be read, or
            the topology is unknown.

    Example:
        >>> parse_request({"task": "6 x 7?", "topology": "flow"}).topology
        'flow'
    """
    task = _text(arguments, "task") or ""
    if not task.strip():
        raise RequestError("the task is empty")
    try:
        check_request(task, hint="save the text in a file and attach its path")
    except RequestTooLong as exc:
        raise RequestError(str(exc)) from exc
    topology = str(arguments.get("topology") or DEFAULT_TOPOLOGY)
    if topology not in TOPOLOGIES:
        raise RequestError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    files: Sequence[Any] = arguments.get("attachments") or []
    return RunRequest(
        task=task,
        answer_format=_text(arguments, "answer_format"),
        attachments=[_attachment(str(f)) for f in files],
        topology=topology,
    )


def result_text(result: RunResult) -> str:
    """The result as text for clients that read only text: the answer, and a last line
    saying what failed when it is incomplete."""
    if result.complete:
        return result.answer
    parts = "; ".join(f"{f.id}: {_one_line(f.reason)}" for f in result.failed)
    return (
        f"{result.answer}\n\n[incomplete answer"
        + (f": {parts}" if parts else "")
        + f" (thread {result.thread_id})]"
    )
