"""Which model-call errors end a run, and how any of them reads in one line.

Only an error that no later call can fix ends a run: a rejected key, a refused request
or an unknown model (HTTP 401, 403, 404) and a model that cannot be set up. Anything
else (HTTP 400, 422, 429 or 5xx after the client's retries, a timeout, a dropped
connection, an unparsable reply) fails that one call: the planner counts a failed plan
attempt, the coordinator falls back to capability matching, a worker's subtask fails,
the verifier's check is skipped, the generator's answer is marked incomplete.

A server that keeps failing is the exception to "that one call": after
:data:`SERVER_ERROR_LIMIT` calls in a row answered HTTP 429 or 5xx (each after the
client's own retries, which wait as a ``Retry-After`` header asks), every later call
would most likely fail the same way, and going on only spends minutes and requests on
it. The run then stops with :class:`ServerUnavailableError`, a
:class:`~workforce_graph.models.ModelConfigError` (the CLI's one line and exit 2). The
streak is counted per run across roles, in the graph state, by
:func:`server_error_streak`; any call the server answered ends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from workforce_graph.models import ModelConfigError

__all__ = [
    "SERVER_ERROR_LIMIT",
    "ServerErrorStreak",
    "ServerUnavailableError",
    "call_failure",
    "is_fatal",
    "is_server_error",
    "server_error_streak",
]

_FATAL_STATUS = {401, 403, 404}

SERVER_ERROR_LIMIT = 3
"""Model calls in a row failing with HTTP 429 or 5xx (after the client's retries, so
about three requests each) that stop a run."""


class ServerUnavailableError(ModelConfigError):
    """The model server failed :data:`SERVER_ERROR_LIMIT` calls in a row; the run stops."""


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` means every later model call would fail the same way."""
    if isinstance(exc, ModelConfigError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status in _FATAL_STATUS


def is_server_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the server's failure (HTTP 429 or 5xx), not the request's."""
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def server_error_streak(streak: int, error: BaseException | None) -> int:
    """The run's streak of server errors after one more model call.

    Args:
        streak: Calls in a row that failed with a server error so far.
        error: The call's exception; ``None`` when the server answered (a reply that
            does not parse counts as answered).

    Returns:
        ``streak + 1`` after a server error; 0 after an answer, HTTP 400 or 422 included
        (the server is up); ``streak`` unchanged after a timeout or a dropped
        connection, which say nothing either way.

    Raises:
        ServerUnavailableError: The streak reached :data:`SERVER_ERROR_LIMIT`.
    """
    if error is None:
        return 0
    if not is_server_error(error):
        return 0 if isinstance(getattr(error, "status_code", None), int) else streak
    streak += 1
    if streak >= SERVER_ERROR_LIMIT:
        status = getattr(error, "status_code", None)
        kind = " (rate limit)" if status == 429 else ""
        raise ServerUnavailableError(
            f"the model server answered HTTP {status}{kind} to {streak} calls in a row, each "
            f"after the client's retries ({_first_line(error)}); the run stopped: check the "
            "server or the provider's quota, then resume the run"
        ) from error
    return streak


@dataclass
class ServerErrorStreak:
    """:func:`server_error_streak` for calls made beside each other (a workers round),
    where the streak must stop the round as it happens, not when the node returns."""

    count: int = 0

    def answered(self) -> None:
        self.count = server_error_streak(self.count, None)

    def failed(self, exc: BaseException) -> None:
        """Count a failed call; raises :class:`ServerUnavailableError` at the limit."""
        self.count = server_error_streak(self.count, exc)


def call_failure(exc: BaseException, limit: int = 300) -> str:
    """``exc`` as one short line: ``HTTP 400: ...``, ``timed out``, ``Name: message``."""
    status = getattr(exc, "status_code", None)
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "APITimeoutError":
        text = "the model did not answer in time"
    elif isinstance(status, int):
        text = f"the model server returned HTTP {status}: {_first_line(exc)}"
    elif type(exc).__name__ == "APIConnectionError":
        text = f"the model server could not be reached: {_first_line(exc)}"
    else:
        text = f"{type(exc).__name__}: {_first_line(exc)}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
