"""A chat endpoint in front of a vLLM server that records every turn's tokens.

The agent runs its own loop and calls its planner like any OpenAI-compatible model; the
proxy renders each chat request with the policy's own chat template, asks the engine's
``/v1/completions`` for exactly those prompt tokens (``return_token_ids``, sampled
``logprobs``), answers the agent with the text and keeps, per rollout, the prompt ids,
the sampled ids and their log-probabilities: what the trainer needs, never re-derived
from text. This is TRL's own way of sampling a turn (``_generate_one_turn``) and what
OpenEnv's capture proxy records for a loop-owning harness.

The sampling is the trainer's (temperature, top-p, length), whatever the agent asks: the
update's importance ratio assumes the policy sampled at that temperature. A structured
reply's ``response_format`` is passed on, so the engine decodes under the same JSON
schema as the in-process loop's rollouts (``constrained=False`` turns that off).

Each rollout gets its own base URL (``/rollouts/<id>/v1``), so concurrent rollouts never
mix their turns.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol

__all__ = ["CaptureError", "ChatTokenizer", "EngineProxy", "EngineTurn"]

DEFAULT_SAMPLING: dict[str, Any] = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 512}
"""AgentFlow's rollout temperature and the in-process loop's ``max_new_tokens``."""


class CaptureError(RuntimeError):
    """A turn whose tokens could not be recorded (the engine gave no token ids or
    logprobs, or a planner decision has no recorded turn); nothing of it can be trained."""


class ChatTokenizer(Protocol):
    """What the proxy needs of the policy's tokenizer (a ``transformers`` one fits)."""

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def decode(self, token_ids: Any, **kwargs: Any) -> str: ...


@dataclass(frozen=True)
class EngineTurn:
    """One request the engine answered: what it saw and what it sampled."""

    messages: list[dict[str, str]]
    """The chat request's messages (role and content), as the agent sent them."""
    text: str
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    """One per completion id: the behaviour policy's log-probability of the sampled token."""
    finish_reason: str | None
    model: str
    """The engine's model name the turn was sampled from (a LoRA version names its own)."""


