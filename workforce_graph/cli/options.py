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
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer

from workforce_graph.cli.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    CliError,
    explain,
    output_closed,
)
from workforce_graph.cli.summary import OutputMode
from workforce_graph.settings import check_setting, setting_fields
from workforce_graph.topologies import DEFAULT_TOPOLOGY, MODEL_ROLES, TOPOLOGIES, Role

__all__ = [
    "DEFAULT_TOPOLOGY_NAME",
    "PROG",
    "ROLE_OPTIONS",
    "AnswerFormat",
    "BaseUrl",
    "CoordinatorModel",
    "Db",
    "Debug",
    "Events",
    "Files",
    "GeneratorModel",
    "Json",
    "Model",
    "PlannerModel",
    "Thread",
    "Tokens",
    "TopologyName",
    "TopologyOption",
    "VerifierModel",
    "WorkerModel",
    "guard",
    "output_mode",
    "print_error",
    "role_model_flag",
    "setting_flag",
    "with_role_model_options",
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
ROLE_OPTIONS: tuple[Role, ...] = tuple(
    dict.fromkeys(
        role
        for spec in TOPOLOGIES.values()
        for role in spec.roles
        # An alias's target is set through the alias (--worker-model sets the executor's).
        if not any(role in other.aliases.values() for other in TOPOLOGIES.values())
    )
)
"""The roles with a ``--ROLE-model`` option: every topology's, by the names the CLI uses."""


def role_model_flag(role: str) -> str:
    """The CLI option of a role's model: ``--planner-model``."""
    return f"--{role.replace('_', '-')}-model"


def _role_model_option(role: Role) -> Any:
    return typer.Option(
        role_model_flag(role),
        help=f"Model for {MODEL_ROLES[role]}.",
        rich_help_panel="Per-role models",
    )


PlannerModel = Annotated[str | None, _role_model_option("planner")]
CoordinatorModel = Annotated[str | None, _role_model_option("coordinator")]
WorkerModel = Annotated[str | None, _role_model_option("worker")]
VerifierModel = Annotated[str | None, _role_model_option("verifier")]
GeneratorModel = Annotated[str | None, _role_model_option("generator")]
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
Thread = Annotated[
    str,
    typer.Argument(help="Thread id of the run (a unique prefix is enough).", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Events = Annotated[
    bool,
    typer.Option(
        "--events", help="Print progress events on stdout as NDJSON (one JSON object a line)."
    ),
]
Tokens = Annotated[
    bool,
    typer.Option(
        "--tokens",
        help="With --events: also the answer's tokens as they are written "
        '({"event": "token", ...} lines).',
    ),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
AnswerFormat = Annotated[
    str | None,
    typer.Option(
        help="Format the final answer must follow, e.g. 'a single number'.", show_default=False
    ),
]
Files = Annotated[
    list[Path] | None,
    typer.Option("--file", "-f", help="A file for the workers (repeatable).", show_default=False),
]


# Built from the table, so a topology added there is a choice here; mypy sees no members.
TopologyName = StrEnum(  # type: ignore[misc]
    "TopologyName", [(name, name) for name in TOPOLOGIES]
)
"""The ``--topology`` choices: :data:`~workforce_graph.topologies.TOPOLOGIES`' names."""

TopologyOption = Annotated[
    TopologyName,
    typer.Option(
        help=". ".join(f"{spec.name}: {spec.summary}" for spec in TOPOLOGIES.values())
        + " (see docs/topologies.md).",
    ),
]
DEFAULT_TOPOLOGY_NAME = TopologyName(DEFAULT_TOPOLOGY)


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

    return cast(F, _signed(wrapper, base.replace(parameters=[*params, *extra])))


def with_role_model_options(command: F) -> F:
    """Give a command one ``--ROLE-model`` option per role of :data:`ROLE_OPTIONS`, after
    its ``model`` parameter; it receives the given ones as ``role_models``, by role.

    Example:
        >>> @app.command()
        ... @with_role_model_options
        ... def run(task: str, model: Model = None, *, role_models: dict[str, str]) -> None:
        ...     ...  # doctest: +SKIP
    """
    base = inspect.signature(command, eval_str=True)
    params = [p for p in base.parameters.values() if p.name != "role_models"]
    names = {role: f"{role}_model" for role in ROLE_OPTIONS}
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[str | None, _role_model_option(role)],
        )
        for role, name in names.items()
    ]
    at = [p.name for p in params].index("model") + 1

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {role: kwargs.pop(name, None) for role, name in names.items()}
        return command(role_models={r: m for r, m in given.items() if m}, **kwargs)

    return cast(F, _signed(wrapper, base.replace(parameters=[*params[:at], *extra, *params[at:]])))


def _signed(wrapper: Callable[..., Any], signature: inspect.Signature) -> Any:
    """``wrapper`` showing ``signature`` to typer, which reads a command's options from it."""
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return wrapper


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
    except BrokenPipeError:
        code = output_closed()  # `... | head`: nothing to say, no one to say it to
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
