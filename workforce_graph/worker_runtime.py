"""Running one subtask on one worker, with its budgets.

A worker sees the request, its subtask and the brief results of the subtasks it depends
on, nothing else: its prompt does not grow with the plan. Whatever goes wrong (an
exception, the wall-clock timeout, too many tool calls, a declared failure) comes back
as a failed result with a reason, never as an exception, so one node can decide what
happens next.

The built-in tool loop is small and written here rather than built on LangChain's
``create_agent`` with its ``ToolCallLimitMiddleware``: a tool raising
:class:`~workforce_graph.workers.SubtaskFailed` must end the subtask at once with that
reason (an agent turns tool errors into messages for the model), the tool-call budget
is the subtask's and counts calls across turns before they run, and an agent graph per
subtask would add its own supersteps to every subtask of a plan (the orchestration
benchmark counts each). Like the agent's tool node, it runs the tool calls of one model
turn concurrently.

A model that repeats a tool call it already made, with the same arguments, is stuck:
greedy decoding sees the same messages and makes the same call until the budget runs out
(the embedded model did so 15 times for a subtask it could not code). The repeat is not
run; the model is asked once, without tools, for the subtask's result from what it has.
The same goes for a model that names tools that do not exist: told the tools it has, a
small model names another made-up one, turn after turn (the error it gets back does not
help it), so after :data:`UNKNOWN_TOOL_TURNS` such replies in a row it is asked the same
way.

A model server that fails (HTTP 429 or 5xx after the client's retries) is counted in the
run's streak (``streak``, see :mod:`workforce_graph.calls.errors`), and every answered
call ends it; the one exception a worker's run raises is the streak's, when the server
failed too many calls in a row.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal, TypedDict, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from workforce_graph.bounds import REASON_CHARS
from workforce_graph.calls.errors import ServerErrorStreak, call_failure
from workforce_graph.calls.replies import BREVITY_REQUEST, CUT_OFF, was_cut_off, without_echoes
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.failures import FailureKind
from workforce_graph.prompts import brief, render_subtask_prompt
from workforce_graph.workers import SubtaskContext, SubtaskFailed, WorkerSpec, _current_subtask

__all__ = ["DEFAULT_MAX_TOOL_CALLS", "UNKNOWN_TOOL_TURNS", "WorkerResult", "run_worker"]

DEFAULT_MAX_TOOL_CALLS = 15
"""Per-subtask tool-call budget, as in the OWL paper."""

CUT_RETRIES = 1
"""Calls again, asking for brevity, after a reply cut off by the token limit."""
UNKNOWN_TOOL_TURNS = 2
"""Replies in a row naming only tools that do not exist, before the model is asked to
answer without tools."""
FAILED_PREFIX = "FAILED:"

EMPTY_REPLY = (
    "Your reply was empty. Reply with the result of your subtask, or with "
    f'"{FAILED_PREFIX}" and the reason.'
)
ANSWER_NOW = (
    "Tools are no longer available. Write the result of your subtask now from what you "
    f'have, or "{FAILED_PREFIX}" and the reason.'
)

_RESULT_RULES = (
    "Work only on this subtask. Reply with its result, complete and concise; later "
    f"subtasks see only that reply. If you cannot do it, reply with one line starting with "
    f'"{FAILED_PREFIX}" followed by the reason.'
)
_ASKED = (EMPTY_REPLY, ANSWER_NOW, BREVITY_REQUEST)
"""What the runtime may ask a worker mid-subtask: echoed back, it is no result."""


class WorkerResult(TypedDict):
    status: Literal["done", "failed"]
    result: str
    reason: str | None
    tool_calls: int
    kind: FailureKind | None
    """What kind of failure ``reason`` is; ``None`` when done."""


def _failed(reason: str, kind: FailureKind, tool_calls: int = 0) -> WorkerResult:
    return WorkerResult(status="failed", result="", reason=reason, tool_calls=tool_calls, kind=kind)


def _finished(text: str, tool_calls: int) -> WorkerResult:
    stripped = text.strip()
    if stripped.upper().startswith(FAILED_PREFIX):
        reason = stripped[len(FAILED_PREFIX) :].strip() or "the worker gave up without a reason"
        return _failed(reason, "gave_up", tool_calls)
    if not stripped:
        return _failed("the worker returned an empty result", "no_result", tool_calls)
    return WorkerResult(
        status="done", result=stripped, reason=None, tool_calls=tool_calls, kind=None
    )


def _normalise(output: Any) -> WorkerResult:
    """Accept what a custom worker runnable returns: a string, a message or an outcome."""
    if isinstance(output, BaseMessage):
        if was_cut_off(output):
            return _failed(CUT_OFF, "cut_reply")
        return _finished(str(output.content), 0)
    if isinstance(output, str):
        return _finished(output, 0)
    if isinstance(output, dict):
        if output.get("status") == "failed":
            return _failed(str(output.get("reason") or "the worker reported failure"), "gave_up")
        if "result" in output:
            return _finished(str(output["result"]), 0)
        messages = output.get("messages")
        if messages and isinstance(messages[-1], BaseMessage):
            return _normalise(messages[-1])
    return _failed(f"the worker returned {type(output).__name__}, not a result", "no_result")


def _signature(call: ToolCall) -> str:
    return json.dumps([call["name"], call["args"]], sort_keys=True, default=str)


def _answer_now(transcript: list[BaseMessage]) -> str:
    """The tool calls made so far and their results, as text, and the request to answer."""
    lines: list[str] = []
    for message in transcript:
        if isinstance(message, AIMessage):
            lines.extend(
                f"Call: {call['name']} {json.dumps(call['args'])}" for call in message.tool_calls
            )
        elif isinstance(message, ToolMessage):
            lines.append(f"Result: {brief(str(message.content))}")
    return "Tool calls so far and their results:\n" + "\n".join(lines) + f"\n\n{ANSWER_NOW}"


def _with_turn(config: RunnableConfig | None, turn: int) -> RunnableConfig:
    """``config`` with the tool loop's turn in its metadata (a shallow copy: cheaper than
    merge_configs, which rebuilds the callback managers on every model call)."""
    base: RunnableConfig = config or {}
    return {**base, "metadata": {**(base.get("metadata") or {}), "turn": turn}}


async def _tool_loop(
    spec: WorkerSpec,
    model: BaseChatModel,
    context: SubtaskContext,
    *,
    max_tool_calls: int,
    meter: UsageMeter,
    config: RunnableConfig | None,
    counter: list[int],
    streak: ServerErrorStreak,
) -> WorkerResult:
    system = f"{spec.system_prompt}\n\n{_RESULT_RULES}".strip()
    messages: list[BaseMessage] = [
        SystemMessage(system),
        HumanMessage(render_subtask_prompt(context)),
    ]
    tools: dict[str, BaseTool] = {t.name: t for t in spec.tools}
    bound = model.bind_tools(list(spec.tools)) if tools else model
    cut_retries = 0
    # Tools run under the worker's tags and metadata but under their own run names.
    tool_config = cast(RunnableConfig, {k: v for k, v in (config or {}).items() if k != "run_name"})
    turn = 0
    made: set[str] = set()
    stuck = asked_again = False
    unknown_turns = 0
    while True:
        turn += 1
        # Once stuck, the model answers without tools: it cannot repeat the call again.
        caller = model if stuck else bound
        reply = await caller.ainvoke(messages, config=_with_turn(config, turn))
        streak.answered()
        meter.record(reply)
        if was_cut_off(reply):
            # A cut reply is no result (nor are cut tool arguments): ask again, briefly.
            if cut_retries >= CUT_RETRIES:
                return _failed(f"{CUT_OFF}, also when asked to be brief", "cut_reply", counter[0])
            cut_retries += 1
            messages.append(HumanMessage(BREVITY_REQUEST))
            continue
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            text = without_echoes(str(reply.content), (system, *_ASKED))
            if not text and not asked_again:
                # Greedy decoding gives the same empty reply to a plain retry of the
                # subtask; asked in other words, a small model usually answers.
                asked_again = True
                messages.append(HumanMessage(EMPTY_REPLY))
                continue
            return _finished(text, counter[0])
        if stuck:
            return _failed(
                "the worker kept calling tools after being asked to answer", "no_result", counter[0]
            )
        unknown = all(call["name"] not in tools for call in reply.tool_calls)
        unknown_turns = unknown_turns + 1 if unknown else 0
        if unknown_turns >= UNKNOWN_TOOL_TURNS or all(
            _signature(call) in made for call in reply.tool_calls
        ):
            stuck = True
            # Plain text, not the tool-call transcript: asked to answer after one, small
            # models write another call as text.
            messages = [*messages[:2], HumanMessage(_answer_now(messages[2:]))]
            continue
        messages.append(reply)
        counter[0] += len(reply.tool_calls)
        if counter[0] > max_tool_calls:
            return _failed(
                f"tool-call budget exceeded ({max_tool_calls} calls allowed)",
                "tool_budget",
                counter[0],
            )
        made.update(_signature(call) for call in reply.tool_calls)
        outputs = await asyncio.gather(
            *(_call_tool(tools, call, tool_config) for call in reply.tool_calls)
        )
        for output in outputs:
            if isinstance(output, SubtaskFailed):
                return _failed(output.reason, "gave_up", counter[0])
        messages.extend(o for o in outputs if isinstance(o, ToolMessage))


async def _call_tool(
    tools: dict[str, BaseTool], call: ToolCall, config: RunnableConfig | None
) -> ToolMessage | SubtaskFailed:
    """One tool call's message for the model, or the failure that ends the subtask."""
    call_id = call["id"] or ""
    tool = tools.get(call["name"])
    if tool is None:
        return ToolMessage(
            f"Error: there is no tool named {call['name']!r}; available: {', '.join(tools)}",
            tool_call_id=call_id,
            status="error",
        )
    try:
        output = await tool.ainvoke(call, config=config)
    except SubtaskFailed as exc:
        return SubtaskFailed(f"{call['name']}: {exc.reason}")
    except Exception as exc:
        # The model may fix its arguments; the budget stops it from trying forever.
        return ToolMessage(
            f"Error: {type(exc).__name__}: {exc}", tool_call_id=call_id, status="error"
        )
    return (
        output
        if isinstance(output, ToolMessage)
        else ToolMessage(str(output), tool_call_id=call_id)
    )


