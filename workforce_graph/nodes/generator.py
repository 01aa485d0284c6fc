"""Generator: one final answer synthesised from the results, honest about gaps.

When a budget ran out, it still answers, marks the answer incomplete and says which
subtasks failed and why (that note is written by code, not left to the model).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workforce_graph.conversation import earlier_conversation, message_text
from workforce_graph.events import emit
from workforce_graph.lifecycle import unfinished
from workforce_graph.nodes.deps import NodeDeps
from workforce_graph.prompts import brief
from workforce_graph.roles import role_config
from workforce_graph.state import Answer, WorkforceState
from workforce_graph.usage import UsageMeter

__all__ = ["make_generator"]

SYSTEM = """You write the final answer to the user's request from the results your team \
produced. Synthesise one coherent answer; do not list the subtasks. Cite source URLs \
that appear in the results when you use them. If some results are missing, answer as \
well as the available results allow and say what is missing."""

RESULT_CHARS = 6_000


def make_generator(deps: NodeDeps) -> Any:
    """Build the generator node."""

    async def generator(
        state: WorkforceState, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        subtasks = state.get("subtasks", [])
        failed = unfinished(subtasks)
        meter = UsageMeter("generator")
        error = state.get("error")
        if error:
            text = f"I could not complete this request: {error}"
            answer = Answer(text=text, complete=False, failed=failed)
        else:
            text = await _synthesise(deps, state, runtime, config, meter)
            if failed:
                text += (
                    "\n\nNote: this answer is incomplete. These subtasks did not finish:\n"
                    + "\n".join(f"- {f['id']}: {f['reason']}" for f in failed)
                )
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


async def _synthesise(
    deps: NodeDeps,
    state: WorkforceState,
    runtime: Runtime[Any],
    config: RunnableConfig,
    meter: UsageMeter,
) -> str:
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
    messages = [SystemMessage(SYSTEM), HumanMessage("\n\n".join(parts))]
    try:
        reply = await deps.model_for("generator", runtime.context).ainvoke(
            messages, config=role_config(config, "generator", node="generator")
        )
    except Exception as exc:
        # The results are still worth returning when the last model call fails.
        return f"(The final answer could not be written: {type(exc).__name__}: {exc})\n\n{results}"
    meter.record(reply)
    return message_text(reply.content).strip() or results
