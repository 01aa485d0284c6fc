"""The ``workforce-graph`` command: run, resume, runs, show, plugins, graph."""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

try:  # typer >= 0.24 vendors click; older versions use click itself
    from typer import _click as click
except ImportError:  # pragma: no cover - depends on the installed typer
    import click  # type: ignore[no-redef]

from workforce_graph.cli.errors import (
    EXIT_CODES_HELP,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    explain,
)
from workforce_graph.cli.execute import OutputMode, RunOptions, resume_run, start_run
from workforce_graph.cli.show import show_run
from workforce_graph.cli.train import train_app

__all__ = ["app", "main"]

PROG = "workforce-graph"

app = typer.Typer(
    name=PROG,
    help="Multi-agent task automation on LangGraph: a planner splits the task into "
    "subtasks, workers run them in parallel, a generator writes one answer.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Options shared by several commands.
Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model for every role: openai:gpt-4o, anthropic:..., local, "
        "gguf:PATH, or a server's model name with --base-url. Default: $WORKFORCE_GRAPH_MODEL, "
        "else local.",
        show_default=False,
    ),
]
PlannerModel = Annotated[
    str | None, typer.Option(help="Model for the planner.", rich_help_panel="Per-role models")
]
CoordinatorModel = Annotated[
    str | None, typer.Option(help="Model for the coordinator.", rich_help_panel="Per-role models")
]
WorkerModel = Annotated[
    str | None, typer.Option(help="Model for the workers.", rich_help_panel="Per-role models")
]
VerifierModel = Annotated[
    str | None, typer.Option(help="Model for the verifier.", rich_help_panel="Per-role models")
]
GeneratorModel = Annotated[
    str | None, typer.Option(help="Model for the generator.", rich_help_panel="Per-role models")
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        help="An OpenAI-compatible server (vLLM, llama.cpp, Ollama), e.g. "
        "http://127.0.0.1:8000/v1. Default: $WORKFORCE_GRAPH_BASE_URL.",
        show_default=False,
    ),
]
MaxReplans = Annotated[
    int | None,
    typer.Option(
        min=0, help="Replans after a subtask keeps failing (default 2).", show_default=False
    ),
]
MaxConcurrency = Annotated[
    int | None,
    typer.Option(min=1, help="Subtasks running at once (default 32).", show_default=False),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0.001,
        help="Per-subtask time limit in seconds (default 300).",
        show_default=False,
    ),
]
Db = Annotated[
    str | None,
    typer.Option(
        help="Where runs are kept: a SQLite file, postgresql://..., or 'memory' (nothing kept). "
        "Default: $WORKFORCE_GRAPH_DB, else runs.sqlite in the user data directory.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Events = Annotated[
    bool,
    typer.Option(
        "--events", help="Print progress events on stdout as NDJSON (one JSON object a line)."
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _guard(debug: bool, action: Callable[[], int], *, base_url: str | None = None) -> None:
    """Run a command; every error ends as one line on stderr and an exit code."""
    try:
        code = action()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except Exception as raised:
        exc = _root_cause(raised)
        if debug:
            traceback.print_exception(raised)
        known = explain(exc, base_url=base_url)
        if known is not None:
            _error(known.message)
            code = known.exit_code
        else:
            text = str(exc).strip().splitlines()
            _error(
                f"{type(exc).__name__}: {text[0] if text else 'unexpected error'}"
                + ("" if debug else " (run again with --debug for the traceback)")
            )
            code = EXIT_INCOMPLETE
    raise typer.Exit(code)


def _mode(json_out: bool, events: bool) -> OutputMode:
    if json_out and events:
        raise CliError("--json and --events cannot be combined")
    return "json" if json_out else "events" if events else "auto"


def _options(
    model: str | None,
    planner: str | None,
    coordinator: str | None,
    worker: str | None,
    verifier: str | None,
    generator: str | None,
    base_url: str | None,
    max_replans: int | None,
    max_concurrency: int | None,
    timeout: float | None,
    approve_plan: bool = False,
) -> RunOptions:
    roles = {
        "planner": planner,
        "coordinator": coordinator,
        "worker": worker,
        "verifier": verifier,
        "generator": generator,
    }
    return RunOptions(
        model=model,
        role_models={k: v for k, v in roles.items() if v},
        base_url=base_url,
        max_replans=max_replans,
        max_concurrency=max_concurrency,
        timeout_s=timeout,
        approve_plan=approve_plan,
    )


@app.command(epilog=EXIT_CODES_HELP)
def run(
    task: Annotated[
        str, typer.Argument(help="The request, or '-' to read it from stdin.", show_default=False)
    ],
    model: Model = None,
    planner_model: PlannerModel = None,
    coordinator_model: CoordinatorModel = None,
    worker_model: WorkerModel = None,
    verifier_model: VerifierModel = None,
    generator_model: GeneratorModel = None,
    base_url: BaseUrl = None,
    max_replans: MaxReplans = None,
    max_concurrency: MaxConcurrency = None,
    timeout: Timeout = None,
    answer_format: Annotated[
        str | None,
        typer.Option(
            help="Format the final answer must follow, e.g. 'a single number'.", show_default=False
        ),
    ] = None,
    file: Annotated[
        list[Path] | None,
        typer.Option(
            "--file", "-f", help="A file for the workers (repeatable).", show_default=False
        ),
    ] = None,
    json_out: Json = False,
    events: Events = False,
    db: Db = None,
    approve_plan: Annotated[
        bool,
        typer.Option(
            "--approve-plan", help="Pause after planning to approve, edit or reject the plan."
        ),
    ] = False,
    debug: Debug = False,
) -> None:
    """Run a task: live progress on stderr, the answer on stdout.

    Every run is kept (see --db) under a thread id printed at the start, so it can be
    listed (runs), inspected (show) and, when interrupted, resumed (resume).
    """
    options = _options(
        model,
        planner_model,
        coordinator_model,
        worker_model,
        verifier_model,
        generator_model,
        base_url,
        max_replans,
        max_concurrency,
        timeout,
        approve_plan,
    )

    def action() -> int:
        mode = _mode(json_out, events)
        text = sys.stdin.read() if task == "-" else task
        return asyncio.run(
            start_run(
                text,
                files=file or [],
                answer_format=answer_format,
                options=options,
                db=db,
                mode=mode,
            )
        )

    _guard(debug, action, base_url=options.effective_base_url())


@app.command(epilog=EXIT_CODES_HELP)
def resume(
    thread: Annotated[
        str,
        typer.Argument(
            help="Thread id of the run (a unique prefix is enough).", show_default=False
        ),
    ],
    model: Model = None,
    planner_model: PlannerModel = None,
    coordinator_model: CoordinatorModel = None,
    worker_model: WorkerModel = None,
    verifier_model: VerifierModel = None,
    generator_model: GeneratorModel = None,
    base_url: BaseUrl = None,
    max_replans: MaxReplans = None,
    max_concurrency: MaxConcurrency = None,
    timeout: Timeout = None,
    json_out: Json = False,
    events: Events = False,
    db: Db = None,
    debug: Debug = False,
) -> None:
    """Continue an interrupted run (or one paused for plan review).

    Subtasks that finished are not run again. Options not given are those the run
    started with.
    """
    options = _options(
        model,
        planner_model,
        coordinator_model,
        worker_model,
        verifier_model,
        generator_model,
        base_url,
        max_replans,
        max_concurrency,
        timeout,
    )

    def action() -> int:
        return asyncio.run(resume_run(thread, options=options, db=db, mode=_mode(json_out, events)))

    _guard(debug, action, base_url=options.effective_base_url())


@app.command()
def runs(
    db: Db = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """List past runs, newest first: thread id, status, start, duration, task."""
    from workforce_graph.cli.runs import list_runs

    _guard(debug, lambda: asyncio.run(list_runs(db=db, limit=limit, as_json=json_out)))


@app.command()
def show(
    thread: Annotated[
        str,
        typer.Argument(
            help="Thread id of the run (a unique prefix is enough).", show_default=False
        ),
    ],
    db: Db = None,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """Show a run: status, plan with each subtask's worker and result, answer, usage."""
    _guard(debug, lambda: asyncio.run(show_run(thread, db=db, as_json=json_out)))


@app.command()
def plugins(json_out: Json = False, debug: Debug = False) -> None:
    """List plugins, their workers and capabilities, and plugins that failed to load."""
    from workforce_graph.cli.info import print_plugins

    _guard(debug, lambda: print_plugins(as_json=json_out))


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
    debug: Debug = False,
) -> None:
    """Print the graph as Mermaid text (or write it as a PNG)."""
    from langgraph.checkpoint.memory import InMemorySaver

    from workforce_graph.cli.execute import build_graph
    from workforce_graph.cli.info import draw_png, mermaid

    def action() -> int:
        compiled = build_graph(RunOptions(approve_plan=approve_plan), InMemorySaver())
        if png is None:
            print(mermaid(compiled), end="")
            return 0
        method = draw_png(compiled, png, online=online)
        sys.stderr.write(f"wrote {png} ({method})\n")
        return 0

    _guard(debug, action)


app.add_typer(train_app, name="train")


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
        _error(exc.format_message().strip().replace("\n", " ") + hint)
        code = EXIT_USAGE
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except click.exceptions.ClickException as exc:
        _error(exc.format_message())
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
