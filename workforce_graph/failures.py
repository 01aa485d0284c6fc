"""What kind of failure a subtask, a turn or the answer itself ended in.

The kind is set where the failure happens (the worker runtime, the lifecycle's
transitions, the generator, the flow's turns) and travels beside the reason: on the
lifecycle's ``Outcome``, on the subtask in state (``failure_kind``) and on each entry of
the answer's ``failed`` list (``kind``). The reason is for people and may be reworded;
whoever sorts failures (the evaluation, a dashboard) reads the kind.
"""

from __future__ import annotations

from typing import Literal, NotRequired, get_args

from typing_extensions import TypedDict

__all__ = ["BUDGET_KINDS", "FAILURE_KINDS", "FailedPart", "FailureKind"]

FailureKind = Literal[
    "tool_budget",
    "time_budget",
    "turn_budget",
    "timeout",
    "model_error",
    "cut_reply",
    "no_result",
    "gave_up",
    "worker_error",
    "rejected",
    "no_worker",
    "dependency",
    "attachments",
]
"""Why a part of the answer did not finish.

``tool_budget``: more tool calls than ``max_tool_calls``. ``time_budget``: the run's
``max_run_s`` ran out (an attempt cut, a subtask not run, the run stopped).
``turn_budget``: the flow's ``max_turns`` ran out. ``timeout``: the subtask's own
``subtask_timeout_s``. ``model_error``: a model call failed (a server error, a refused
request, a dropped connection). ``cut_reply``: the reply stayed cut off by the token
limit. ``no_result``: the model gave nothing usable (an empty reply, a tool call instead
of text). ``gave_up``: the worker declared it could not (``FAILED:``,
``SubtaskFailed``). ``worker_error``: a custom worker's own code raised or was stopped.
``rejected``: the verifier found the result wrong. ``no_worker``: no available worker
could take it. ``dependency``: a subtask it depends on did not finish.
``attachments``: the request needs files no worker could read.
"""

FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)

BUDGET_KINDS: frozenset[FailureKind] = frozenset({"tool_budget", "time_budget", "turn_budget"})
"""The kinds that mean a budget of the run, not the work, ended it."""


class FailedPart(TypedDict):
    """One entry of the answer's ``failed`` list."""

    id: str
    """The subtask's id, or ``answer``, ``time``, ``attachments``, the flow's stop."""
    reason: str
    """Why, in words, for people."""
    kind: NotRequired[FailureKind]
    """Why, as a kind; absent only in answers recorded before kinds existed."""
