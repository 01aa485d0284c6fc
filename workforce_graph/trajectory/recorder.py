"""The trajectory recorder: a LangChain callback handler attached through the run config.

It reads each call's role, node, subtask id and turn from the run metadata every node
sets (``workforce_role``, ``workforce_node``, ``subtask_id``, ``turn``; LangGraph's
``langgraph_node`` and ``langgraph_step`` fill the gaps), so the same handler records
both topologies and any graph embedding them. A trajectory is complete when the
outermost run ends; it is then kept in :attr:`TrajectoryRecorder.trajectories` and,
given a folder, appended to ``trajectories.jsonl`` there.

Example:
    >>> recorder = TrajectoryRecorder("trajectories/")
    >>> await graph.ainvoke({"task": "..."}, {"callbacks": [recorder]})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig

from workforce_graph.trajectory.format import (
    ModelCall,
    ToolCall,
    Trajectory,
    append_trajectory,
    message_dict,
)
from workforce_graph.workers import get_subtask_context

__all__ = ["TRAJECTORY_FILE", "TrajectoryRecorder", "group_id_of", "with_recording"]

TRAJECTORY_FILE = "trajectories.jsonl"

_NODE_ROLES = {"workers": "worker"}
"""Roles of nodes whose calls carry no ``workforce_role`` (the node name is the role
elsewhere)."""

_Call = TypeVar("_Call", ModelCall, ToolCall)


def group_id_of(question: str) -> str:
    """The default group id: a digest of the question, so samples of it share one."""
    return hashlib.sha256(question.strip().encode()).hexdigest()[:16]


def _question(inputs: Any) -> str:
    if not isinstance(inputs, Mapping):
        return ""
    if inputs.get("task"):
        return str(inputs["task"])
    for message in reversed(list(inputs.get("messages") or [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def _logprobs(info: Mapping[str, Any]) -> list[float] | None:
    raw = info.get("logprobs")
    if isinstance(raw, Mapping):
        if isinstance(raw.get("content"), list):  # OpenAI chat format
            return [float(t["logprob"]) for t in raw["content"] if "logprob" in t]
        if isinstance(raw.get("token_logprobs"), list):  # llama.cpp completion format
            return [float(v) for v in raw["token_logprobs"] if v is not None]
    if isinstance(raw, list) and all(isinstance(v, int | float) for v in raw):
        return [float(v) for v in raw]
    return None


def _parsed(text: str, tool_calls: list[dict[str, Any]], structured: bool) -> Any:
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return None
    if structured and len(tool_calls) == 1:
        return tool_calls[0].get("args")
    return None


class TrajectoryRecorder(BaseCallbackHandler):
    """Records every run it is attached to as a :class:`Trajectory`.

    Args:
        directory: Append each finished trajectory to ``DIR/trajectories.jsonl``
            (``None``: keep them in memory only).
        topology: ``workforce`` or ``flow``, written into the trajectory.
        group_id: The question's group (default: a digest of the question).
        meta: Copied into every trajectory (dataset, task id, sample, ...).
        on_finish: Called with each finished trajectory.
    """

    run_inline = True  # no thread hop per event: recording must not slow the run

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        topology: str = "workforce",
        group_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        on_finish: Callable[[Trajectory], None] | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.topology = topology
        self.group_id = group_id
        self.meta = dict(meta or {})
        self.on_finish = on_finish
        self.trajectories: list[Trajectory] = []
        self._lock = threading.Lock()
        self._root: UUID | None = None
        self._current: Trajectory | None = None
        self._pending: dict[UUID, tuple[float, ModelCall | ToolCall]] = {}

    # -- the outermost run -------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is not None or self._root is not None:
            return
        question = _question(inputs)
        with self._lock:
            self._root = run_id
            self._current = Trajectory(
                trajectory_id=str(uuid.uuid4()),
                group_id=self.group_id or group_id_of(question),
                topology=self.topology,
                question=question,
                started_at=time.time(),
                meta=dict(self.meta),
            )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self._finish(outputs, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id == self._root:
            self._finish(None, f"{type(error).__name__}: {error}")

    def _finish(self, outputs: Any, error: str | None) -> None:
        with self._lock:
            trajectory, self._current, self._root = self._current, None, None
            self._pending.clear()
        if trajectory is None:
            return
        trajectory.duration_s = time.time() - trajectory.started_at
        trajectory.error = error
        if isinstance(outputs, Mapping):
            answer = outputs.get("answer")
            if isinstance(answer, Mapping):
                trajectory.answer = str(answer.get("text", ""))
                trajectory.complete = bool(answer.get("complete"))
            if outputs.get("error"):
                trajectory.error = str(outputs["error"])
            for key in ("stop", "stop_reason", "replans", "turn", "plan_fallback"):
                if outputs.get(key) is not None:
                    trajectory.meta[key] = outputs[key]
            subtasks = outputs.get("subtasks")
            if isinstance(subtasks, list):
                trajectory.meta["subtasks"] = [
                    {
                        k: s.get(k)
                        for k in ("id", "worker", "status", "failure_reason", "failure_kind")
                    }
                    for s in subtasks
                    if isinstance(s, Mapping)
                ]
        self.trajectories.append(trajectory)
        if self.directory is not None:
            append_trajectory(self.directory / TRAJECTORY_FILE, trajectory)
        if self.on_finish is not None:
            self.on_finish(trajectory)

    # -- model calls -------------------------------------------------------------------

    def _where(self, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        meta = metadata or {}
        node = meta.get("workforce_node") or meta.get("langgraph_node")
        turn = meta.get("turn")
        step = meta.get("langgraph_step")
        subtask = meta.get("subtask_id")
        if subtask is None:
            # Handlers run inline, in the calling task's context: a worker's subtask.
            try:
                subtask = get_subtask_context()["subtask_id"]
            except RuntimeError:
                subtask = None
        return {
            "role": meta.get("workforce_role") or _NODE_ROLES.get(str(node), node),
            "node": node,
            "subtask_id": subtask,
            "turn": int(turn) if isinstance(turn, int) else None,
            "step": int(step) if isinstance(step, int) else None,
        }

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._current is None:
            return
        params = kwargs.get("invocation_params") or {}
        options = kwargs.get("options") or {}
        model = (
            params.get("model") or params.get("model_name") or (metadata or {}).get("ls_model_name")
        )
        call = ModelCall(
            index=0,
            **self._where(metadata),
            model=str(model) if model else None,
            messages=[message_dict(m) for m in (messages[0] if messages else [])],
            latency_s=0.0,
        )
        # Marks a structured-output call, so a lone tool call is the parsed object.
        call.parsed = "ls_structured_output_format" in options or None
        with self._lock:
            self._pending[run_id] = (time.perf_counter(), call)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        taken = self._take(run_id, ModelCall)
        if taken is None:
            return
        started, call = taken
        structured = call.parsed is True
        generation = response.generations[0][0] if response.generations else None
        message = generation.message if isinstance(generation, ChatGeneration) else None
        if isinstance(message, AIMessage):
            call.text = message.content if isinstance(message.content, str) else ""
            call.tool_calls = [
                {"id": c.get("id"), "name": c["name"], "args": c["args"]}
                for c in message.tool_calls
            ]
            usage: Mapping[str, Any] = message.usage_metadata or {}
            call.input_tokens = usage.get("input_tokens")
            call.output_tokens = usage.get("output_tokens")
            info = {**(generation.generation_info or {}), **message.response_metadata}  # type: ignore[union-attr]
            call.logprobs = _logprobs(info)
            ids = info.get("token_ids")
            call.token_ids = [int(i) for i in ids] if isinstance(ids, Sequence) else None
        elif generation is not None:
            call.text = generation.text
        call.parsed = _parsed(call.text, call.tool_calls, structured)
        call.latency_s = time.perf_counter() - started
        self._add(call)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        taken = self._take(run_id, ModelCall)
        if taken is None:
            return
        started, call = taken
        call.parsed = None
        call.error = f"{type(error).__name__}: {error}"
        call.latency_s = time.perf_counter() - started
        self._add(call)

    # -- tool calls --------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self._current is None:
            return
        where = self._where(metadata)
        where.pop("step")
        name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
        call = ToolCall(index=0, name=str(name), **where, input=inputs or input_str)
        with self._lock:
            self._pending[run_id] = (time.perf_counter(), call)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_tool(run_id, output=output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end_tool(run_id, error=f"{type(error).__name__}: {error}")

    def _end_tool(self, run_id: UUID, *, output: Any = None, error: str | None = None) -> None:
        taken = self._take(run_id, ToolCall)
        if taken is None:
            return
        started, call = taken
        content = getattr(output, "content", output)
        call.output = None if output is None else str(content)
        call.error = error
        call.latency_s = time.perf_counter() - started
        self._add(call)

    def _take(self, run_id: UUID, kind: type[_Call]) -> tuple[float, _Call] | None:
        """The pending call of ``run_id`` with its start time, if it is a ``kind``."""
        with self._lock:
            pending = self._pending.pop(run_id, None)
        if pending is None or self._current is None or not isinstance(pending[1], kind):
            return None
        return pending[0], pending[1]

    def _add(self, call: ModelCall | ToolCall) -> None:
        with self._lock:
            trajectory = self._current
            if trajectory is None:
                return
            if isinstance(call, ModelCall):
                call.index = len(trajectory.calls)
                trajectory.calls.append(call)
            else:
                call.index = len(trajectory.tools)
                trajectory.tools.append(call)


def with_recording(
    config: RunnableConfig | None = None,
    *,
    record: str | Path | TrajectoryRecorder,
    topology: str = "workforce",
) -> RunnableConfig:
    """``config`` with a recorder added to its callbacks (``record``: a folder or a
    recorder), so ``graph.ainvoke(input, with_recording(config, record="runs/"))``
    records the run."""
    recorder = (
        record
        if isinstance(record, TrajectoryRecorder)
        else TrajectoryRecorder(record, topology=topology)
    )
    merged: RunnableConfig = dict(config or {})  # type: ignore[assignment]
    callbacks = merged.get("callbacks")
    if callbacks is None:
        merged["callbacks"] = [recorder]
    elif isinstance(callbacks, list):
        merged["callbacks"] = [*callbacks, recorder]
    else:  # a callback manager
        callbacks.add_handler(recorder, inherit=True)
    return merged
