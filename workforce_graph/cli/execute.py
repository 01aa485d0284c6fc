"""Running and resuming runs: the CLI's use of the graph and the run store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from workforce_graph.bounds import RequestTooLong, check_request
from workforce_graph.cli.errors import EXIT_INTERRUPTED, CliError
from workforce_graph.cli.options import role_model_flag
from workforce_graph.cli.preflight import (
    check_models,
    read_attachments,
    warn_unreadable_attachments,
)
from workforce_graph.cli.render import EventsView, LiveView, PlainView, ProgressView
from workforce_graph.cli.review import ask_plan_review
from workforce_graph.cli.summary import OutputMode, finish_run, status_of, stderr_console
from workforce_graph.cli.waiting import WaitingNotice
from workforce_graph.evaluation.graphs import Topology
from workforce_graph.models import BASE_URL_ENV, ModelSet
from workforce_graph.persistence import (
    RunRecord,
    RunStatus,
    RunStore,
    open_run_store,
    parse_db,
)
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.topologies import DEFAULT_TOPOLOGY, get_topology
from workforce_graph.trajectory.recorder import with_recording

__all__ = [
    "OutputMode",
    "RunOptions",
    "Topology",
    "build_graph",
    "checked_request",
    "drive_run",
    "open_stored_run",
    "progress_view",
    "read_stdin_request",
    "resolve_models",
    "resume_run",
    "start_run",
    "utf8_text",
]


_LEGACY_SETTINGS = {
    "max_replans": "max_replans",
    "max_concurrency": "max_concurrency",
    "timeout_s": "subtask_timeout_s",
}
"""Settings that runs stored before ``settings`` existed kept at the top level."""


@dataclass
class RunOptions:
    """The options of a run, stored with it so ``resume`` continues it the same way."""

    model: str | None = None
    role_models: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Overrides of :class:`WorkforceSettings` given for this run, by setting name."""
    approve_plan: bool = False
    topology: Topology = DEFAULT_TOPOLOGY
    record: str | None = None
    """A folder to record the run's trajectory in (``trajectories.jsonl``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOptions:
        known = {f.name for f in fields(cls)}
        options = cls(**{k: v for k, v in data.items() if k in known})
        for old, name in _LEGACY_SETTINGS.items():
            if data.get(old) is not None:
                options.settings.setdefault(name, data[old])
        return options

    def over(self, stored: RunOptions) -> RunOptions:
        """These options where given, else the stored ones (for ``resume``)."""
        return RunOptions(
            model=self.model or stored.model,
            role_models={**stored.role_models, **self.role_models},
            base_url=self.base_url or stored.base_url,
            settings={**stored.settings, **self.settings},
            approve_plan=self.approve_plan or stored.approve_plan,
            # A run continues in the topology it started in.
            topology=stored.topology,
            record=self.record or stored.record,
        )

    def context(self) -> Any:
        """Per-run setting overrides, passed to the graph as its runtime context."""
        return WorkforceContext(**self.settings)

    def effective_call_timeout(self) -> float:
        return float(self.settings.get("call_timeout_s") or WorkforceSettings().call_timeout_s)

    def effective_base_url(self) -> str | None:
        return self.base_url or os.environ.get(BASE_URL_ENV) or None


def resolve_models(options: RunOptions) -> dict[str, Any]:
    """Resolve every role's model once, up front, so a configuration error shows first.

    Returns:
        Chat models by role (roles naming the same model share one instance).

    Raises:
        ModelConfigError: A model cannot be set up (one-line message).
    """
    models = ModelSet(
        default=options.model,
        roles=topology_role_models(options),
        base_url=options.base_url,
        timeout_s=options.effective_call_timeout(),
    )
    roles = get_topology(options.topology).roles
    models.check(roles)
    return {role: models.for_role(role) for role in roles}


def topology_role_models(options: RunOptions) -> dict[str, str]:
    """The CLI's per-role models as the run's topology names its roles: an alias
    resolved (in the flow, ``--worker-model`` is the executor's).

    Raises:
        CliError: A model was given for a role the topology does not have (the flow
            has no coordinator).
        UnknownTopology: The run's topology is not in the table.
    """
    spec = get_topology(options.topology)
    roles: dict[str, str] = {}
    for given, name in options.role_models.items():
        own = spec.own_role(given)
        if own is None:
            raise CliError(f"{role_model_flag(given)}: the {spec.name} topology has no {given}")
        roles[own] = name
    return roles


def build_graph(
    options: RunOptions, checkpointer: Any, role_models: Mapping[str, Any] | None = None
) -> Any:
    """Compile the graph for a run.

    Args:
        options: The run's options.
        checkpointer: Where the run is kept.
        role_models: Models from :func:`resolve_models`; ``None`` for reading state
            only (``show``, ``graph``), which needs no model.

    Returns:
        The compiled graph.

    Raises:
        CliError: No worker is available.
    """
    spec = get_topology(options.topology)
    if options.approve_plan and not spec.plan_review:
        raise CliError(
            f"--approve-plan: the {spec.name} topology plans turn by turn, not a whole plan"
        )
    kwargs: dict[str, Any] = {"model": options.model}
    if spec.plan_review:
        kwargs["approve_plan"] = options.approve_plan
    if role_models is not None:
        worker = spec.own_role("worker")
        kwargs.update(role_models=dict(role_models))
        if worker is not None:
            kwargs["model"] = role_models[worker]
    try:
        builder = spec.factory(**kwargs)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return builder.compile(checkpointer=checkpointer)


def utf8_text(text: str | bytes, source: str) -> str:
    r"""``text`` as valid Unicode: bytes that are not UTF-8 become U+FFFD, said on stderr.

    Python hands undecodable bytes of standard input and of arguments on as lone
    surrogates (``surrogateescape``), which no model server, JSON encoder or database
    accepts: kept, they failed every model call and the run's record.

    Args:
        text: The bytes read, or a string that may hold such surrogates.
        source: What the text is, for the warning ("standard input").

    Example:
        >>> utf8_text(b"6 x 7 \xff", "standard input") == "6 x 7 \ufffd"
        True
    """
    if isinstance(text, str):
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            try:
                data = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # surrogates that did not come from bytes
                data = text.encode("utf-8", "surrogatepass")
    else:
        data = text
    decoded = data.decode("utf-8", "replace")
    replaced = decoded.count("\ufffd") - data.count("\ufffd".encode())
    if replaced:
        _say(
            f"warning: {source} is not valid UTF-8: {replaced:,} undecodable "
            f"byte sequence{'s' if replaced != 1 else ''} replaced with U+FFFD"
        )
    return decoded


def read_stdin_request() -> str:
    """The request read from standard input (``run -``), as :func:`utf8_text` makes it."""
    buffer = getattr(sys.stdin, "buffer", None)
    raw: str | bytes = buffer.read() if buffer is not None else sys.stdin.read()
    return utf8_text(raw, "standard input")


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
) -> int:
    """Stream the run, answer plan reviews, and return the exit code."""
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
                stream_mode=["custom", "values"],
                # Each step is on disk before the next starts, so a killed run resumes
                # from where it was, not from an earlier step.
                durability="sync",
            ):
                if stream_mode == "custom" and isinstance(chunk, Mapping):
                    view.event(chunk)
                elif stream_mode == "values" and isinstance(chunk, Mapping):
                    view.values(chunk)
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
        await _mark(store, thread_id, "paused" if in_review else "interrupted")
        _say(
            ("\n" if in_review else "")
            + f"Interrupted run {thread_id}; "
            + _resume_hint(thread_id, db)
        )
        raise
    except BaseException:
        view.stop()
        await _mark(store, thread_id, "failed")
        raise
    finally:
        watcher.cancel()
    state = dict(snapshot.values)
    await store.set_status(thread_id, status_of(state))
    return finish_run(state, thread_id, mode, view)


def checked_request(task: str, answer_format: str | None) -> tuple[str, str | None]:
    """The request and answer format as valid Unicode (:func:`utf8_text`), the request
    checked before the models and the graph, so a refused request costs nothing.

    Raises:
        CliError: The request is empty or longer than ``bounds.REQUEST_CHARS``.
    """
    task = utf8_text(task, "the request")
    if answer_format is not None:
        answer_format = utf8_text(answer_format, "--answer-format")
    if not task.strip():
        raise CliError("the task is empty; pass it as an argument, or '-' to read it from stdin")
    try:
        check_request(task, hint="save the text in a file, attach it with --file PATH")
    except RequestTooLong as exc:
        raise CliError(str(exc)) from exc
    return task, answer_format


async def start_run(
    task: str,
    *,
    files: Sequence[Path] = (),
    answer_format: str | None = None,
    options: RunOptions,
    db: str | None = None,
    mode: OutputMode = "auto",
    given: Mapping[str, Any] | None = None,
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

    Returns:
        The exit code.
    """
    task, answer_format = checked_request(task, answer_format)
    attachments = read_attachments(files)
    warn_unreadable_attachments(attachments)
    models = resolve_models(options)
    await check_models(
        options.effective_base_url(), models, call_timeout_s=options.effective_call_timeout()
    )
    async with open_run_store(db) as store:
        graph = build_graph(options, store.checkpointer, models)
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
        return await drive_run(graph, store, thread_id, run_input, options, mode, view, db)


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
    thread: str, *, options: RunOptions, db: str | None = None, mode: OutputMode = "auto"
) -> int:
    """``workforce-graph resume``: continue an interrupted or paused run.

    Finished subtasks are not run again (their results are checkpointed); a run paused
    for plan review asks for the review again.

    Args:
        thread: The thread id, or an unambiguous prefix of it.
        options: Options overriding the ones stored with the run.
        db: ``--db`` value.
        mode: Output mode, as for :func:`start_run`.

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
        models = resolve_models(merged)
        await check_models(
            merged.effective_base_url(), models, call_timeout_s=merged.effective_call_timeout()
        )
        graph = build_graph(merged, store.checkpointer, models)
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
        return await drive_run(graph, store, thread_id, pending, merged, mode, view, db)
