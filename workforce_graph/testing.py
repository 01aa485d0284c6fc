"""A scripted chat model for testing graphs and plugins offline.

:class:`ScriptedChatModel` subclasses LangChain's ``GenericFakeChatModel``: instead of a
fixed list of replies it asks one function per role (read from the call's
``workforce:<role>`` tag, see :mod:`workforce_graph.calls.roles`), so replies stay right when
workers run concurrently in any order. It supports ``bind_tools``, reports token usage
(about four characters a token) and can add a fixed latency to every call, which is
what ``benchmarks/orchestration.py`` measures.

Replies stream word by word (each word and each run of whitespace one chunk) when
someone streams them (a graph streamed with ``stream_mode="messages"``), with
``token_latency_s`` between chunks if given: the chunks go through the call's
callbacks, because only they carry the role (LangChain hands a model's own
``_stream`` no run manager).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from pydantic import Field

from workforce_graph.calls.roles import role_from_run

__all__ = ["Reply", "ScriptedChatModel", "plan_reply", "role_of"]

Reply = str | AIMessage | dict[str, Any] | BaseException
Responder = Callable[[list[BaseMessage]], Reply]


def role_of(run_manager: Any) -> str:
    """The role of a model call from its run's tags and metadata (``worker`` if none)."""
    if run_manager is None:
        return "worker"
    return role_from_run(run_manager.tags, run_manager.metadata) or "worker"


def plan_reply(*subtasks: dict[str, Any]) -> dict[str, Any]:
    """A planner reply: ``plan_reply({"id": "a", "description": ..., "capabilities": [...]})``."""
    return {"subtasks": [{"depends_on": [], **s} for s in subtasks]}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _streamed(run_manager: Any) -> bool:
    """Whether someone streams the call's tokens (LangGraph's ``messages`` mode,
    ``astream_events``): the test LangChain's ``_should_stream`` makes."""
    handlers = getattr(run_manager, "handlers", None) or []
    return any(isinstance(h, _StreamingCallbackHandler) for h in handlers)


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model whose replies come from a function per role.

    Args:
        responders: ``{"planner": fn, "worker": fn, ...}``; each function gets the
            prompt and returns a string, a dict (sent as JSON text), an ``AIMessage``
            (e.g. with tool calls) or an exception to raise. Missing roles answer
            ``"ok"``.
        latency_s: Added to every call (``asyncio.sleep`` in async calls).
        token_latency_s: Added before every streamed chunk after the first (a server
            writing its reply token by token).

    Example:
        >>> model = ScriptedChatModel(responders={
        ...     "planner": lambda m: plan_reply({"id": "s1", "description": "Say hi",
        ...                                      "capabilities": ["reasoning"]}),
        ...     "worker": lambda m: "hi",
        ...     "generator": lambda m: "Hi!"})
    """

    messages: Iterator[AIMessage] = Field(default_factory=lambda: iter(()))
    responders: dict[str, Any] = Field(default_factory=dict)
    latency_s: float = 0.0
    token_latency_s: float = 0.0
    calls: list[dict[str, Any]] = Field(default_factory=list)
    bound_tools: list[Any] = Field(default_factory=list)
    lock: Any = Field(default_factory=threading.Lock, exclude=True)

    def _reply(self, messages: list[BaseMessage], run_manager: Any = None) -> AIMessage:
        role = role_of(run_manager)
        prompt = "\n".join(str(m.content) for m in messages)
        with self.lock:
            self.calls.append({"role": role, "prompt": prompt})
        responder = self.responders.get(role)
        reply: Reply = (
            responder(messages)
            if callable(responder)
            else ("ok" if responder is None else responder)
        )
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, dict):
            reply = json.dumps(reply)
        message = reply if isinstance(reply, AIMessage) else AIMessage(reply)
        text = str(message.content) + json.dumps(message.tool_calls)
        message.usage_metadata = {
            "input_tokens": _tokens(prompt),
            "output_tokens": _tokens(text),
            "total_tokens": _tokens(prompt) + _tokens(text),
        }
        return message

    def _should_stream(self, **kwargs: Any) -> bool:
        # Never LangChain's streaming path, which calls _stream without the run manager
        # (so without the role): _generate and _agenerate stream through it instead.
        return False

    @staticmethod
    def _pieces(message: AIMessage) -> list[str]:
        if not isinstance(message.content, str):
            return []
        return [piece for piece in re.split(r"(\s+)", message.content) if piece]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            time.sleep(self.latency_s)
        message = self._reply(messages, run_manager)
        if _streamed(run_manager):
            assert run_manager is not None
            message.id = f"lc_run--{run_manager.run_id}"  # as LangChain names it; chunks share it
            for index, piece in enumerate(self._pieces(message)):
                if index and self.token_latency_s:
                    time.sleep(self.token_latency_s)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
                run_manager.on_llm_new_token(piece, chunk=chunk)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        message = self._reply(messages, run_manager)
        if _streamed(run_manager):
            assert run_manager is not None
            message.id = f"lc_run--{run_manager.run_id}"  # as LangChain names it; chunks share it
            role = role_of(run_manager)
            for index, piece in enumerate(self._pieces(message)):
                await self._before_chunk(index, role)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
                await run_manager.on_llm_new_token(piece, chunk=chunk)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _before_chunk(self, index: int, role: str) -> None:
        """Waits before streaming chunk ``index`` of a ``role`` call (``token_latency_s``
        after the first); a subclass may wait on something else (a test pacing the
        answer)."""
        if index and self.token_latency_s:
            await asyncio.sleep(self.token_latency_s)

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self.bound_tools = list(tools)
        return self

    def calls_by_role(self, role: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["role"] == role]
