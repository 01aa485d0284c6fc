"""A line on stderr while the run waits on a slow model call, in every output mode.

A server that accepts a request and never answers would otherwise look like a hung
run (``--json`` prints nothing until the end). :class:`WaitingNotice` is a LangChain
callback handler that tracks open model calls; :meth:`WaitingNotice.watch` says which
role the run is waiting for, how long so far and the limit, every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler

__all__ = ["WaitingNotice"]

_NODE_ROLES = {"workers": "worker", "plan_review": "planner"}


class WaitingNotice(AsyncCallbackHandler):
    """Reports model calls open longer than ``after_s``, then every ``after_s``.

    Args:
        say: Writes one line (to stderr).
        limit_s: The per-call time limit, named in the line.
        after_s: First notice after this long (default: a third of the limit, at most
            10 s).
    """

    run_inline = True

    def __init__(
        self, say: Callable[[str], None], *, limit_s: float, after_s: float | None = None
    ) -> None:
        self.say = say
        self.limit_s = limit_s
        self.after_s = after_s if after_s is not None else min(10.0, max(0.5, limit_s / 3))
        self._open: dict[UUID, tuple[str, float, list[int]]] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._open[run_id] = (_role(metadata or {}), time.monotonic(), [0])

    async def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._open.pop(run_id, None)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._open.pop(run_id, None)

    def check(self) -> None:
        """Say a line for each call that passed another ``after_s`` since the last one."""
        now = time.monotonic()
        for role, started, said in list(self._open.values()):
            waited = now - started
            due = int(waited // self.after_s)
            if due > said[0]:
                said[0] = due
                self.say(
                    f"waiting for the {role} model: {waited:.0f} s so far "
                    f"(a call to a model server is limited to {self.limit_s:g} s, --call-timeout)"
                )

    async def watch(self) -> None:
        """Check a few times a second until cancelled."""
        while True:
            await asyncio.sleep(min(1.0, self.after_s / 2))
            self.check()


def _role(metadata: dict[str, Any]) -> str:
    role = metadata.get("workforce_role")
    if role:
        return str(role)
    node = str(metadata.get("langgraph_node") or "model")
    return _NODE_ROLES.get(node, node)
