"""Running and resuming runs: the CLI's use of the graph and the run store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from workforce_graph.cli.answer_stream import answer_tokens_for
from workforce_graph.cli.errors import EXIT_INTERRUPTED, CliError
from workforce_graph.cli.mcp import checked_mcp_config, started_mcp_workers
from workforce_graph.cli.preflight import (
    check_models,
    read_attachments,
    warn_unreadable_attachments,
)
from workforce_graph.cli.render import EventsView, LiveView, PlainView, ProgressView
from workforce_graph.cli.request import checked_request
from workforce_graph.cli.review import ask_plan_review
from workforce_graph.cli.run_options import RunOptions, build_graph, resolve_models
from workforce_graph.cli.summary import OutputMode, finish_run, status_of, stderr_console
from workforce_graph.cli.waiting import WaitingNotice
from workforce_graph.persistence import (
    RunRecord,
    RunStatus,
    RunStore,
    open_run_store,
    parse_db,
)
from workforce_graph.trajectory.recorder import with_recording

if TYPE_CHECKING:
    pass

__all__ = [
    "OutputMode",
    "drive_run",
    "open_stored_run",
    "progress_view",
    "resume_run",
    "start_run",
]


def _say(line: str) -> None:
    """A message on stderr, unwrapped so it stays one copyable line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def _mark(store: RunStore, thread_id: str, status: RunStatus) -> None:
    """Record a run's status on the way out; a failing database must not hide the cause."""
    with contextlib.suppress(Exception):
        await store.set_status(thread_id, status)


def progress_view(mode: OutputMode, options: RunOptions) -> ProgressView:
    """Where a run's progress goes: nowhere (JSON), events on stdout, or stderr."""
    if mode == "json":
        return ProgressView()
    if mode == "events":
        return EventsView(sys.stdout)
    if sys.stderr.isatty():
        return LiveView(stderr_console(), max_replans=options.settings.get("max_replans"))
    return PlainView(sys.stderr)


def _resume_hint(thread_id: str, db: str | None) -> str:
    target = parse_db(db)
    if target.kind == "memory":
        return "not saved (--db memory), so it cannot be resumed"
    db_part = f" --db {target.describe()}" if db else ""
    return f"resume with: workforce-graph resume {thread_id}{db_part}"


async def drive_run(
    graph: Any,
    store: RunStore,
    thread_id: str,
    first_input: Any,
    options: RunOptions,
    mode: OutputMode,
    view: ProgressView,
    db: str | None,
    tokens: bool = False,
) -> int:
    """Stream the run, answer plan reviews, and return the exit code.

    The answer's tokens are streamed too where someone takes them (a terminal, or
    ``tokens`` with ``--events``: see ``cli/answer_stream.py``), and only then.
    """
    answer = answer_tokens_for(mode, tokens, view)
    stream_modes = ["custom", "values", *(["messages"] if answer is not None else [])]
    notice = WaitingNotice(_say, limit_s=options.effective_call_timeout())
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "callbacks": [notice]}
    if options.record:
        config = with_recording(config, record=options.record, topology=options.topology)
    pending: Any = first_input
    in_review = False
    watcher = asyncio.create_task(notice.watch())
    try:
        while True:
            async for stream_mode, chunk in graph.astream(
                pending,
                config,
                context=options.context(),
                stream_mode=stream_modes,
                # Each step is on disk before the next starts, so a killed run resumes
                # from where it was, not from an earlier step.
                durability="sync",
            ):
                if stream_mode == "custom" and isinstance(chunk, Mapping):
                    view.event(chunk)
                elif stream_mode == "values" and isinstance(chunk, Mapping):
                    view.values(chunk)
                elif stream_mode == "messages" and answer is not None:
                    answer.chunk(chunk)
            snapshot = await graph.aget_state(config)
            interrupts = list(snapshot.interrupts)
            if not interrupts:
                break
            value = interrupts[0].value
            await store.set_status(thread_id, "paused")
            view.pause()
            if not (isinstance(value, Mapping) and value.get("kind") == "plan_review"):
                _say(
                    f"The run waits for input this CLI cannot give: {value!r}; "
                    f"{_resume_hint(thread_id, db)}"
                )
                return EXIT_INTERRUPTED
            if isinstance(view, EventsView):
                view.emit(
                    {
                        "event": "plan_review",
                        "thread_id": thread_id,
                        "subtasks": value.get("subtasks", []),
                    }
                )
            in_review = True
            try:
                reply = await ask_plan_review(value, stderr_console())
            except EOFError:
                _say(
                    "\nNo reply to the plan review; the run is paused. "
                    + _resume_hint(thread_id, db).capitalize()
                )
                return EXIT_INTERRUPTED
            in_review = False
            await store.set_status(thread_id, "running")
            view.resume()
            pending = Command(resume=reply)
        view.stop()
    except asyncio.CancelledError:
        view.stop()
        if answer is not None:
            answer.interrupted()
        await _mark(store, thread_id, "paused" if in_review else "interrupted")
        _say(
            ("\n" if in_review else "")
            + f"Interrupted run {thread_id}; "
            + _resume_hint(thread_id, db)
        )
        raise
    except BaseException:
        view.stop()
        if answer is not None:
            answer.interrupted()
        await _mark(store, thread_id, "failed")
        raise
    finally:
        watcher.cancel()
    state = dict(snapshot.values)
    await store.set_status(thread_id, status_of(state))
    code = answer.finish(state, thread_id, view) if answer is not None else None
    return finish_run(state, thread_id, mode, view) if code is None else code


