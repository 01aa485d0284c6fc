"""A fake OpenAI-compatible chat server on 127.0.0.1, for tests that need a real HTTP model.

It implements ``POST /v1/chat/completions`` (streamed too, with ``"stream": true``) and
``GET /v1/models`` well enough for the official ``openai`` client and
``langchain-openai``: replies are chosen by the role the
system prompt gives (planner, coordinator, verifier, generator, else worker), structured
output requests (``response_format`` JSON schema) get JSON content, and every request is
logged so tests can assert which calls were (not) made.

Example:
    >>> with FakeOpenAI(plan=[{"id": "s1", "description": "Say hi",
    ...                        "capabilities": ["reasoning"]}]) as server:
    ...     base_url = server.base_url   # http://127.0.0.1:PORT/v1
    ...     # run: workforce-graph run "greet" --model fake-model --base-url ...
    ...     server.calls("worker")        # [{"role": "worker", "subtask_id": "s1", ...}]

Run it standalone (for trying the CLI by hand)::

    python tests/fake_openai.py --port 8765
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeHTTPError", "FakeOpenAI", "Reply", "role_of"]

Reply = str | dict[str, Any]
"""A string (the reply's content) or a dict (sent as JSON content)."""
Responder = Callable[[list[dict[str, Any]], dict[str, Any]], Reply]
"""``(messages, request_body) -> reply``."""

_ROLE_MARKERS = {
    "You are the planner": "planner",
    "You are the coordinator": "coordinator",
    "You write the final answer": "generator",
    "You check a worker's result": "verifier",
    "You analyse the request": "query_analysis",
    "You are the verifier": "flow_verifier",
}
_SUBTASK_ID = re.compile(r"Your subtask \(([^)]+)\)")


class _QuietServer(ThreadingHTTPServer):
    """A client that went away mid-request (a CLI that ended, a probe that timed out) is
    not an error of the server: socketserver would print its traceback on stderr, into
    whichever test captures stderr at that moment."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # reset, broken pipe, timed out
            return
        super().handle_error(request, client_address)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def role_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The workforce role a request comes from, read from its system prompt."""
    for message in messages:
        if message.get("role") in ("system", "developer"):
            text = _text(message.get("content"))
            for marker, role in _ROLE_MARKERS.items():
                if text.startswith(marker):
                    return role
    return "worker"


def subtask_id_of(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The subtask id a worker request is about (``None`` for other roles)."""
    for message in messages:
        match = _SUBTASK_ID.search(_text(message.get("content")))
        if match:
            return match.group(1)
    return None


class FakeHTTPError(Exception):
    """Raise from a responder to answer with an HTTP error, as OpenAI does.

    Example:
        >>> FakeOpenAI(responders={"planner": lambda m, b: _raise(FakeHTTPError(401, "bad key"))})
        ... # doctest: +SKIP
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FakeOpenAI:
    """A scripted OpenAI-compatible server running in a background thread.

    Args:
        plan: Subtasks the planner replies with (``depends_on`` defaults to ``[]``).
        answer: The generator's reply.
        worker_delays: Seconds to wait before answering a worker call, by subtask id.
        responders: Override the reply of any role: ``{"worker": fn(messages, body)}``.
        port: Port to listen on (0 picks a free one).

    Example:
        >>> server = FakeOpenAI().start()
        >>> server.base_url  # doctest: +SKIP
        'http://127.0.0.1:40123/v1'
        >>> server.stop()
    """

    def __init__(
        self,
        *,
        plan: Sequence[Mapping[str, Any]] | None = None,
        answer: str = "The final answer.",
        worker_delays: Mapping[str, float] | None = None,
        responders: Mapping[str, Responder] | None = None,
        port: int = 0,
    ) -> None:
        self.plan = [
            dict(s)
            for s in (
                plan or [{"id": "s1", "description": "Do the task", "capabilities": ["reasoning"]}]
            )
        ]
        self.answer = answer
        self.worker_delays = dict(worker_delays or {})
        self.responders: dict[str, Responder] = dict(responders or {})
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a delay
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def calls(self, role: str | None = None) -> list[dict[str, Any]]:
        """Logged requests (role, subtask_id, time, messages), of one role or all."""
        with self._lock:
            return [c for c in self.log if role is None or c["role"] == role]

    # -- replies ---------------------------------------------------------------

    def reply_for(self, role: str, messages: list[dict[str, Any]], body: dict[str, Any]) -> Reply:
        """The reply to one request: a responder's, else the scripted default."""
        if role in self.responders:
            return self.responders[role](messages, body)
        if role == "planner":
            return {"subtasks": [{"depends_on": [], **s} for s in self.plan]}
        if role == "generator":
            return self.answer
        if role == "verifier":
            return {"ok": True, "reason": ""}
        if role == "query_analysis":
            return {"needs": "the answer", "capabilities": ["reasoning"], "answer_form": "short"}
        if role == "flow_verifier":
            return {"reason": "the memory answers the request", "decision": "STOP"}
        if role == "coordinator":
            return {"assignments": _first_candidates(messages)}
        sid = subtask_id_of(messages)
        delay = self.worker_delays.get(sid or "", 0.0)
        if delay:
            self._stopping.wait(delay)
        return f"Result of {sid}."

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = list(body.get("messages") or [])
        role = role_of(messages)
        entry = {
            "role": role,
            "subtask_id": subtask_id_of(messages) if role == "worker" else None,
            "time": time.time(),
            "messages": messages,
            "body": body,
        }
        with self._lock:
            self.log.append(entry)
        reply = self.reply_for(role, messages, body)
        content = reply if isinstance(reply, str) else json.dumps(reply)
        prompt_chars = sum(len(_text(m.get("content"))) for m in messages)
        prompt_tokens, completion_tokens = max(1, prompt_chars // 4), max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-{len(self.log)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a killed CLI); nothing to answer

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "invalid JSON body"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    payload = server._completion(body)
                except FakeHTTPError as exc:
                    self._send(
                        exc.status,
                        {
                            "error": {
                                "message": exc.message,
                                "type": "fake",
                                "code": str(exc.status),
                            }
                        },
                    )
                    return
                if body.get("stream"):
                    self._send_stream(payload, body)
                else:
                    self._send(200, payload)

            def _send_stream(self, payload: dict[str, Any], body: dict[str, Any]) -> None:
                """The completion as server-sent events: the content word by word, then
                the finish reason, and the usage when ``stream_options`` asks for it."""
                base = {k: payload[k] for k in ("id", "created", "model")}
                choice = payload["choices"][0]
                words = re.split(r"(\s+)", choice["message"]["content"])
                deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
                deltas += [{"content": word} for word in words if word]
                events = [
                    {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    for delta in deltas
                ]
                events.append(
                    {
                        "choices": [
                            {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}
                        ]
                    }
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    events.append({"choices": [], "usage": payload["usage"]})
                lines = [
                    f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', **event})}\n\n"
                    for event in events
                ]
                data = ("".join(lines) + "data: [DONE]\n\n").encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away

        return Handler


def _first_candidates(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Coordinator reply: each listed subtask gets its first candidate worker."""
    listing = _text(messages[-1].get("content")) if messages else ""
    assignments = []
    for match in re.finditer(r"^- ([^:]+): .*\(candidates: ([^,)]+)", listing, re.MULTILINE):
        assignments.append({"subtask_id": match.group(1).strip(), "worker": match.group(2).strip()})
    return assignments


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted, with the default script (one subtask)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    with FakeOpenAI(port=args.port) as server:
        print(f"serving on {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
