"""Worker declarations: what a worker can do, as the planner and coordinator see it.

A worker is declared, not subclassed. A plugin builds a :class:`WorkerSpec` and hands it
to the ``register`` callback of the ``register_workers`` hook. The declaration follows
AgentFlow's tool cards: name, description, capability tags, tools, limitations and
examples, and it is exactly what the planner and coordinator are shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from workforce_graph.calls.replies import register_instructions

# The embedded model's own tool protocol, so its exact wording is filtered from echoes.
from workforce_graph.models.llama_protocol import _tool_prompt
from workforce_graph.prompts import describe_workers

__all__ = [
    "InvalidWorkerSpec",
    "SubtaskContext",
    "SubtaskFailed",
    "WorkerFactory",
    "WorkerOutcome",
    "WorkerSpec",
    "get_subtask_context",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class InvalidWorkerSpec(ValueError):
    """A worker declaration that cannot be used (bad name, no capabilities, ...)."""


class SubtaskFailed(Exception):
    """Raised by a worker's tool to end its subtask as failed, with a reason.

    Use it for conditions the model cannot fix by calling the tool again: a missing
    file, an HTTP 429 from a search API, a sandbox that killed the code.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SubtaskContext(TypedDict):
    """Everything a worker may see for one subtask (and nothing from the rest of the plan)."""

    request: str
    """The user's request, as given."""
    subtask_id: str
    description: str
    capabilities: list[str]
    dependency_results: dict[str, str]
    """Results of the subtasks this one depends on, by subtask id, each cut to
    ``prompts.BRIEF_RESULT_CHARS`` characters (the same for the built-in tool loop and
    for custom worker factories)."""
    attachments: list[str]
    """Paths of the files given with the request."""


class WorkerOutcome(TypedDict, total=False):
    """What a custom worker runnable may return instead of a plain string."""

    status: Literal["done", "failed"]
    result: str
    reason: str


WorkerFactory = Callable[[BaseChatModel], Runnable[SubtaskContext, Any]]
"""Builds a custom worker from the worker model. The runnable receives a
:class:`SubtaskContext` and returns a string (the result) or a :class:`WorkerOutcome`.
A compiled LangGraph graph whose input is a ``SubtaskContext`` fits too."""


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """A worker as a plugin declares it.

    Args:
        name: Unique, lowercase (``[a-z][a-z0-9_-]*``), e.g. ``"finance"``.
        description: One or two sentences the planner reads.
        capabilities: Capability tags the planner may require of a subtask, e.g.
            ``("web_search", "page_extraction")``.
        tools: LangChain tools the worker's model may call.
        system_prompt: Instructions for the worker's model.
        limitations: What the worker cannot do (shown to the planner).
        examples: Example subtasks the worker handles well (shown to the planner).
        factory: Instead of the built-in tool loop, build a custom runnable.
        unavailable_reason: Set when the worker cannot run here (say, a missing API key);
            it is listed but never planned for.
        max_tool_calls: Per-subtask tool-call budget overriding the graph's default.
        reads_attachments: The worker reads the files attached to a request (through
            ``get_subtask_context()["attachments"]``). A request that refers to its
            attachments is answered as complete only when an available worker reads
            them; without one, its answer is marked incomplete with the reason.

    Example:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def npv(rate: float, cashflows: list[float]) -> float:
        ...     '''Net present value.'''
        ...     return sum(c / (1 + rate) ** i for i, c in enumerate(cashflows))
        >>> spec = WorkerSpec(name="finance", description="Financial maths.",
        ...                   capabilities=("finance",), tools=(npv,))
    """

    name: str
    description: str
    capabilities: Sequence[str]
    tools: Sequence[BaseTool] = ()
    system_prompt: str = ""
    limitations: Sequence[str] = ()
    examples: Sequence[str] = ()
    factory: WorkerFactory | None = None
    unavailable_reason: str | None = None
    max_tool_calls: int | None = None
    reads_attachments: bool = False
    plugin: str = field(default="", compare=False)
    """Name of the plugin that registered the worker (filled in by the registry)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidWorkerSpec(
                f"worker name {self.name!r} must match {_NAME.pattern} (lowercase, digits, _ or -)"
            )
        if not isinstance(self.description, str) or not self.description.strip():
            raise InvalidWorkerSpec(f"worker {self.name!r} needs a non-empty description")
        if isinstance(self.capabilities, str):
            raise InvalidWorkerSpec(
                f"worker {self.name!r}: capabilities must be a list of tags, not a string"
            )
        caps = tuple(self.capabilities)
        if not caps or not all(isinstance(c, str) and c.strip() for c in caps):
            raise InvalidWorkerSpec(f"worker {self.name!r} needs at least one capability tag")
        object.__setattr__(self, "capabilities", caps)
        for tool in self.tools:
            if not isinstance(tool, BaseTool):
                raise InvalidWorkerSpec(
                    f"worker {self.name!r}: tool {tool!r} is not a LangChain BaseTool "
                    "(decorate functions with langchain_core.tools.tool)"
                )
        if self.factory is not None and not callable(self.factory):
            raise InvalidWorkerSpec(f"worker {self.name!r}: factory must be callable")
        if self.max_tool_calls is not None and self.max_tool_calls < 0:
            raise InvalidWorkerSpec(f"worker {self.name!r}: max_tool_calls must be >= 0")
        # A small model copies these into its result ("You can use this tool: -
        # run_python: Run a complete Python 3 program..."), and the generator copies the
        # result into the answer: both calls' echo filters must know them.
        register_instructions(*self.instruction_texts())

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def instruction_texts(self) -> tuple[str, ...]:
        """The texts the framework writes into model calls from this declaration.

        The description (as the planner and coordinator see it, with the
        limitations), the system prompt, and the text describing the tools: their
        names, descriptions and arguments, also as the embedded model's tool protocol
        puts them in its prompt. Never the examples, which read like requests a user
        may rightly have a reply quote.
        """
        texts = [self.description, self.system_prompt, describe_workers([self], examples=False)]
        if self.tools:
            described = [convert_to_openai_tool(t) for t in self.tools]
            texts.append(_tool_prompt(described, "auto"))
            for tool in described:
                function = tool["function"]
                texts.append(f"- {function['name']}: {function.get('description', '')}")
                properties = (function.get("parameters") or {}).get("properties") or {}
                texts.extend(
                    str(p["description"])
                    for p in properties.values()
                    if isinstance(p, dict) and p.get("description")
                )
        return tuple(t for t in texts if t.strip())

    def card(self) -> dict[str, Any]:
        """The JSON-friendly declaration shown to the planner, coordinator and CLI."""
        card: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "capabilities": list(self.capabilities),
            "tools": [
                {"name": t.name, "description": (t.description or "").strip()} for t in self.tools
            ],
            "limitations": list(self.limitations),
            "examples": list(self.examples),
        }
        if self.reads_attachments:
            card["reads_attachments"] = True
        if self.unavailable_reason:
            card["unavailable_reason"] = self.unavailable_reason
        return card


_current_subtask: ContextVar[SubtaskContext | None] = ContextVar(
    "workforce_graph_current_subtask", default=None
)


def get_subtask_context() -> SubtaskContext:
    """The subtask a worker's tool is running for (request, attachments, dependencies).

    Tools use it to reach the files given with the request without every tool taking
    them as an argument the model would have to fill in.

    Raises:
        RuntimeError: When called outside a worker run.
    """
    ctx = _current_subtask.get()
    if ctx is None:
        raise RuntimeError("get_subtask_context() is only available while a worker runs")
    return ctx
