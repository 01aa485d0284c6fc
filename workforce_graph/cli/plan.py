"""Planning and running as separate steps: ``workforce-graph plan`` and ``run --plan``.

``plan`` calls the planner only (the graph stops before the coordinator), and writes the
plan as a plan file (:mod:`workforce_graph.plan_template`), descriptions escaped so it
runs unchanged. ``run --plan FILE`` reads such a file, fills its ``{placeholders}``
from ``--var NAME=VALUE`` and validates it like a planned plan *before* the models are
checked or the run is recorded: a plan that cannot run is a usage error (exit 2), listing
every problem, and nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from workforce_graph.cli.errors import EXIT_INCOMPLETE, CliError
from workforce_graph.cli.interrupt import run_interruptibly
from workforce_graph.cli.mcp import McpFile, checked_mcp_config, mcp_path, started_mcp_workers
from workforce_graph.cli.options import (
    AnswerFormat,
    BaseUrl,
    Db,
    Debug,
    Files,
    Model,
    PlannerModel,
    guard,
    with_setting_options,
)
from workforce_graph.cli.preflight import check_models, read_attachments
from workforce_graph.cli.request import checked_request, read_stdin_request, utf8_text
from workforce_graph.cli.run_options import RunOptions
from workforce_graph.cli.waiting import WaitingNotice
from workforce_graph.graph import build_workforce_graph
from workforce_graph.models import ModelSet
from workforce_graph.persistence import open_run_store
from workforce_graph.plan_template import (
    GivenPlanError,
    PlanTemplateError,
    given_plan,
    plan_file,
    plan_file_schema,
)
from workforce_graph.plugins import usable_workers
from workforce_graph.settings import WorkforceContext, WorkforceSettings
from workforce_graph.workers import WorkerSpec

__all__ = ["given_plan_input", "make_plan", "parse_variables", "plan_command", "without_replans"]


def parse_variables(pairs: Sequence[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` options as a mapping.

    Raises:
        CliError: A pair without ``=``, a name that is not a plain name, or a name twice.

    Example:
        >>> parse_variables(["city=Lyon", "note=a=b"])
        {'city': 'Lyon', 'note': 'a=b'}
    """
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise CliError(f"--var {pair!r}: write NAME=VALUE, NAME a plain name such as city")
        if name in variables:
            raise CliError(f"--var {name} is given more than once")
        variables[name] = utf8_text(value, f"--var {name}")
    return variables


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CliError(f"--plan {path}: cannot read it ({reason or exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--plan {path}: not valid JSON ({exc})") from exc


def given_plan_input(
    path: Path | None, pairs: Sequence[str], options: RunOptions
) -> dict[str, Any]:
    """The run's input keys for ``--plan`` and ``--var``: ``{"plan", "variables"}``, or
    nothing without ``--plan``.

    The plan is checked here, against the installed workers and the run's
    ``max_subtasks``, so an unusable plan costs no model call and records no run; the
    graph checks it again the same way.

    Raises:
        CliError: Unreadable or invalid plan (every problem in the one line), variables
            that do not match its placeholders, or ``--var`` / ``--plan`` where they
            cannot apply.
    """
    if path is None:
        if pairs:
            raise CliError("--var fills the placeholders of a plan: give it with --plan FILE")
        return {}
    if options.topology == "flow":
        raise CliError("--plan: the flow topology plans turn by turn, not a whole plan")
    raw, variables = _read_json(path), parse_variables(pairs)
    settings = WorkforceSettings().overridden(options.context())
    try:
        registry = usable_workers(extra=_mcp_workers(options))
        given_plan(
            raw,
            variables,
            offered_capabilities=registry.offered_capabilities(),
            max_subtasks=settings.max_subtasks,
        )
    except GivenPlanError as exc:
        raise CliError(f"--plan {path}: {exc}") from exc
    except PlanTemplateError as exc:
        raise CliError(f"--plan {path}: {exc} (--var NAME=VALUE fills {{NAME}})") from exc
    except ValueError as exc:  # no worker available
        raise CliError(str(exc)) from exc
    return {"plan": raw, "variables": variables}


def _mcp_workers(options: RunOptions) -> list[WorkerSpec]:
    """The workers of the run's ``--mcp`` servers, for checking a given plan's
    capabilities (each server is started once to list its tools, as the run does)."""
    config = checked_mcp_config(options.mcp)
    started = asyncio.run(started_mcp_workers(config)) if config is not None else None
    return list(started.specs) if started is not None else []