async def run_worker(
    spec: WorkerSpec,
    model: BaseChatModel,
    context: SubtaskContext,
    *,
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
    timeout_s: float | None = None,
    meter: UsageMeter | None = None,
    config: RunnableConfig | None = None,
    streak: ServerErrorStreak | None = None,
) -> WorkerResult:
    """Run one subtask on ``spec`` and return its result or its failure.

    Args:
        spec: The worker's declaration.
        model: The chat model the worker thinks with.
        context: The subtask and what it may see.
        max_tool_calls: Tool calls allowed for this subtask (the spec may lower it).
        timeout_s: Wall-clock limit for the whole subtask.
        meter: Records model calls and tokens.
        config: Passed to the model and tools (callbacks, stream writer).
        streak: The run's streak of model calls failing with a server error.

    Returns:
        ``{"status": "done" | "failed", "result", "reason", "tool_calls", "kind"}`` (the
        failure's :data:`~workforce_graph.failures.FailureKind`); never raises for a
        worker's fault.

    Raises:
        ServerUnavailableError: This failure made the streak reach its limit.

    Example:
        >>> result = await run_worker(spec, model, context, timeout_s=60)  # doctest: +SKIP
    """
    meter = meter or UsageMeter(f"worker:{spec.name}")
    streak = streak or ServerErrorStreak()
    budget = spec.max_tool_calls if spec.max_tool_calls is not None else max_tool_calls
    counter = [0]
    token = _current_subtask.set(context)
    try:
        if spec.factory is not None:
            coro: Any = spec.factory(model).ainvoke(context, config=config)
        else:
            coro = _tool_loop(
                spec,
                model,
                context,
                max_tool_calls=budget,
                meter=meter,
                config=config,
                counter=counter,
                streak=streak,
            )
        # asyncio.timeout, unlike wait_for, does not wrap the coroutine in another task.
        async with asyncio.timeout(timeout_s):
            result = await coro
        return result if spec.factory is None else _normalise(result)
    except TimeoutError:
        return _failed(f"timed out after {timeout_s:g} s", "timeout", counter[0])
    except SubtaskFailed as exc:
        return _failed(exc.reason, "gave_up", counter[0])
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the run is being stopped: let the cancellation through
        # The worker's own code raised it (say, a client that gave up): its failure.
        return _failed(
            "the worker's run was cancelled before it finished", "worker_error", counter[0]
        )
    except Exception as exc:
        streak.failed(exc)  # raises when the server has failed too many calls in a row
        # The built-in loop turns a tool's error into a message: what escapes is the
        # model's. A custom worker's own code may raise too; an HTTP status is a server's.
        from_model = spec.factory is None or getattr(exc, "status_code", None) is not None
        kind: FailureKind = "model_error" if from_model else "worker_error"
        return _failed(call_failure(exc, limit=REASON_CHARS), kind, counter[0])
    finally:
        _current_subtask.reset(token)
