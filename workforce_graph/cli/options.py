"""Command-line options shared by several commands, the budget options derived from
:class:`~workforce_graph.settings.WorkforceSettings` (one ``--option`` per setting, with
its help text and bounds), and the error guard every command runs under.
"""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import Field
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer

from workforce_graph.cli.errors import EXIT_INCOMPLETE, EXIT_INTERRUPTED, CliError, explain
from workforce_graph.cli.summary import OutputMode
from workforce_graph.settings import check_setting, setting_fields

__all__ = [
    "PROG",
    "BaseUrl",
    "CoordinatorModel",
    "Db",
    "Debug",
    "Events",
    "GeneratorModel",
    "Json",
    "Model",
    "PlannerModel",
    "TopologyName",
    "TopologyOption",
    "VerifierModel",
    "WorkerModel",
    "guard",
    "output_mode",
    "print_error",
    "setting_flag",
    "with_setting_options",
]

PROG = "workforce-graph"
F = TypeVar("F", bound=Callable[..., Any])

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


class TopologyName(StrEnum):
    workforce = "workforce"
    flow = "flow"


TopologyOption = Annotated[
    TopologyName,
    typer.Option(
        help="workforce: plan a DAG of subtasks, run them in parallel. flow: turn by turn, "
        "one worker a turn over an evolving memory (see docs/topologies.md).",
    ),
]


def setting_flag(setting: Field[Any]) -> str:
    """The CLI option of a setting: ``--max-replans``, or the name it declares."""
    return str(setting.metadata.get("flag") or "--" + setting.name.replace("_", "-"))


def _setting_option(setting: Field[Any], kind: Any) -> Any:
    flag = setting_flag(setting)

    def check(value: Any) -> Any:
        try:
            check_setting(setting.name, value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return value

    return typer.Option(
        f"{flag}/--no-{flag[2:]}" if kind is bool else flag,
        help=f"{setting.metadata['help']} Default: {setting.default}.",
        show_default=False,
        rich_help_panel="Budgets",
        callback=check,
    )


def with_setting_options(command: F) -> F:
    """Give a command one option per setting; it receives the given ones as ``settings``.

    Example:
        >>> @app.command()
        ... @with_setting_options
        ... def run(task: str, settings: dict[str, Any]) -> None: ...  # doctest: +SKIP
    """
    base = inspect.signature(command, eval_str=True)
    params = [p for p in base.parameters.values() if p.name != "settings"]
    names = [f.name for f, _ in setting_fields()]
    extra = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[kind | None, _setting_option(f, kind)],
        )
        for f, kind in setting_fields()
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {n: kwargs.pop(n) for n in names if kwargs.get(n) is not None}
        for n in names:
            kwargs.pop(n, None)
        return command(settings=given, **kwargs)

    signature = base.replace(parameters=[*params, *extra])
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return wrapper  # type: ignore[return-value]


def print_error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def guard(debug: bool, action: Callable[[], int], *, base_url: str | None = None) -> None:
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
            print_error(known.message)
            code = known.exit_code
        else:
            text = str(exc).strip().splitlines()
            print_error(
                f"{type(exc).__name__}: {text[0] if text else 'unexpected error'}"
                + ("" if debug else " (run again with --debug for the traceback)")
            )
            code = EXIT_INCOMPLETE
    raise typer.Exit(code)


def output_mode(json_out: bool, events: bool) -> OutputMode:
    if json_out and events:
        raise CliError("--json and --events cannot be combined")
    return "json" if json_out else "events" if events else "auto"
