"""The ``workforce-graph`` command: run, plan, resume, rerun, runs, show, plugins, graph."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

try:  # typer >= 0.24 vendors click; older versions use click itself
    from typer import _click as click
except ImportError:  # pragma: no cover - depends on the installed typer
    import click  # type: ignore[no-redef]

from workforce_graph.cli.answer_stream import check_tokens_option
from workforce_graph.cli.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    output_closed,
)
from workforce_graph.cli.evaluate import eval_command
from workforce_graph.cli.execute import resume_run, start_run
from workforce_graph.cli.export import export_command
from workforce_graph.cli.interrupt import run_interruptibly
from workforce_graph.cli.mcp import McpFile, checked_mcp_config, mcp_path, started_mcp_workers
from workforce_graph.cli.memory import memory_app
from workforce_graph.cli.options import (
    DEFAULT_TOPOLOGY_NAME,
    PROG,
    AnswerFormat,
    BaseUrl,
    Db,
    Debug,
    Events,
    Files,
    Json,
    Model,
    Thread,
    Tokens,
    TopologyOption,
    guard,
    output_mode,
    print_error,
    with_role_model_options,
    with_setting_options,
)
from workforce_graph.cli.plan import given_plan_input, plan_command, without_replans
from workforce_graph.cli.request import read_stdin_request
from workforce_graph.cli.rerun import rerun_command
from workforce_graph.cli.run_options import RunOptions
from workforce_graph.cli.serve import serve_app
from workforce_graph.cli.show import show_run
from workforce_graph.cli.train import train_app

__all__ = ["app", "main"]

app = typer.Typer(
    name=PROG,
    help="Multi-agent task automation on LangGraph: a planner splits the task into "
    "subtasks, workers run them in parallel, a generator writes one answer.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _options(
    model: str | None,
    role_models: dict[str, str],
    base_url: str | None,
    settings: dict[str, Any],
    approve_plan: bool = False,
    topology: str = DEFAULT_TOPOLOGY_NAME,
    record: Path | None = None,
    mcp: Path | None = None,
) -> RunOptions:
    return RunOptions(
        model=model,
        role_models=role_models,
        base_url=base_url,
        settings=settings,
        approve_plan=approve_plan,
        topology=str(topology),
        record=str(record) if record else None,
        mcp=mcp_path(mcp),
    )


@app.command(epilog=EXIT_CODES_HELP)
@with_setting_options
@with_role_model_options
def run(
    task: Annotated[
        str, typer.Argument(help="The request, or '-' to read it from stdin.", show_default=False)
    ],
    model: Model = None,
    base_url: BaseUrl = None,
    answer_format: AnswerFormat = None,
    file: Files = None,
    json_out: Json = False,
    events: Events = False,
    tokens: Tokens = False,
    db: Db = None,
    approve_plan: Annotated[
        bool,
        typer.Option(
            "--approve-plan", help="Pause after planning to approve, edit or reject the plan."
        ),
    ] = False,
    topology: TopologyOption = DEFAULT_TOPOLOGY_NAME,
    record: Annotated[
        Path | None,
        typer.Option(
            help="Record the run's trajectory in this folder (trajectories.jsonl; see "
            "docs/trajectories.md).",
            show_default=False,
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Run this plan (a JSON file, e.g. from 'workforce-graph plan') instead of "
            "planning; it is validated first.",
            show_default=False,
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help="NAME=VALUE: fill the plan's {NAME} placeholders (repeatable).",
            show_default=False,
        ),
    ] = None,
    no_replan: Annotated[
        bool, typer.Option("--no-replan", help="Never replan after a failure (--max-replans 0).")
    ] = False,
    mcp: McpFile = None,
    debug: Debug = False,
    *,
    role_models: dict[str, str],
    settings: dict[str, Any],
) -> None:
    """Run a task: live progress on stderr, the answer on stdout.

    Every run is kept (see --db) under a thread id printed at the start, so it can be
    listed (runs), inspected (show) and, when interrupted, resumed (resume).
    """
    options = _options(model, role_models, base_url, settings, approve_plan, topology, record, mcp)

    def action() -> int:
        mode = output_mode(json_out, events)
        check_tokens_option(mode, tokens)
        run_options = without_replans(options, no_replan)
        # Before the request is read: a bad plan file is refused first, at no cost.
        given = given_plan_input(plan, var or [], run_options)
        text = read_stdin_request() if task == "-" else task
        return run_interruptibly(
            start_run(
                text,
                files=file or [],
                answer_format=answer_format,
                options=run_options,
                db=db,
                mode=mode,
                given=given,
                tokens=tokens,
            )
        )

    guard(debug, action, base_url=options.effective_base_url())


@app.command(epilog=EXIT_CODES_HELP)
@with_setting_options
@with_role_model_options
def resume(
    thread: Thread,
    model: Model = None,
    base_url: BaseUrl = None,
    json_out: Json = False,
    events: Events = False,
    tokens: Tokens = False,
    db: Db = None,
    mcp: McpFile = None,
    debug: Debug = False,
    *,
    role_models: dict[str, str],
    settings: dict[str, Any],
) -> None:
    """Continue an interrupted run (or one paused for plan review).

    Subtasks that finished are not run again. Options not given are those the run
    started with (its --mcp file too).
    """
    options = _options(model, role_models, base_url, settings, mcp=mcp)

    def action() -> int:
        mode = output_mode(json_out, events)
        check_tokens_option(mode, tokens)
        return run_interruptibly(
            resume_run(thread, options=options, db=db, mode=mode, tokens=tokens)
        )

    guard(debug, action, base_url=options.effective_base_url())


@app.command()
def runs(
    db: Db = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """List past runs, newest first: thread id, status, start, duration, task."""
    from workforce_graph.cli.runs import list_runs

    guard(debug, lambda: asyncio.run(list_runs(db=db, limit=limit, as_json=json_out)))


@app.command()
def show(
    thread: Thread,
    db: Db = None,
    json_out: Json = False,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="Show the run as it was at this checkpoint (e.g. the branch a rerun left).",
            show_default=False,
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Show a run: status, plan with each subtask's worker and result, answer, usage."""
    guard(
        debug,
        lambda: asyncio.run(show_run(thread, db=db, as_json=json_out, checkpoint=checkpoint)),
    )


