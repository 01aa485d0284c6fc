"""Running requests for MCP clients, as ``workforce-graph run`` runs them.

The same models (resolved once per topology), the same graph and the same run store:
every call is a run kept under its own thread id, which ``workforce-graph show`` and
``resume`` know. Each run is an asyncio task of its own, so that it can be cancelled
whoever asks (the client, a closed session, the server stopping), and the run records
itself as interrupted on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

import anyio
from langchain_core.runnables import RunnableConfig

from workforce_graph.cli.errors import explain
from workforce_graph.cli.preflight import check_models
from workforce_graph.cli.run_options import RunOptions, build_graph, resolve_models
from workforce_graph.cli.summary import status_of
from workforce_graph.mcp import McpWorkers
from workforce_graph.mcp_server.tool import FailedPart, RequestError, RunRequest, RunResult
from workforce_graph.persistence import RunRecord, RunStatus, RunStore
from workforce_graph.topologies import DEFAULT_TOPOLOGY

__all__ = ["EventSink", "RunStopped", "WorkforceRunner", "result_of"]

EventSink = Callable[[Mapping[str, Any]], Awaitable[None]]
"""Receives each progress event of a run (see :mod:`workforce_graph.events`)."""


class RunStopped(RequestError):
    """The server stopped while the run was going on; it is kept, resumable."""


def result_of(state: Mapping[str, Any], thread_id: str) -> RunResult:
    """The tool's result from a finished run's state."""
    answer = state.get("answer") or {}
    return RunResult(
        answer=str(answer.get("text") or state.get("error") or "(no answer)"),
        complete=bool(answer.get("complete")),
        failed=[
            FailedPart(id=str(f.get("id")), reason=str(f.get("reason")), kind=f.get("kind"))
            for f in answer.get("failed") or []
        ],
        usage={
            key: {k: int(v) for k, v in counts.items()}
            for key, counts in (state.get("usage") or {}).items()
        },
        thread_id=thread_id,
        status=status_of(state),
    )


class WorkforceRunner:
    """Runs requests on one run store with one set of model options.

    Args:
        options: Models, base URL and settings, as ``run`` takes them (the topology is
            each request's).
        store: Where runs are kept.
        mcp: The workers of the ``--mcp`` file's servers, loaded once for every run.
    """

    def __init__(self, options: RunOptions, store: RunStore, mcp: McpWorkers | None = None) -> None:
        self.options = options
        self.store = store
        self.mcp = mcp
        self._models: dict[str, dict[str, Any]] = {}
        self._graphs: dict[str, Any] = {}
        self._runs: set[asyncio.Task[RunResult]] = set()

    def check_config(self, topology: str = DEFAULT_TOPOLOGY) -> None:
        """Resolve ``topology``'s models now, so a bad model option stops the server
        before it serves (raises ``ModelConfigError`` or ``CliError``)."""
        self._models_for(topology)

    def _models_for(self, topology: str) -> dict[str, Any]:
        if topology not in self._models:
            self._models[topology] = resolve_models(replace(self.options, topology=topology))
        return self._models[topology]

    def _graph_for(self, topology: str, models: Mapping[str, Any]) -> Any:
        if topology not in self._graphs:
            options = replace(self.options, topology=topology)
            self._graphs[topology] = build_graph(
                options, self.store.checkpointer, models, self.store.store, mcp=self.mcp
            )
        return self._graphs[topology]

    @property
    def running(self) -> int:
        """How many runs are going on."""
        return len(self._runs)

    async def run(self, request: RunRequest, on_event: EventSink) -> RunResult:
        """Run ``request`` to its answer, handing each progress event to ``on_event``.

        Cancelling the caller cancels the run and waits for it to stop (recorded as
        interrupted); the cancellation then goes on.

        Raises:
            RequestError: The request cannot run here (a model cannot be set up or
                reached, no worker is available; one line), or the server stopped
                during the run (:class:`RunStopped`).
        """
        options = replace(self.options, topology=request.topology)
        try:
            models = self._models_for(request.topology)
            await check_models(
                options.effective_base_url(),
                models,
                call_timeout_s=options.effective_call_timeout(),
            )
            graph = self._graph_for(request.topology, models)
        except Exception as exc:
            known = explain(exc, base_url=options.effective_base_url())
            if known is None:
                raise
            raise RequestError(known.message) from exc
        thread_id = uuid.uuid4().hex[:16]
        run_input: dict[str, Any] = {
            "task": request.task,
            "attachments": request.attachments,
            "answer_format": request.answer_format,
        }
        stored = {**asdict(options), "input": run_input}
        await self.store.record_start(RunRecord.new(thread_id, request.task, stored))
        run = asyncio.create_task(self._drive(graph, thread_id, run_input, options, on_event))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        try:
            # Shielded: the caller's cancellation is handled below, once.
            return await asyncio.shield(run)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if caller is None or not caller.cancelling():
                # The run itself was cancelled: the server is stopping.
                raise RunStopped(
                    f"the server stopped during the run; it is kept as {thread_id}: "
                    f"resume it with 'workforce-graph resume {thread_id}'"
                ) from None
            run.cancel()
            # anyio cancels its scope's task again at every await: wait out the
            # run's cleanup in a shielded scope.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({run})
            raise

    async def _drive(
        self,
        graph: Any,
        thread_id: str,
        run_input: Mapping[str, Any],
        options: RunOptions,
        on_event: EventSink,
    ) -> RunResult:
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        try:
            async for mode, chunk in graph.astream(
                run_input,
                config,
                context=options.context(),
                stream_mode=["custom", "values"],
                # Each step on disk before the next, so an interrupted run resumes there.
                durability="sync",
            ):
                if mode == "custom" and isinstance(chunk, Mapping):
                    await on_event(chunk)
            snapshot = await graph.aget_state(config)
        except asyncio.CancelledError:
            await self._mark(thread_id, "interrupted")
            raise
        except BaseException:
            await self._mark(thread_id, "failed")
            raise
        if snapshot.interrupts:
            await self._mark(thread_id, "paused")
            raise RequestError(f"run {thread_id} waits for input this server cannot give")
        state = dict(snapshot.values)
        await self._mark(thread_id, status_of(state))
        return result_of(state, thread_id)

    async def _mark(self, thread_id: str, status: RunStatus) -> None:
        # A failing database must not hide why the run ended.
        with contextlib.suppress(Exception):
            await self.store.set_status(thread_id, status)

    async def cancel_all(self) -> None:
        """Cancel every run going on and wait until each has recorded itself."""
        runs = list(self._runs)
        for run in runs:
            run.cancel()
        if runs:
            await asyncio.wait(runs)
