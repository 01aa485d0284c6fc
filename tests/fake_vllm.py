"""A stand-in vLLM server on 127.0.0.1: ``POST /v1/completions`` with token-id prompts.

It answers as vLLM does with ``return_token_ids`` and ``logprobs: 0``: the reply's text,
its token ids (ending with the end-of-turn token, which the text leaves out) and one
log-probability per id. Replies come from a function of the decoded prompt; every
request body is logged.

Example:
    >>> with FakeVllm(tokenizer, reply=lambda prompt: '{"ok": true}') as engine:
    ...     engine.root  # http://127.0.0.1:PORT
    ...     engine.requests  # [{"model": ..., "prompt": [ids], ...}]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["LOGPROB", "FakeVllm"]

LOGPROB = -0.25
"""The log-probability the stand-in gives every sampled token."""


class FakeVllm:
    """A scripted vLLM ``/v1/completions`` endpoint.

    Args:
        tokenizer: Decodes the prompt ids and encodes the reply.
        reply: ``prompt text -> reply text``.
        token_ids: Send the reply's token ids and logprobs (``False``: an engine that
            cannot, as an older vLLM).
    """

    def __init__(
        self, tokenizer: Any, reply: Callable[[str], str], *, token_ids: bool = True
    ) -> None:
        self.tokenizer = tokenizer
        self.reply = reply
        self.token_ids = token_ids
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeVllm:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
        prompt = self.tokenizer.decode(body["prompt"])
        text = self.reply(prompt)
        ids = [*self.tokenizer.encode(text, add_special_tokens=False), self.tokenizer.eos_token_id]
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop"}
        if self.token_ids:
            choice.update(token_ids=ids, logprobs={"token_logprobs": [LOGPROB] * len(ids)})
        return {"object": "text_completion", "model": body.get("model"), "choices": [choice]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path != "/v1/completions":
                    status, payload = 404, {"error": {"message": "no route"}}
                else:
                    status, payload = 200, engine.complete(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
