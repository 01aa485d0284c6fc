"""What the LangGraph server's MCP and A2A endpoints read from the graphs it serves.

``langgraph dev`` (and any LangGraph server) offers every graph of ``langgraph.json``
as an MCP tool at ``/mcp`` and as an A2A agent at ``/a2a/{assistant_id}``. It builds
both from the graph alone: the tool's arguments from the graph's input schema, the tool
result from ``repr`` of the run's output, the A2A reply from the last AI message in the
output's ``messages`` (else ``str`` of the output), an A2A task's state from whether the
run raised, and a failure's text from the exception's *class name* only.
:func:`for_protocols` compiles the server-facing graphs (those of
:mod:`workforce_graph.studio`) to give it what it reads; the public Python API, whose
graphs return the whole state, is left alone:

* input (:class:`ServerInput`): ``task``, or ``messages`` as a list of
  ``{role, content}`` (what A2A sends), and ``answer_format``; an MCP client sees a
  request, not a string called ``messages``;
* output (:class:`Reply`): one value the :func:`report` node writes after the
  generator: ``{"answer": {"text", "complete", "failed"}}``, and for an A2A run also
  the turn's ``messages``, from which the server takes its reply text. The state a
  thread keeps, which Studio shows, is the whole state as ever;
* an A2A run whose answer is incomplete fails (:class:`IncompleteAnswer`, naming what
  did not finish), because A2A reports every run that does not raise as
  ``completed``; the answer stays in the thread;
* a node that fails the run raises :class:`RunFailed` instead, whose class name is the
  original error's line (``ModelConfigError: no model ...``), since that name is all
  an MCP client and an A2A task's status message get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn, cast

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import NodeError
from langgraph.graph import END, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import Field
from typing_extensions import TypedDict

from workforce_graph.state import Answer

__all__ = [
    "MAX_ERROR_CHARS",
    "NO_THREAD",
    "REPLY_CHANNEL",
    "REPORT_NODE",
    "ChatTurn",
    "IncompleteAnswer",
    "Reply",
    "RunFailed",
    "ServerInput",
    "ServerOutput",
    "for_protocols",
    "report",
    "run_failed",
]

_CHECKPOINTER_KEY = "__pregel_checkpointer"  # as in workforce_graph.nodes.review

REPORT_NODE = "report"
"""The server-only node after the generator that fails an incomplete A2A task."""

MAX_ERROR_CHARS = 500
"""An error's line is cut here: it becomes a class name, and a status message."""


class ChatTurn(TypedDict):
    """One message of a conversation."""

    role: Annotated[str, Field(description="user or assistant")]
    content: str


class ServerInput(TypedDict, total=False):
    """A request to the multi-agent workforce: give `task`, or a conversation as `messages`."""

    task: Annotated[
        str,
        Field(description="The request, in plain language: what to find out, compare or write."),
    ]
    messages: Annotated[
        list[ChatTurn],
        Field(description="Instead of task: the conversation so far, the request last."),
    ]
    answer_format: Annotated[
        str | None,
        Field(description="Optional: the shape the answer must take (e.g. 'one word')."),
    ]


class Reply(TypedDict, total=False):
    """The answer: its text, whether it is complete, and what did not finish."""

    answer: Answer | None
    messages: list[Any]


REPLY_CHANNEL = "__root__"
"""The state key the reply is kept under: LangGraph's key for a non-mapping output."""

ServerOutput = Annotated[Reply, "the reply"]
"""The output schema. Annotated, the TypedDict is no longer read key by key, so the
output is one value, :data:`REPLY_CHANNEL`, which :func:`report` writes for each run:
MCP's tool result and the REST API's ``runs.wait`` get the answer alone, and an A2A
task also the turn's messages, from which the server takes its reply text."""


class RunFailed(RuntimeError):
    """A run that ended in an error, re-raised under a class named after its line.

    The server serialises an error as ``{"error": type(exc).__name__, "message": ...}``
    and its MCP and A2A endpoints show only ``error``: each instance therefore gets a
    subclass named ``"<OriginalClass>: <message>"`` (see :func:`run_failed`).
    Subclassing ``RuntimeError`` keeps ``message`` in the REST API's answer.
    """


class IncompleteAnswer(RunFailed):
    """An A2A run whose answer is incomplete: the task is failed, not completed."""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."


