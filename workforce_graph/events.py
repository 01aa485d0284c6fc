"""Progress events on LangGraph's ``custom`` stream.

Every event is a JSON-friendly dict with an ``event`` name, the subtask id and worker
name where one applies, and a timestamp. Consume them with
``graph.astream(..., stream_mode="custom")``.

Events: ``plan`` (its ``source``: ``planner``, ``given`` for a plan given with the
request, ``review`` for one edited in plan review), ``assigned``, ``started``,
``finished``, ``failed``, ``retry``, ``replan``, ``answer``; ``plan_fallback`` (with
the ``reason``) when no valid plan came and the whole request runs as one subtask,
``plan_error`` when no plan could be made, ``call_failed`` when a planner or
coordinator model call failed and the run went on
(these three carry a ``detail`` for debugging: the exception as Python names it),
``verify_skipped`` when the verifier could not check a result (``verify_results``) and
the result was kept unchecked, ``stopped`` when the time budget (``max_run_s``) ended
the run with work left.
The flow topology adds ``turn`` (the planner's next step) and ``verdict`` (the
verifier's STOP or CONTINUE); its executor sends ``started``, ``finished`` and
``failed`` with the turn's id (``t1``, ``t2``, ...) as ``subtask_id``.
``past_runs`` says which past runs a planner was shown (``shown``: their keys) or why
the memory could not be read or written (``error``).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.config import get_stream_writer

__all__ = ["EventName", "emit"]

EventName = Literal[
    "plan",
    "plan_fallback",
    "plan_error",
    "call_failed",
    "verify_skipped",
    "stopped",
    "assigned",
    "started",
    "finished",
    "failed",
    "retry",
    "replan",
    "answer",
    "turn",
    "verdict",
    "past_runs",
]


def emit(event: EventName, **fields: Any) -> None:
    """Send one progress event; a no-op outside a graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:
        return
    writer({"event": event, "time": time.time(), **fields})
