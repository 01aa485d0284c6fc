"""A training command's configuration: the options as given, saved and read back.

Every ``train`` command writes ``OUT/config.yaml`` (the command and each option's
value) before it trains, so ``workforce-graph train KIND --config OUT/config.yaml``
repeats the run; an option given on the command line overrides the file's value. The
same options name the command in the one line that says how to resume it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from workforce_graph.cli.options import PROG

__all__ = [
    "Config",
    "as_given",
    "command_line",
    "given",
    "main_process",
    "save_config",
    "set_apart",
]

CONFIG_NAME = "config.yaml"
_NOT_SAVED = {"ctx", "config", "debug", "resume", "quiet", "json_out"}
"""How a run is shown or continued, not what it trains."""


def _read_config(ctx: typer.Context, param: Any, value: Path | None) -> Path | None:
    """Make the file's values the command's defaults (eager: before the other options)."""
    if value is None:
        return None
    try:
        import yaml
    except ImportError as exc:
        raise typer.BadParameter(
            "reading it needs PyYAML: pip install 'workforce-graph[train]'"
        ) from exc
    try:
        loaded = yaml.safe_load(value.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {value}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{value} is not YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("options"), dict):
        raise typer.BadParameter(f"{value} has no 'options' mapping (write it with train --out)")
    command = loaded.get("command")
    if command and command != ctx.info_name:
        raise typer.BadParameter(f"{value} configures 'train {command}'; run that command with it")
    names = {p.name for p in ctx.command.params} - _NOT_SAVED
    unknown = sorted(set(loaded["options"]) - names)
    if unknown:
        raise typer.BadParameter(f"{value}: unknown option(s) {', '.join(unknown)}")
    ctx.default_map = {**(ctx.default_map or {}), **loaded["options"]}
    return value


Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Repeat a run: its OUT/config.yaml; options given here override the file.",
        callback=_read_config,
        is_eager=True,
        show_default=False,
    ),
]


def main_process() -> bool:
    """Whether this is the process that writes and prints (``RANK`` 0, or no launcher).

    ``torchrun`` and ``accelerate launch`` start one process per device, each running
    the same command; the files and the summary are the first one's.
    """
    import os

    return os.environ.get("RANK", "0").strip() in ("", "0")


def save_config(ctx: typer.Context, out: Path) -> Path:
    """Write the command's options to ``out/config.yaml`` (the first process only)."""
    import yaml

    options = {
        name: str(value.resolve()) if isinstance(value, Path) else value
        for name, value in ctx.params.items()
        if name not in _NOT_SAVED
    }
    path = out / CONFIG_NAME
    if not main_process():
        return path
    text = f"# {command_line(ctx)}\n" + yaml.safe_dump(
        {"command": ctx.info_name, "options": options}, sort_keys=False
    )
    path.write_text(text, encoding="utf-8")
    return path


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set option ``name``, on the command line or in ``--config``."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "DEFAULT_MAP")


def set_apart(ctx: typer.Context, param: Any) -> bool:
    """Whether ``param`` was set to something else than its default.

    A saved configuration holds every option, defaults too; only a value that differs
    counts as asked for (an option that does not apply is refused only then).
    """
    source = ctx.get_parameter_source(param.name or "")
    if source is None or source.name == "DEFAULT":
        return False
    return source.name == "COMMANDLINE" or ctx.params.get(param.name or "") != param.default


def as_given(ctx: typer.Context, param: Any) -> list[str]:
    """The words that set ``param`` to its value on a command line."""
    value = ctx.params.get(param.name or "")
    if param.param_type_name == "argument":
        return [str(value)]
    if getattr(param, "is_flag", False):
        off = getattr(param, "secondary_opts", None)
        if value:
            return [param.opts[0]]
        return [off[0]] if off else []  # a flag without a --no- form is off when absent
    if isinstance(value, list | tuple):
        return [word for item in value for word in (param.opts[0], str(item))]
    return [] if value is None else [param.opts[0], str(value)]


def command_line(ctx: typer.Context, *, extra: tuple[str, ...] = ()) -> str:
    """The running command as the user gave it (the options they set), plus ``extra``."""
    parts = [PROG, *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        if param.name != "config" and given(ctx, param.name or ""):
            parts += as_given(ctx, param)
    parts += [flag for flag in extra if flag not in parts]
    return shlex.join(parts)