def _named(base: type[RunFailed], kind: str, message: str) -> RunFailed:
    line = f"{kind}: {message}" if message else kind
    named: type[RunFailed] = type(line, (base,), {"__module__": __name__, "__qualname__": line})
    return named(message or kind)


def run_failed(error: BaseException) -> RunFailed:
    """``error`` as a :class:`RunFailed` whose class name is the error's one line."""
    return _named(RunFailed, type(error).__name__, _one_line(str(error)))


NO_THREAD = (
    "the plan review pauses for a person to approve the plan, which needs a thread; "
    "a call without one (every MCP tool call) cannot pause: use the workforce tool, "
    "or start the run on a thread (A2A, the REST API)"
)
"""Why the review graph refuses a run without a thread, in the server's words."""


def _reraise_with_message(
    state: Mapping[str, Any], error: NodeError, config: RunnableConfig
) -> NoReturn:
    """Error handler of every node: the run fails with the error's line as its name."""
    if isinstance(error.error, RunFailed):
        raise error.error
    # The review node's own message speaks of compiling with a checkpointer, which a
    # server's client cannot do; what it lacks there is a thread.
    if error.node == "review_plan" and not config.get("configurable", {}).get(_CHECKPOINTER_KEY):
        raise _named(RunFailed, "PlanReviewNeedsThread", NO_THREAD) from error.error
    raise run_failed(error.error) from error.error


def _is_a2a_run(config: RunnableConfig) -> bool:
    # The server tags every run it starts for an A2A message with this metadata key.
    metadata = config.get("metadata") or {}
    return isinstance(metadata.get("a2a"), Mapping)


def _turn(messages: Sequence[Any]) -> list[Any]:
    """The last request and what followed it (the A2A reply is read from this)."""
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    return list(messages[starts[-1] :] if starts else messages)


def report(state: Reply, config: RunnableConfig) -> dict[str, Any]:
    """Write the run's reply; fail an A2A run whose answer is incomplete."""
    answer = state.get("answer")
    if not _is_a2a_run(config):
        return {REPLY_CHANNEL: Reply(answer=answer)}
    if answer and not answer.get("complete", True):
        failed = answer.get("failed") or []
        parts = "; ".join(f"{f.get('id')}: {f.get('reason')}" for f in failed)
        reason = f"the answer is incomplete ({parts})" if parts else "the answer is incomplete"
        raise _named(IncompleteAnswer, IncompleteAnswer.__name__, _one_line(reason))
    return {REPLY_CHANNEL: Reply(answer=answer, messages=_turn(state.get("messages") or []))}


def for_protocols(
    builder: StateGraph[Any, Any, Any, Any], *, name: str
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile a built graph as the server offers it over MCP and A2A.

    Sets :class:`ServerInput` and :class:`ServerOutput` as its schemas, re-raises node
    errors as :class:`RunFailed`, and puts :func:`report` between the generator and
    the end. The state, nodes and checkpoints are otherwise unchanged, so Studio shows
    the same run. ``builder`` (a fresh one: it is changed in place) is compiled
    without a checkpointer, as the server wants, under ``name``.
    """
    # StateGraph takes its input and output schemas only in its constructor, which
    # the factories call; these are the assignments that constructor makes.
    builder.input_schema = ServerInput
    builder._add_schema(ServerInput, allow_managed=False)
    builder.output_schema = ServerOutput
    builder._add_schema(ServerOutput, allow_managed=False)

    if ("generator", END) not in builder.edges:
        raise ValueError("for_protocols needs a graph that ends with its generator node")
    # LangGraph injects the handler's NodeError parameter; its stubs know only the
    # shapes of plain nodes.
    builder.set_node_defaults(error_handler=cast("Any", _reraise_with_message))
    builder.edges.discard(("generator", END))
    builder.add_node(REPORT_NODE, report)
    builder.add_edge("generator", REPORT_NODE)
    builder.add_edge(REPORT_NODE, END)

    graph = builder.compile(name=name)
    # The reply is the run's output, not part of the state: left in, it would show in
    # Studio's state, and the server cannot describe a state with a key named __root__
    # beside others (it would drop the whole state schema).
    graph.stream_channels = [k for k in graph.stream_channels_list if k != REPLY_CHANNEL]
    return graph
