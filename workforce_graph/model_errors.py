"""Which model-call errors end a run, and how any of them reads in one line.

Only an error that no later call can fix ends a run: a rejected key, a refused request
or an unknown model (HTTP 401, 403, 404) and a model that cannot be set up. Anything
else (HTTP 400, 422, 429 or 5xx after the client's retries, a timeout, a dropped
connection, an unparsable reply) fails that one call: the planner counts a failed plan
attempt, the coordinator falls back to capability matching, a worker's subtask fails,
the generator's answer is marked incomplete.
"""

from __future__ import annotations

from workforce_graph.models import ModelConfigError

__all__ = ["call_failure", "is_fatal"]

_FATAL_STATUS = {401, 403, 404}


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` means every later model call would fail the same way."""
    if isinstance(exc, ModelConfigError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status in _FATAL_STATUS


def call_failure(exc: BaseException, limit: int = 300) -> str:
    """``exc`` as one short line: ``HTTP 400: ...``, ``timed out``, ``Name: message``."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "APITimeoutError":
        text = "the model did not answer in time"
    elif isinstance(status, int):
        text = f"the model server returned HTTP {status}: {_first_line(exc)}"
    else:
        text = f"{type(exc).__name__}: {_first_line(exc)}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
