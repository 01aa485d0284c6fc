"""Run options: declared once, here; set when the graph is built, overridable per run.

:class:`WorkforceSettings` is the single list of run options with their defaults, help
text and bounds. Everything else derives from it: the factory's keyword options
(``build_workforce_graph(max_replans=1)``), :data:`WorkforceContext` (the per-run
overrides, which LangGraph Studio shows as the assistant's configuration) and the CLI's
budget options (``--max-replans``, ...). Adding a setting is one :func:`setting` line.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields, make_dataclass, replace
from typing import Any, get_type_hints

from workforce_graph.calls.structured import STRUCTURED_METHODS, StructuredMethod

__all__ = [
    "ROLE_MODEL_OPTIONS",
    "WorkforceContext",
    "WorkforceSettings",
    "check_setting",
    "factory_settings",
    "setting",
    "setting_fields",
]


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    flag: str | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """Declare one run option.

    Args:
        default: The built-in value.
        help: One sentence, shown by the CLI's ``--help`` and in the docs.
        minimum: Smallest value allowed.
        above: The value must be greater than this.
        flag: The CLI option's name, when not ``--`` plus the name with dashes.
        choices: The values allowed, when only a few are.
    """
    return field(
        default=default,
        metadata={
            "help": help,
            "minimum": minimum,
            "above": above,
            "flag": flag,
            "choices": choices,
        },
    )


def check_setting(name: str, value: Any) -> None:
    """Raise ``ValueError`` when ``value`` is out of the bounds declared for ``name``."""
    meta = _FIELDS[name].metadata
    if value is None:
        return
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise ValueError(f"{name} must be >= {meta['minimum']:g}, not {value!r}")
    if meta["above"] is not None and value <= meta["above"]:
        raise ValueError(f"{name} must be > {meta['above']:g}, not {value!r}")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ValueError(f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class WorkforceSettings:
    """Budgets and options of one run. Counted in state, never left to ``recursion_limit``."""

    max_replans: int = setting(
        2, "Replans after a subtask keeps failing (2, as in the OWL paper).", minimum=0
    )
    max_retries: int = setting(
        1, "Re-runs of a failed subtask before the plan is given up on.", minimum=0
    )
    max_concurrency: int = setting(32, "Subtasks running at once.", minimum=1)
    subtask_timeout_s: float = setting(
        300.0, "Wall-clock limit of one subtask, in seconds.", above=0, flag="--timeout"
    )
    call_timeout_s: float = setting(
        120.0,
        "Wall-clock limit of one model call, in seconds, the client's retries included.",
        above=0,
        flag="--call-timeout",
    )
    max_tool_calls: int = setting(
        15, "Tool calls one subtask may make (15, as in the OWL paper).", minimum=0
    )
    max_plan_attempts: int = setting(
        3, "Planner calls (repairs included) to get a valid plan before the run ends.", minimum=1
    )
    max_subtasks: int = setting(40, "Largest plan accepted, in subtasks.", minimum=1)
    verify_results: bool = setting(
        False, "Check each result with the verifier model (doubles the cost of a run)."
    )
    plan_fallback: bool = setting(
        True,
        "With no valid plan after the planner's attempts, run the whole request as one "
        "subtask on the most general worker (the answer says so) instead of ending the run.",
    )
    # setting() returns a dataclasses.field(); ruff cannot tell for a Literal alias.
    structured_output: StructuredMethod = setting(  # noqa: RUF009
        "auto",
        "How structured replies are asked for: auto finds out what each model server "
        "supports; json_schema, function_calling or json_mode forces one method.",
        choices=STRUCTURED_METHODS,
    )
    max_turns: int = setting(
        10, "Flow topology: planner turns before it answers anyway, incomplete.", minimum=1
    )
    max_run_s: float = setting(
        900.0,
        "Seconds the whole run may take, counted in state (a resumed run goes on with what "
        "is left); then the answer is written from what finished, marked incomplete.",
        above=0,
    )
    memory_budget_tokens: int = setting(
        600, "Flow topology: tokens of memory in the planner's and verifier's prompts.", minimum=50
    )
    memory: bool = setting(
        True,
        "Show the planner similar past runs and keep this run among them (needs a store: "
        "the CLI's run database; eval: off unless --memory).",
    )
    past_runs_tokens: int = setting(
        400, "Tokens of similar past runs in the planner's prompt.", minimum=50
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            check_setting(f.name, getattr(self, f.name))

    def overridden(self, context: Any) -> WorkforceSettings:
        """These settings with the non-``None`` options of a run's context applied."""
        if context is None:
            return self
        changes = {
            f.name: getattr(context, f.name)
            for f in fields(self)
            if getattr(context, f.name, None) is not None
        }
        return replace(self, **changes) if changes else self


_FIELDS: dict[str, Field[Any]] = {f.name: f for f in fields(WorkforceSettings)}
_TYPES: dict[str, Any] = get_type_hints(WorkforceSettings)


def setting_fields() -> list[tuple[Field[Any], Any]]:
    """Each setting's dataclass field and its type, in declaration order."""
    return [(f, _TYPES[f.name]) for f in _FIELDS.values()]


def factory_settings(
    settings: WorkforceSettings | None, options: dict[str, Any], *, factory: str
) -> WorkforceSettings:
    """A graph factory's settings: ``settings`` with its keyword ``options`` applied.

    Raises:
        TypeError: An option that is not a setting.
        ValueError: A setting out of bounds.
    """
    unknown = sorted(set(options) - set(_FIELDS))
    if unknown:
        raise TypeError(
            f"{factory}() got unknown option(s) {', '.join(unknown)}; "
            f"the settings are {', '.join(_FIELDS)}"
        )
    return replace(settings or WorkforceSettings(), **options)


ROLE_MODEL_OPTIONS: dict[str, str] = {
    "model": "Default model for every role, e.g. ``openai:gpt-4o`` or ``local``.",
    "planner_model": "Model for the planner.",
    "coordinator_model": "Model for the coordinator.",
    "worker_model": "Model for the workers.",
    "verifier_model": "Model for the verifier.",
    "generator_model": "Model for the generator.",
    "query_analysis_model": "Flow topology: model for the query analysis.",
    "executor_model": "Flow topology: model the chosen worker thinks with.",
}
"""Per-run model choices, beside the settings (the factory takes models, not names)."""

WorkforceContext: Any = make_dataclass(
    "WorkforceContext",
    [(name, str | None, field(default=None)) for name in ROLE_MODEL_OPTIONS]
    + [
        (f.name, _TYPES[f.name] | None, field(default=None))
        for f in _FIELDS.values()
        if f.default is not MISSING
    ],
)
"""Per-run options (LangGraph runtime context): the role models and every setting of
:class:`WorkforceSettings`, each ``None`` by default, which keeps the graph's value.

Example:
    >>> await graph.ainvoke(inputs, config,
    ...     context=WorkforceContext(max_replans=0, max_subtasks=5))  # doctest: +SKIP
"""
WorkforceContext.__module__ = __name__
WorkforceContext.__doc__ = (
    "Per-run options (LangGraph runtime context). ``None`` keeps the graph's value."
)
