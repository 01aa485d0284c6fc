"""A fault-injecting OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It is :class:`tests.fake_openai.FakeOpenAI` (real HTTP, the real OpenAI client on the
other side) where any request can be answered with a chosen fault instead of the
scripted reply: an HTTP error, an empty or invalid reply, a schema violation, a tool
call to an unknown tool, a reply cut by the token limit, a huge reply, no answer at
all, or a dropped connection.

Faults are injected per role (``planner``, ``coordinator``, ``worker``, ``verifier``,
``generator``, or ``"*"`` for any), for the next ``times`` calls of that role or for
all of them.

Example:
    >>> with FaultServer() as server:
    ...     server.inject("generator", "http_400")          # every generator call
    ...     server.inject("planner", "invalid_json", times=1)  # the first planner call
    ...     # workforce-graph run "..." --model fake-model --base-url server.base_url
    ...     server.faults_served  # [("planner", "invalid_json"), ("generator", "http_400")]
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from tests.fake_openai import FakeHTTPError, FakeOpenAI, role_of

__all__ = ["FAULTS", "HUGE_CHARS", "RETRY_AFTER_S", "FaultServer"]

HUGE_CHARS = 200_000
"""Size of a ``huge`` reply's text (the 200 KB subtask description of the issue)."""
RETRY_AFTER_S = 1
"""The ``Retry-After`` header of an ``http_429_retry_after`` reply, in seconds."""

FAULTS: dict[str, str] = {
    "http_400": "HTTP 400 Bad Request",
    "http_404": "HTTP 404 (as for an unknown model)",
    "http_429": "HTTP 429 rate limit (retried by the client)",
    "http_500": "HTTP 500 server error (retried by the client)",
    "http_429_retry_after": (
        f"HTTP 429 with 'Retry-After: {RETRY_AFTER_S}' (the client waits that long to retry)"
    ),
    "empty": "200 with empty content",
    "invalid_json": "200 with content that is not JSON",
    "schema_violation": "200 with JSON that does not match the schema",
    "unknown_tool": "200 with a call to a tool that does not exist",
    "unknown_tools": "200 with a call to a tool that does not exist, a new name each time",
    "length": "200 with the reply cut off (finish_reason=length)",
    "huge": f"200 with every text field {HUGE_CHARS:,} characters long",
    "hang": "never answers (until the client gives up)",
    "drop": "closes the connection without answering",
}
"""Every fault mode, with what the server does."""

_HTTP = {
    "http_400": 400,
    "http_404": 404,
    "http_429": 429,
    "http_500": 500,
    "http_429_retry_after": 429,
}


class _Drop(Exception):
    """Close the connection without a reply."""


class FaultServer(FakeOpenAI):
    """:class:`FakeOpenAI` that answers chosen requests with faults.

    Args:
        models: Model names served; a request for another one gets HTTP 404, as from
            OpenAI (``GET /models`` lists ``fake-model`` only).
        **kwargs: As for :class:`FakeOpenAI` (plan, answer, responders, ...).
    """

    def __init__(self, *, models: tuple[str, ...] = ("fake-model",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models = models
        self._faults: list[list[Any]] = []  # [role, fault, remaining or None]
        self.faults_served: list[tuple[str, str]] = []
        # Each request is handled on its own thread: what its reply's headers must add.
        self._reply_headers = threading.local()

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def inject(self, role: str, fault: str, *, times: int | None = None) -> FaultServer:
        """Answer the next ``times`` calls of ``role`` (all, when ``None``) with ``fault``."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append([role, fault, times])
        return self

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, role: str) -> str | None:
        with self._lock:
            for rule in self._faults:
                if rule[0] in (role, "*") and (rule[2] is None or rule[2] > 0):
                    if rule[2] is not None:
                        rule[2] -= 1
                    self.faults_served.append((role, rule[1]))
                    return str(rule[1])
        return None

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("model") not in self.models:
            self._log(body)
            raise FakeHTTPError(404, f"The model `{body.get('model')}` does not exist")
        fault = self._take(role_of(list(body.get("messages") or [])))
        if fault is None:
            return super()._completion(body)
        if fault in _HTTP:
            self._log(body)
            status = _HTTP[fault]
            if fault == "http_429_retry_after":
                self._reply_headers.extra = {"Retry-After": str(RETRY_AFTER_S)}
            raise FakeHTTPError(status, f"injected fault: HTTP {status}")
        if fault == "hang":
            self._log(body)
            self._stopping.wait()  # until the server stops; the client times out first
            raise _Drop
        if fault == "drop":
            self._log(body)
            raise _Drop
        payload = super()._completion(body)
        choice = payload["choices"][0]
        message = choice["message"]
        content = str(message.get("content") or "")
        if fault == "empty":
            message["content"] = ""
        elif fault == "invalid_json":
            message["content"] = "Sure! Here it is: {not json at all"
        elif fault == "schema_violation":
            message["content"] = json.dumps({"unexpected": "field", "items": [1, 2]})
        elif fault in ("unknown_tool", "unknown_tools"):
            # A new name each time gets past the repeated-call check, as a model
            # inventing tools does.
            served = len(self.faults_served)
            name = "no_such_tool" if fault == "unknown_tool" else f"no_such_tool_{served}"
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_fault_{served}",
                    "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                }
            ]
            choice["finish_reason"] = "tool_calls"
        elif fault == "length":
            message["content"] = content[: max(1, len(content) // 2)]
            choice["finish_reason"] = "length"
        elif fault == "huge":
            message["content"] = _huge(content)
        return payload

    def _log(self, body: dict[str, Any]) -> None:
        messages = list(body.get("messages") or [])
        with self._lock:
            self.log.append(
                {
                    "role": role_of(messages),
                    "subtask_id": None,
                    "time": time.time(),
                    "messages": messages,
                }
            )

    def _handler_class(self) -> Any:
        base = super()._handler_class()

        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def end_headers(self) -> None:
                extra = getattr(server._reply_headers, "extra", None) or {}
                server._reply_headers.extra = None
                for name, value in extra.items():
                    self.send_header(name, value)
                super().end_headers()

            def do_POST(self) -> None:
                try:
                    super().do_POST()
                except _Drop:
                    self.close_connection = True
                    # Shut the socket so the client sees the connection end at once.
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)

        return Handler


def _huge(content: str) -> str:
    """The reply with its texts (descriptions, reasons, or the text itself) grown to
    HUGE_CHARS; ids, tags and dependencies stay valid."""
    filler = ("Fuzz data report outlier " * (HUGE_CHARS // 25 + 1))[:HUGE_CHARS]
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, ValueError):
        return content + " " + filler

    def grow(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: (f"{v} {filler}" if k in _TEXT_FIELDS and isinstance(v, str) else grow(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [grow(v) for v in value]
        return value

    return json.dumps(grow(data))


_TEXT_FIELDS = ("description", "reason", "result", "answer")
