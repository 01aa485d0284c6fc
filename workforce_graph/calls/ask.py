"""One structured model call of a role, with the run's failure rule applied once.

Every node that asks a model for a schema (the planners, the coordinator, the verifiers,
the query analysis) calls :func:`ask`: it tags the call with its role (see
:mod:`workforce_graph.calls.roles`), meters its tokens, repairs unusable replies
(:func:`~workforce_graph.calls.structured.structured_call`) and decides what a failure
means. A fatal error (see :func:`~workforce_graph.calls.errors.is_fatal`) raises, as does
a server that failed too many calls in a row; any other failure is returned as a
:class:`CallFailure`, and the node goes on without the reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from workforce_graph.calls.errors import ServerErrorStreak, call_failure, is_fatal
from workforce_graph.calls.roles import ModelRole, role_config
from workforce_graph.calls.structured import (
    StructuredMethod,
    StructuredOutputError,
    structured_call,
)
from workforce_graph.calls.usage import UsageMeter
from workforce_graph.events import emit

__all__ = ["CallFailure", "ask"]

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class CallFailure:
    """Why a model call gave no usable reply; the run goes on without it."""

    reason: str
    """For people, in one line: the reply's problem, or why the call failed."""
    detail: str
    """For debugging: the exception as Python names it."""
    answered: bool
    """The server answered, but no attempt's reply was usable (a repair may help)."""


async def ask(
    model: BaseChatModel,
    schema: type[T],
    messages: Sequence[BaseMessage],
    *,
    role: ModelRole,
    config: RunnableConfig | None,
    meter: UsageMeter,
    streak: ServerErrorStreak,
    attempts: int,
    method: StructuredMethod = "auto",
    timeout_s: float | None = None,
    subtask_id: str | None = None,
    turn: int | None = None,
    node: str | None = None,
    announce: bool = True,
) -> T | CallFailure:
    """Ask ``model``, as ``role``, for an instance of ``schema``.

    Args:
        model: The role's chat model.
        schema: The pydantic model the reply must validate against.
        messages: The prompt.
        role: The role the call is made for (its tag and metadata).
        config: The node's config; the role's tags and metadata are added to it.
        meter: Counts every call made, repairs included.
        streak: The run's streak of server errors; every call moves it.
        attempts: Total tries, repairs of unusable replies included.
        method: The structured-output method (``WorkforceSettings.structured_output``).
        timeout_s: Wall-clock limit of each call (``WorkforceSettings.call_timeout_s``).
        subtask_id: The subtask (or the flow's turn id) the call is for, if any.
        turn: The flow's turn, if any.
        node: The graph node making the call, when it is not named after ``role``.
        announce: Emit a ``call_failed`` event when the call failed. The verifier's
            result check says it with its own ``verify_skipped`` event instead.

    Returns:
        The validated reply, or a :class:`CallFailure` saying why there is none. A reply
        that was unusable emits no event: the caller shows the problem where it acts.

    Raises:
        Exception: The call's own error when it is fatal.
        ServerUnavailableError: The call made the run's ``streak`` reach its limit.
    """
    try:
        reply = await structured_call(
            model,
            schema,
            messages,
            attempts=attempts,
            meter=meter,
            config=role_config(config, role, node=node or role, subtask_id=subtask_id, turn=turn),
            method=method,
            timeout_s=timeout_s,
        )
    except StructuredOutputError as exc:
        streak.answered()
        return CallFailure(reason=exc.problem, detail=str(exc), answered=True)
    except Exception as exc:
        if is_fatal(exc):
            raise
        streak.failed(exc)  # a server that keeps failing ends the run here
        failure = CallFailure(
            reason=call_failure(exc), detail=f"{type(exc).__name__}: {exc}", answered=False
        )
        if announce:
            emit("call_failed", role=role, reason=failure.reason, detail=failure.detail)
        return failure
    streak.answered()
    return reply