def without_replans(options: RunOptions, no_replan: bool) -> RunOptions:
    """``options`` with ``max_replans`` 0 when ``--no-replan`` is given.

    Raises:
        CliError: ``--no-replan`` with a positive ``--max-replans``.
    """
    if not no_replan:
        return options
    if options.settings.get("max_replans"):
        raise CliError("--no-replan and --max-replans cannot be combined")
    return dataclasses.replace(options, settings={**options.settings, "max_replans": 0})


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def make_plan(
    task: str,
    *,
    files: Sequence[Path] = (),
    answer_format: str | None = None,
    options: RunOptions,
    db: str | None = None,
) -> dict[str, Any]:
    """Plan ``task`` with the planner alone; returns the plan file's content.

    The plan fallback is off unless the options turn it on: a kept pipeline should be a
    real decomposition, not the request as one subtask. With memory on (the default) the
    planner is shown the similar past runs kept in ``db``, as in ``run``; planning alone
    adds no record.

    Raises:
        CliError: Empty or overlong request, a model that cannot be used (exit 2), or no
            valid plan (exit 1).
    """
    task, answer_format = checked_request(task, answer_format)
    mcp_config = checked_mcp_config(options.mcp)
    attachments = read_attachments(files)
    timeout_s = options.effective_call_timeout()
    models = ModelSet(
        default=options.model,
        roles=dict(options.role_models),
        base_url=options.base_url,
        timeout_s=timeout_s,
    )
    planner = models.for_role("planner")
    await check_models(options.effective_base_url(), {"planner": planner}, call_timeout_s=timeout_s)
    mcp = await started_mcp_workers(mcp_config)
    try:
        # Every role gets the planner's model: only the planner runs before the stop.
        builder = build_workforce_graph(
            model=planner, role_models={"planner": planner}, mcp_servers=mcp
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    context = WorkforceContext(**{"plan_fallback": False, **options.settings})
    async with contextlib.AsyncExitStack() as stack:
        memory = None
        if context.memory is not False:
            memory = (await stack.enter_async_context(open_run_store(db))).store
        graph = builder.compile(
            checkpointer=InMemorySaver(),
            store=memory,
            interrupt_before=["coordinator", "generator"],
        )
        notice = WaitingNotice(_say, limit_s=timeout_s)
        config: RunnableConfig = {"configurable": {"thread_id": "plan"}, "callbacks": [notice]}
        run_input = {"task": task, "attachments": attachments, "answer_format": answer_format}
        watcher = asyncio.create_task(notice.watch())
        try:
            await graph.ainvoke(run_input, config, context=context)
        finally:
            watcher.cancel()
        state = (await graph.aget_state(config)).values
    if state.get("error"):
        raise CliError(f"no plan: {state['error']}", exit_code=EXIT_INCOMPLETE)
    if state.get("plan_fallback"):
        _say(f"warning: the plan is the request as one subtask: {state['plan_fallback']}")
    return plan_file(state["subtasks"])


async def _plan_to(
    task: str,
    output: Path | None,
    files: Sequence[Path],
    answer_format: str | None,
    options: RunOptions,
    db: str | None,
) -> int:
    plan = await make_plan(task, files=files, answer_format=answer_format, options=options, db=db)
    text = json.dumps(plan, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"-o {output}: cannot write it ({exc.strerror or exc})") from exc
    _say(f"wrote {output}: {len(plan['subtasks'])} subtask(s)")
    return 0


@with_setting_options
def plan_command(
    task: Annotated[
        str | None,
        typer.Argument(help="The request, or '-' to read it from stdin.", show_default=False),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the plan here (default: stdout).", show_default=False
        ),
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the plan file's JSON Schema and exit.")
    ] = False,
    model: Model = None,
    planner_model: PlannerModel = None,
    base_url: BaseUrl = None,
    answer_format: AnswerFormat = None,
    file: Files = None,
    mcp: McpFile = None,
    db: Db = None,
    debug: Debug = False,
    *,
    settings: dict[str, Any],
) -> None:
    """Plan a task without running it: the planner alone, the plan as JSON.

    Run the plan with 'workforce-graph run TASK --plan FILE'. Its descriptions may hold
    {NAME} placeholders, filled with --var NAME=VALUE when it runs ({{ and }} are
    literal braces). Of the budgets, those of planning apply; the plan fallback is off
    unless --plan-fallback is given (no valid plan: exit 1, nothing written).
    """
    options = RunOptions(
        model=model,
        role_models={"planner": planner_model} if planner_model else {},
        base_url=base_url,
        settings=settings,
        mcp=mcp_path(mcp),
    )

    def action() -> int:
        if schema:
            print(json.dumps(plan_file_schema(), indent=2))
            return 0
        if task is None:
            raise CliError("give the TASK to plan (or --schema for the plan file's schema)")
        text = read_stdin_request() if task == "-" else task
        return run_interruptibly(_plan_to(text, output, file or [], answer_format, options, db))

    guard(debug, action, base_url=options.effective_base_url())
