"""A failed model call in the flow: the run goes on unless no later call could succeed.

As in the Workforce graph (see :mod:`workforce_graph.model_errors`), only a rejected
key, a refused request or an unknown model ends a run; any other failure (HTTP 400,
5xx after retries, a timeout, an unusable reply) becomes that turn's failure, visible
to the next planner turn, unless the server has failed too many calls in a row (the
run's ``server_errors``, counted across roles as in the Workforce graph).
"""

from __future__ import annotations

from workforce_graph.events import emit
from workforce_graph.model_errors import ServerErrorStreak, call_failure, is_fatal
from workforce_graph.structured import StructuredOutputError

__all__ = ["failed_call"]


def failed_call(exc: Exception, *, role: str, streak: ServerErrorStreak) -> str:
    """Why the call failed, in one line, for people.

    Re-raises ``exc`` when it is fatal, and raises
    :class:`~workforce_graph.model_errors.ServerUnavailableError` when it makes the
    run's ``streak`` of server errors reach its limit.
    """
    if is_fatal(exc):
        raise exc
    if isinstance(exc, StructuredOutputError):
        streak.answered()
        return exc.problem
    streak.failed(exc)
    reason = call_failure(exc)
    emit("call_failed", role=role, reason=reason, detail=f"{type(exc).__name__}: {exc}")
    return reason