@app.command()
def plugins(json_out: Json = False, mcp: McpFile = None, debug: Debug = False) -> None:
    """List plugins, their workers and capabilities, and plugins that failed to load;
    with --mcp, the workers of the file's MCP servers too (each started once)."""
    from workforce_graph.cli.info import print_plugins

    def action() -> int:
        config = checked_mcp_config(mcp_path(mcp))
        started = asyncio.run(started_mcp_workers(config))
        return print_plugins(as_json=json_out, mcp=started, mcp_config=config)

    guard(debug, action)


@app.command()
def graph(
    png: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG here instead of printing Mermaid text (needs Graphviz 'dot', "
            "pygraphviz or the Mermaid CLI 'mmdc').",
            show_default=False,
        ),
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="With --png and no local renderer, render with mermaid.ink "
            "(sends the graph's Mermaid text there).",
        ),
    ] = False,
    approve_plan: Annotated[
        bool, typer.Option("--approve-plan", help="Draw the graph with the plan review step.")
    ] = False,
    topology: TopologyOption = DEFAULT_TOPOLOGY_NAME,
    debug: Debug = False,
) -> None:
    """Print the graph as Mermaid text (or write it as a PNG)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from workforce_graph.cli.info import draw_png, mermaid
    from workforce_graph.cli.run_options import build_graph

    def action() -> int:
        options = RunOptions(approve_plan=approve_plan, topology=str(topology))
        compiled = build_graph(options, InMemorySaver())
        if png is None:
            print(mermaid(compiled), end="")
            return 0
        method = draw_png(compiled, png, online=online)
        sys.stderr.write(f"wrote {png} ({method})\n")
        return 0

    guard(debug, action)


app.command("plan", epilog=EXIT_CODES_HELP)(plan_command)
app.command("rerun", epilog=EXIT_CODES_HELP)(rerun_command)
app.command("eval", epilog=EXIT_CODES_HELP)(eval_command)
app.command("export")(export_command)


app.add_typer(train_app, name="train")
app.add_typer(serve_app, name="serve")
app.add_typer(memory_app, name="memory")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``workforce-graph`` command.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Example:
        >>> main(["plugins", "--json"])  # doctest: +SKIP
    """
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            # Bare ``workforce-graph``: show the help rather than an error.
            print(exc.ctx.get_help(), file=sys.stderr)
            sys.exit(EXIT_USAGE)
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        print_error(exc.format_message().strip().replace("\n", " ") + hint)
        code = EXIT_USAGE
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = output_closed()
    except click.exceptions.ClickException as exc:
        print_error(exc.format_message())
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
