"""A line on stderr while the run waits on a slow model call, in every output mode.

A server that accepts a request and never answers would otherwise look like a hung
run (``--json`` prints nothing until the end). :class:`WaitingNotice` is a LangChain
callback handler that tracks open model calls; :meth:`WaitingNotice.watch` says which
role the run is waiting for, how long so far and the limit, every few seconds.

The limit named is the one that applies: a model server's call is cut at
``--call-timeout``, while a model computed in this process (``local``, ``gguf:``,
``hf:``) has no time limit (see ``models.call_timeout``) and its reply ends at its token
budget, which the line names instead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

__all__ = ["WaitingNotice"]

_NODE_ROLES = {"workers": "worker", "plan_review": "planner"}


@dataclass
class _OpenCall:
    role: str
    started: float
    limit: str
    """What bounds the call, as the line says it."""
    said: int = 0


class WaitingNotice(AsyncCallbackHandler):
    """Reports model calls open longer than ``after_s``, then every ``after_s``.

    Args:
        say: Writes one line (to stderr).
        limit_s: The per-call time limit of a model server, named in the line.
        after_s: First notice after this long (default: a third of the limit, at most
            10 s).
        clock: Seconds from a monotonic clock (a test passes its own).
    """

    run_inline = True

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        limit_s: float,
        after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say = say
        self.limit_s = limit_s
        self.after_s = after_s if after_s is not None else min(10.0, max(0.5, limit_s / 3))
        self.clock = clock
        self._open: dict[UUID, _OpenCall] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if _in_process(serialized):
            limit = "a model in this process has no time limit; its reply ends " + (
                _token_budget(invocation_params or {}) or "at its token limit"
            )
        else:
            limit = f"a call to a model server is limited to {self.limit_s:g} s, --call-timeout"
        self._open[run_id] = _OpenCall(_role(metadata or {}), self.clock(), limit)

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._open.pop(run_id, None)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._open.pop(run_id, None)

    def check(self) -> None:
        """Say a line for each call that passed another ``after_s`` since the last one."""
        now = self.clock()
        for call in list(self._open.values()):
            waited = now - call.started
            due = int(waited // self.after_s)
            if due > call.said:
                call.said = due
                self.say(f"waiting for the {call.role} model: {waited:.0f} s so far ({call.limit})")

    async def watch(self) -> None:
        """Check a few times a second until cancelled."""
        while True:
            await asyncio.sleep(min(1.0, self.after_s / 2))
            self.check()


def _in_process(serialized: Mapping[str, Any] | None) -> bool:
    """Whether the model that starts a call computes in this process.

    A callback sees the model's serialised form, not the model: for a class LangChain
    cannot serialise (ours), its ``id`` is the module path and class name, so the class
    is looked up among the loaded modules and asked as ``models.runs_in_process`` asks
    an instance. Anything else (a provider's client) is a model server.
    """
    path = (serialized or {}).get("id")
    if not isinstance(path, list) or len(path) < 2:
        return False
    module = sys.modules.get(".".join(str(part) for part in path[:-1]))
    model_class = getattr(module, str(path[-1]), None) if module is not None else None
    return bool(getattr(model_class, "runs_in_process", False))


def _token_budget(params: Mapping[str, Any]) -> str | None:
    # llama.cpp models name it max_tokens, transformers models max_new_tokens.
    for key in ("max_tokens", "max_new_tokens"):
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return f"within {value} tokens"
    return None


def _role(metadata: dict[str, Any]) -> str:
    role = metadata.get("workforce_role")
    if role:
        return str(role)
    node = str(metadata.get("langgraph_node") or "model")
    return _NODE_ROLES.get(node, node)
