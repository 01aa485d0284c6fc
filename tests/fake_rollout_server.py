"""A stand-in rollout server on 127.0.0.1 speaking vLLM's OpenAI-compatible endpoints.

``POST /v1/chat/completions`` answers every request with the same planner reply, and
with ``logprobs`` its tokens as vLLM gives them under ``return_tokens_as_token_ids``
(``token_id:N``, from the tokenizer given); ``POST /v1/load_lora_adapter`` loads an
adapter name (recorded, then listed by ``GET /v1/models``). After ``fail_after``
chat completions every chat request answers HTTP 500 (a server failing mid-iteration);
after ``die_after`` the server closes the connection and stops listening (one dying).
Every request is logged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["FakeRolloutServer"]

LOGPROB = -0.5


class FakeRolloutServer:
    """Serves ``base`` and the adapters loaded at runtime.

    Args:
        reply: The planner's reply text, for every chat request.
        encode: Text to token ids (``None``: no ids, as a server without them).
        base: The served base model's name.
        fail_after: Chat completions answered before every later one fails with 500.
        die_after: Chat completions answered before the server goes away.
    """

    def __init__(
        self,
        reply: str,
        *,
        encode: Callable[[str], list[int]] | None = None,
        base: str = "base-model",
        fail_after: int | None = None,
        die_after: int | None = None,
    ) -> None:
        self.reply = reply
        self.encode = encode
        self.models = [base]
        self.fail_after = fail_after
        self.die_after = die_after
        self.dead = threading.Event()
        self.requests = 0
        self.chats: list[dict[str, Any]] = []
        self.adapters: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeRolloutServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.die()

    def die(self) -> None:
        """Stop answering and listening: later connections are refused."""
        if not self.dead.is_set():
            self.dead.set()
            self.server.shutdown()
            self.server.server_close()

    def dying(self) -> bool:
        """Whether this chat request is past ``die_after`` (it is counted)."""
        with self.lock:
            self.requests += 1
            return self.die_after is not None and self.requests > self.die_after

    def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.chats.append(body)
            failing = self.fail_after is not None and len(self.chats) > self.fail_after
        if failing:
            return 500, {"error": {"message": "the engine died", "code": 500}}
        if body.get("model") not in self.models:
            return 404, {"error": {"message": f"model {body.get('model')} does not exist"}}
        logprobs = None
        if body.get("logprobs") and self.encode is not None:
            logprobs = {
                "content": [
                    {"token": f"token_id:{i}", "logprob": LOGPROB, "top_logprobs": []}
                    for i in self.encode(self.reply)
                ]
            }
        return 200, {
            "id": f"chat-{len(self.chats)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.reply},
                    "finish_reason": "stop",
                    "logprobs": logprobs,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, payload: Any) -> None:
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    data = [{"id": name, "object": "model"} for name in owner.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                path = self.path.rstrip("/")
                if path == "/v1/chat/completions" and owner.dying():
                    self.close_connection = True  # no answer, then nothing listens
                    threading.Thread(target=owner.die, daemon=True).start()
                elif path == "/v1/chat/completions":
                    self._send(*owner._chat(body))
                elif path == "/v1/load_lora_adapter":
                    with owner.lock:
                        owner.adapters.append(body)
                        owner.models.append(str(body["lora_name"]))
                    self._send(200, f"Success: LoRA adapter '{body['lora_name']}' added")
                else:
                    self._send(404, {"error": {"message": "not found"}})

        return Handler
