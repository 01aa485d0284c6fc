"""A failed model call in the flow: the run goes on unless no later call could succeed.

As in the Workforce graph (see :mod:`workforce_graph.model_errors`), only a rejected
key, a refused request or an unknown model ends a run; any other failure (HTTP 400,
5xx after retries, a timeout, an unusable reply) becomes that turn's failure, visible
to the next planner turn.
"""

from __future__ import annotations

from workforce_graph.events import emit
from workforce_graph.model_errors import call_failure, is_fatal
from workforce_graph.structured import StructuredOutputError

__all__ = ["failed_call"]


def failed_call(exc: Exception, *, role: str) -> str:
    """Why the call failed, in one line (re-raises ``exc`` when it is fatal)."""
    if is_fatal(exc):
        raise exc
    if isinstance(exc, StructuredOutputError):
        return str(exc)
    reason = call_failure(exc)
    emit("call_failed", role=role, reason=reason)
    return reason