async def start_run(
    task: str,
    *,
    files: Sequence[Path] = (),
    answer_format: str | None = None,
    options: RunOptions,
    db: str | None = None,
    mode: OutputMode = "auto",
    given: Mapping[str, Any] | None = None,
    tokens: bool = False,
) -> int:
    """``workforce-graph run``: plan, execute and answer ``task``, kept in the run store.

    Args:
        task: The request.
        files: Attachments (checked readable before anything starts).
        answer_format: Format the final answer must follow.
        options: Models and budgets.
        db: ``--db`` value (see :func:`workforce_graph.persistence.parse_db`).
        mode: ``auto`` (live view on a terminal, else plain lines), ``json`` or ``events``.
        given: A checked plan to run instead of planning (``{"plan", "variables"}``,
            from :func:`workforce_graph.cli.plan.given_plan_input`).
        tokens: With ``mode="events"``, also the answer's tokens as events.

    Returns:
        The exit code.
    """
    task, answer_format = checked_request(task, answer_format)
    mcp_config = checked_mcp_config(options.mcp)
    attachments = read_attachments(files)
    warn_unreadable_attachments(attachments)
    models = resolve_models(options)
    await check_models(
        options.effective_base_url(), models, call_timeout_s=options.effective_call_timeout()
    )
    mcp = await started_mcp_workers(mcp_config)
    async with open_run_store(db) as store:
        graph = build_graph(options, store.checkpointer, models, store.store, mcp=mcp)
        thread_id = uuid.uuid4().hex[:16]  # 64 random bits: short enough to type
        run_input: dict[str, Any] = {
            "task": task,
            "attachments": attachments,
            "answer_format": answer_format,
            **(given or {}),
        }
        stored = {**asdict(options), "input": run_input}
        await store.record_start(RunRecord.new(thread_id, task, stored))
        view = progress_view(mode, options)
        view.start(thread_id, task, where=store.target.describe())
        return await drive_run(graph, store, thread_id, run_input, options, mode, view, db, tokens)


async def open_stored_run(
    store: RunStore, thread: str, options: RunOptions, *, doing: str
) -> tuple[str, RunRecord | None, RunOptions, Any]:
    """A stored run to go on with: its thread id (``thread`` may be a prefix), its record,
    ``options`` over the ones it started with, and its latest state, read without models.

    Raises:
        CliError: The run is still running (two processes would write the same thread).
        LookupError: No run or several runs match ``thread``.
    """
    thread_id = await store.find_thread(thread)
    record = await store.get_run(thread_id)
    if record is not None and record.effective_status() == "running":
        raise CliError(
            f"run {thread_id} is still running (process {record.pid}); stop it before "
            f"{doing}, or wait for it to finish"
        )
    merged = options.over(RunOptions.from_json(record.options if record else {}))
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    snapshot = await build_graph(merged, store.checkpointer).aget_state(config)
    return thread_id, record, merged, snapshot


async def resume_run(
    thread: str,
    *,
    options: RunOptions,
    db: str | None = None,
    mode: OutputMode = "auto",
    tokens: bool = False,
) -> int:
    """``workforce-graph resume``: continue an interrupted or paused run.

    Finished subtasks are not run again (their results are checkpointed); a run paused
    for plan review asks for the review again.

    Args:
        thread: The thread id, or an unambiguous prefix of it.
        options: Options overriding the ones stored with the run.
        db: ``--db`` value.
        mode: Output mode, as for :func:`start_run`.
        tokens: As for :func:`start_run`.

    Returns:
        The exit code.
    """
    async with open_run_store(db) as store:
        # The run first, then the server: a finished run needs no model.
        thread_id, record, merged, snapshot = await open_stored_run(
            store, thread, options, doing="resuming"
        )
        stored = record.options if record else {}
        view = progress_view(mode, merged)
        if snapshot.values and not snapshot.next and not snapshot.interrupts:
            if mode not in ("json", "events"):
                _say(f"Run {thread_id} already finished; nothing to resume.")
            return finish_run(dict(snapshot.values), thread_id, mode, view)
        mcp_config = checked_mcp_config(merged.mcp)
        models = resolve_models(merged)
        await check_models(
            merged.effective_base_url(), models, call_timeout_s=merged.effective_call_timeout()
        )
        mcp = await started_mcp_workers(mcp_config)
        graph = build_graph(merged, store.checkpointer, models, store.store, mcp=mcp)
        pending: Any = None
        if not snapshot.values:
            # Killed before its first checkpoint: start it again from its stored input.
            pending = stored.get("input")
            if not pending:
                raise CliError(f"run {thread_id} has no saved state to resume")
        task = str(snapshot.values.get("task") or (record.task if record else ""))
        await store.record_start(RunRecord.new(thread_id, task, {**stored, **asdict(merged)}))
        view.start(thread_id, task, where=store.target.describe(), resumed=True)
        if snapshot.values.get("subtasks"):
            view.values(snapshot.values)
            done = [s["id"] for s in snapshot.values["subtasks"] if s["status"] == "done"]
            if done:
                view.note(f"already done: {', '.join(done)}")
        elif snapshot.values.get("memory"):
            view.values(snapshot.values)
            view.note(f"turns already taken: {len(snapshot.values['memory'])}")
        return await drive_run(graph, store, thread_id, pending, merged, mode, view, db, tokens)