class EngineProxy:
    """Serve ``/rollouts/<id>/v1/chat/completions`` on ``host`` from the engine at
    ``engine_url``, recording each turn per rollout.

    Args:
        engine_url: The vLLM server's root (``http://host:8000``).
        tokenizer: The policy's tokenizer: its chat template makes the prompt ids.
        model: The engine's model name, or a function giving the current one (a LoRA
            adapter's name changes with each weight sync).
        sampling: Sampling of every turn (``temperature``, ``top_p``, ``top_k``,
            ``min_p``, ``repetition_penalty``, ``max_tokens``); default
            :data:`DEFAULT_SAMPLING`.
        constrained: Pass a structured request's ``response_format`` to the engine.
        timeout_s: One engine request's limit.
        on_turn: Called after each answered request (a heartbeat).
    """

    def __init__(
        self,
        engine_url: str,
        tokenizer: ChatTokenizer,
        *,
        model: str | Callable[[], str],
        sampling: Mapping[str, Any] | None = None,
        constrained: bool = True,
        timeout_s: float = 120.0,
        on_turn: Callable[[], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        import httpx

        self.engine_url = engine_url.rstrip("/")
        self.tokenizer = tokenizer
        self._model = model
        self.sampling = {**DEFAULT_SAMPLING, **(sampling or {})}
        self.constrained = constrained
        self.on_turn = on_turn
        self.capture_error: CaptureError | None = None
        """The first turn that could not be recorded (the proxy answered it 502)."""
        self._client = httpx.Client(timeout=timeout_s)
        self._turns: dict[str, list[EngineTurn]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def model(self) -> str:
        return self._model() if callable(self._model) else self._model

    def open(self, rollout_id: str) -> str:
        """Start recording ``rollout_id``; the base URL its agent's planner uses."""
        with self._lock:
            self._turns[rollout_id] = []
        return f"{self.root}/rollouts/{rollout_id}/v1"

    def take(self, rollout_id: str) -> list[EngineTurn]:
        """The turns recorded for ``rollout_id``, in order; its URL answers 404 after."""
        with self._lock:
            return self._turns.pop(rollout_id, [])

    def start(self) -> EngineProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and wait for the server thread; the engine is left running."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> EngineProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- one turn -------------------------------------------------------------------

    def answer(self, rollout_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON reply to one chat request of ``rollout_id``."""
        with self._lock:
            known = rollout_id in self._turns
        if not known:
            return 404, _error(f"no rollout {rollout_id!r} is being recorded")
        if body.get("stream"):
            return 400, _error("streaming is not supported")
        if body.get("tools"):
            # The planner's structured output then falls back to a JSON reply.
            return 400, _error("tools are not supported; ask for a JSON reply")
        messages = [_plain(m) for m in body.get("messages") or []]
        prompt_ids = [
            int(i)
            for i in self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        ]
        model = self.model
        payload: dict[str, Any] = {
            **self.sampling,
            "model": model,
            "prompt": prompt_ids,
            "n": 1,
            "return_token_ids": True,
            "logprobs": 0,
            # Engines seed unseeded requests alike: the group's samples would repeat.
            "seed": random.getrandbits(63),
        }
        response_format = body.get("response_format")
        wants_json = isinstance(response_format, dict) and response_format.get("type") != "text"
        if self.constrained and wants_json:
            payload["response_format"] = response_format
        import httpx

        try:
            reply = self._client.post(f"{self.engine_url}/v1/completions", json=payload)
        except httpx.HTTPError as exc:
            return 502, _error(f"the engine at {self.engine_url} did not answer: {exc}")
        if reply.status_code != 200:  # passed on: the client retries a 429 or 5xx itself
            return reply.status_code, _error(f"the engine answered {reply.status_code}")
        try:
            choice = reply.json()["choices"][0]
            turn = self._turn(messages, prompt_ids, choice, model)
        except (ValueError, KeyError, IndexError, TypeError, CaptureError) as exc:
            failure = exc if isinstance(exc, CaptureError) else CaptureError(f"{exc!r}")
            self.capture_error = self.capture_error or failure
            return 502, _error(str(failure))
        with self._lock:
            if rollout_id in self._turns:
                self._turns[rollout_id].append(turn)
        if self.on_turn is not None:
            self.on_turn()
        return 200, _chat_reply(turn)

    def _turn(
        self, messages: list[dict[str, str]], prompt_ids: list[int], choice: Any, model: str
    ) -> EngineTurn:
        ids = choice.get("token_ids")
        logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
        if not isinstance(ids, list) or not isinstance(logprobs, list):
            raise CaptureError(
                "the engine returned no token ids or logprobs: serve the policy with a "
                "vLLM that answers return_token_ids (as TRL's asynchronous trainer needs)"
            )
        if len(ids) != len(logprobs):
            raise CaptureError(f"{len(ids)} token ids but {len(logprobs)} logprobs")
        text = choice.get("text")
        if not isinstance(text, str):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return EngineTurn(
            messages=messages,
            text=text,
            prompt_ids=prompt_ids,
            completion_ids=[int(i) for i in ids],
            logprobs=[float(v) for v in logprobs],
            finish_reason=choice.get("finish_reason"),
            model=model,
        )


def _plain(message: Mapping[str, Any]) -> dict[str, str]:
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text, as the recorder keeps it
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return {
        "role": str(message.get("role")),
        "content": content if isinstance(content, str) else "",
    }


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "engine_proxy"}}


def _chat_reply(turn: EngineTurn) -> dict[str, Any]:
    prompt, completion = len(turn.prompt_ids), len(turn.completion_ids)
    return {
        "id": f"chatcmpl-{random.getrandbits(64):016x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": turn.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": turn.text},
                "finish_reason": turn.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _handler(proxy: EngineProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the agent's client reports failures; no access log on stderr

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the agent went away (its run was cancelled)

        def _route(self) -> tuple[str, str] | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 4 and parts[0] == "rollouts" and parts[2] == "v1":
                return parts[1], "/".join(parts[3:])
            return None

        def do_GET(self) -> None:
            route = self._route()
            if route is None or route[1] != "models":
                self._send(404, _error(f"no route {self.path}"))
                return
            self._send(200, {"object": "list", "data": [{"id": proxy.model, "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            route = self._route()
            if route is None or route[1] != "chat/completions":
                self.rfile.read(length)
                self._send(404, _error(f"no route {self.path}"))
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error("invalid JSON body"))
                return
            if not isinstance(body, dict):
                self._send(400, _error("the body must be a JSON object"))
                return
            self._send(*proxy.answer(route[0], body))

    return Handler
