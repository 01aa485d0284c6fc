"""Generator: one final answer synthesised from the results, honest about gaps.

When a budget ran out, it still answers, marks the answer incomplete and says which
subtasks failed and why (that note is written by code, not left to the model); when the
time budget ended the run, that is one of the reasons (id ``time``). Results the
verifier could not check are used as they are, and a note says so.

Its own call does not count towards the run's streak of server errors: it is the last
call, and an answer made of the results is worth more than a stop.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workforce_graph.attachments import (
    ATTACHMENTS_ID,
    refers_to_attachments,
    unreadable_attachments,
)
from workforce_graph.calls.errors import call_failure
from workforce_graph.calls.replies import (
    BREVITY_REQUEST,
    CUT_OFF,
    reply_text,
    was_cut_off,
    without_echoes,
)
from workforce_graph.calls.roles import role_config
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.conversation import earlier_conversation
from workforce_graph.deps import NodeDeps
from workforce_graph.events import emit
from workforce_graph.failures import FailedPart, FailureKind
from workforce_graph.lifecycle import unfinished
from workforce_graph.models import call_timeout
from workforce_graph.prompts import brief
from workforce_graph.state import Answer, Subtask, WorkforceState

__all__ = ["ANSWER_ID", "TIME_ID", "make_generator", "unverified_note"]

SYSTEM = """You write the final answer to the user's request from the results your team \
produced. Synthesise one coherent answer; do not list the subtasks. Cite source URLs \
that appear in the results when you use them. If some results are missing, answer as \
well as the available results allow and say what is missing."""

RESULT_CHARS = 6_000
_RESULT_LABEL = re.compile(r"^\[s\d+\] ?", re.MULTILINE)
"""The ``[s1]`` that heads each result in the prompt; a small model copies it."""
CUT_RETRIES = 1
"""Calls again, asking for brevity, after a reply cut off by the token limit."""
ANSWER_ID = "answer"
"""The ``failed`` entry's id when the final answer itself could not be written."""
TIME_ID = "time"
"""The ``failed`` entry's id when the time budget ended the run (as in the flow)."""


def make_generator(deps: NodeDeps) -> Any:
    """Build the generator node."""

    async def generator(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        subtasks = state.get("subtasks", [])
        failed = unfinished(subtasks)
        attachments = state.get("attachments") or []
        unread = unreadable_attachments(deps.registry, attachments)
        if unread and refers_to_attachments(state.get("task", ""), attachments):
            failed.append(FailedPart(id=ATTACHMENTS_ID, reason=unread, kind="attachments"))
        if state.get("stop_reason"):
            reason = str(state.get("stop_reason"))
            failed.append(FailedPart(id=TIME_ID, reason=reason, kind="time_budget"))
        meter = UsageMeter("generator")
        error = state.get("error")
        if error:
            text = f"I could not complete this request: {error}"
            answer = Answer(text=text, complete=False, failed=failed)
        else:
            text, problem = await _synthesise(deps, state, runtime, config, meter)
            if problem:
                kind, reason = problem
                failed.append(FailedPart(id=ANSWER_ID, reason=reason, kind=kind))
            if failed:
                text += (
                    "\n\nNote: this answer is incomplete. These parts did not finish:\n"
                    + "\n".join(f"- {f['id']}: {f['reason']}" for f in failed)
                )
            unchecked = unverified_note(subtasks)
            if unchecked:
                text += f"\n\n{unchecked}"
            if state.get("plan_fallback"):
                text += (
                    "\n\nNote: this answer was produced without decomposition: the planner "
                    f"made no valid plan ({state.get('plan_fallback')}), so the whole request "
                    "ran as one subtask."
                )
            answer = Answer(text=text, complete=not failed, failed=failed)
        emit("answer", complete=answer["complete"], text=answer["text"])
        return {
            "answer": answer,
            "messages": [AIMessage(answer["text"], name="workforce")],
            "usage": meter.as_update(),
        }

    return generator


def unverified_note(subtasks: list[Subtask]) -> str | None:
    """The answer's note on results the verifier could not check (``None``: none)."""
    unchecked = [s for s in subtasks if s["status"] == "done" and s.get("unverified")]
    if not unchecked:
        return None
    reasons = list(dict.fromkeys(str(s.get("unverified")) for s in unchecked))
    return (
        "Note: the verifier could not check the results of "
        + ", ".join(s["id"] for s in unchecked)
        + f" ({'; '.join(reasons)}); they are used unchecked."
    )


async def _synthesise(
    deps: NodeDeps,
    state: WorkforceState,
    runtime: Runtime[Any],
    config: RunnableConfig,
    meter: UsageMeter,
) -> tuple[str, tuple[FailureKind, str] | None]:
    """The answer, and why (kind, reason) it is not one when the model did not write it.

    A failed call, an empty reply, a tool call instead of text or a reply that stays
    cut off by the token limit is no answer: the results are returned instead, with
    the reason, so nothing is lost and nothing is called complete that is not.
    """
    results = "\n\n".join(
        f"[{s['id']}] {s['description']}\n{brief(s['result'] or '', RESULT_CHARS)}"
        for s in state.get("subtasks", [])
        if s["status"] == "done"
    )
    request = state.get("task", "")
    parts = [f"Request:\n{request}"]
    history = earlier_conversation(state.get("messages", []), request)
    if history:
        parts.append(f"Earlier in this conversation:\n{history}")
    parts.append(f"Results:\n{results or '(none)'}")
    if state.get("answer_format"):
        parts.append(f"Answer format (follow it exactly):\n{state.get('answer_format')}")
    messages: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage("\n\n".join(parts))]
    model = deps.model_for("generator", runtime.context)
    timeout_s = call_timeout(model, deps.settings_for(runtime.context).call_timeout_s)
    problem = "the final answer could not be written"
    kind: FailureKind = "no_result"
    for _attempt in range(1 + CUT_RETRIES):
        try:
            async with asyncio.timeout(timeout_s):
                reply = await model.ainvoke(
                    messages, config=role_config(config, "generator", node="generator")
                )
        except Exception as exc:
            problem = f"the final answer could not be written: {call_failure(exc)}"
            kind = "model_error"
            break
        meter.record(reply)
        text = _RESULT_LABEL.sub("", without_echoes(reply_text(reply), (SYSTEM, BREVITY_REQUEST)))
        if was_cut_off(reply):
            problem = f"the final answer could not be written: {CUT_OFF}"
            kind = "cut_reply"
            messages = [*messages[:2], HumanMessage(BREVITY_REQUEST)]
            continue
        if not text:
            calls = [c.get("name") for c in getattr(reply, "tool_calls", None) or []]
            problem = "the final answer could not be written: " + (
                f"the model called a tool ({', '.join(map(str, calls))}) instead of answering"
                if calls
                else "the model returned an empty reply"
            )
            kind = "no_result"
            break
        return text, None
    fallback = f"({problem[0].upper()}{problem[1:]}.)"
    return (f"{fallback}\n\nResults of the subtasks:\n\n{results}" if results else fallback), (
        kind,
        problem,
    )
