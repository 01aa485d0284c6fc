"""Given plans and plan templates: a plan written in advance, filled and checked before it runs.

A given plan has the planner's shape, ``{"subtasks": [{"id", "description",
"capabilities", "depends_on"}]}`` (:func:`plan_file_schema` is its JSON Schema), so a
plan printed by ``workforce-graph plan`` runs unchanged with ``run --plan``. It is
checked exactly like a planned one (:func:`~workforce_graph.lifecycle.validate_plan`),
and every problem is listed (:class:`GivenPlanError`).

Descriptions are templates, so a team can keep a known-good pipeline and run it on new
inputs: ``{name}`` is replaced by the variable ``name``, and ``{{`` and ``}}`` are
literal braces (as in ``str.format``). A placeholder is a plain name only: no index,
attribute, conversion or format spec, so a template cannot reach into Python objects
the way ``str.format``'s ``{x.__class__}`` does. Every placeholder needs a variable and
every variable a placeholder; otherwise :class:`PlanTemplateError` names them, in one
line. Filled values are inserted as they are, never read as templates themselves.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from workforce_graph.lifecycle import Plan, PlannedSubtask, PlanValidationError, validate_plan

__all__ = [
    "GivenPlanError",
    "PlanFile",
    "PlanTemplateError",
    "escape_braces",
    "fill_plan",
    "given_plan",
    "placeholders",
    "plan_file",
    "plan_file_schema",
    "read_plan_file",
]

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class PlanFileStep(PlannedSubtask):
    """One subtask of a plan file; unknown keys are refused, so a misspelt
    ``depends_on`` cannot silently drop a dependency."""

    model_config = ConfigDict(
        extra="forbid",
        title="Subtask",
        json_schema_extra={
            "description": "One subtask: what to do, the capabilities it needs, the "
            "subtasks whose results it waits for."
        },
    )


class PlanFile(Plan):
    """A plan as a file holds it: the planner's plan, with templates in descriptions."""

    model_config = ConfigDict(
        extra="forbid",
        title="Plan",
        json_schema_extra={
            "description": "A workforce-graph plan: subtasks forming a DAG through "
            "depends_on. Descriptions may hold {name} placeholders, filled from variables; "
            "{{ and }} are literal braces."
        },
    )
    subtasks: list[PlanFileStep] = Field(  # type: ignore[assignment]
        json_schema_extra={"minItems": 1}
    )


class GivenPlanError(PlanValidationError):
    """A given plan that cannot run; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[str]) -> None:
        super().__init__(list(problems))
        self.args = ("the given plan is invalid: " + "; ".join(self.problems),)


class PlanTemplateError(ValueError):
    """A plan's placeholders and the variables given do not match (one line)."""


def plan_file_schema() -> dict[str, Any]:
    """The JSON Schema of a plan file (what ``workforce-graph plan --schema`` prints).

    Example:
        >>> plan_file_schema()["required"]
        ['subtasks']
    """
    return {"$schema": _SCHEMA_DIALECT, **PlanFile.model_json_schema()}


def read_plan_file(raw: Any) -> PlanFile:
    """``raw`` (parsed JSON, or a :class:`~workforce_graph.lifecycle.Plan`) as a plan file.

    Raises:
        GivenPlanError: It does not have the plan's shape; one problem per wrong field.
    """
    if isinstance(raw, Plan):
        raw = raw.model_dump()
    try:
        return PlanFile.model_validate(raw)
    except ValidationError as exc:
        raise GivenPlanError(
            (".".join(str(part) for part in error["loc"]) + ": " if error["loc"] else "")
            + error["msg"]
            for error in exc.errors()
        ) from None


def placeholders(template: str, *, where: str = "the template") -> list[str]:
    """The placeholder names in ``template``, in order (repeats included).

    Raises:
        PlanTemplateError: A lone brace, or a placeholder that is not a plain name.

    Example:
        >>> placeholders("Weather in {city} on {{day}}")
        ['city']
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise PlanTemplateError(
            f"{where} has a lone '{{' or '}}'; write a literal brace as '{{{{' or '}}}}'"
        ) from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise PlanTemplateError(
                f"{where} has the placeholder {{{shown}}}; a placeholder is a plain name such "
                "as {city} (write a literal brace as '{{' or '}}')"
            )
        names.append(name)
    return names


def _fill(template: str, variables: Mapping[str, str]) -> str:
    # Only after placeholders() accepted the template: every name is a plain variable.
    return "".join(
        literal + ("" if name is None else variables[name])
        for literal, name, _, _ in string.Formatter().parse(template)
    )


def fill_plan(plan: PlanFile, variables: Mapping[str, Any]) -> list[PlannedSubtask]:
    """The plan's subtasks with their placeholders filled from ``variables``.

    Values are used as text (``str(value)``).

    Raises:
        PlanTemplateError: A placeholder without a variable, a variable without a
            placeholder (both named, in one line), or a malformed placeholder.
    """
    used: set[str] = set()
    for step in plan.subtasks:
        used.update(placeholders(step.description, where=f"subtask {step.id!r}"))
    missing, extra = sorted(used - set(variables)), sorted(set(variables) - used)
    problems = []
    if missing:
        problems.append("no value for the plan's placeholder(s) " + ", ".join(missing))
    if extra:
        problems.append("the plan has no placeholder for the variable(s) " + ", ".join(extra))
    if problems:
        raise PlanTemplateError("; ".join(problems))
    values = {name: str(variables[name]) for name in used}
    return [
        PlannedSubtask(
            id=step.id,
            description=_fill(step.description, values),
            capabilities=list(step.capabilities),
            depends_on=list(step.depends_on),
        )
        for step in plan.subtasks
    ]


def given_plan(
    raw: Any,
    variables: Mapping[str, Any] | None = None,
    *,
    offered_capabilities: Collection[str],
    max_subtasks: int | None = None,
) -> list[PlannedSubtask]:
    """A given plan read, filled and validated as the planner's plans are.

    Args:
        raw: The plan: parsed JSON of the plan file's shape, or a ``Plan``.
        variables: Values for the descriptions' placeholders.
        offered_capabilities: Capability tags some available worker offers.
        max_subtasks: Most subtasks a plan may have.

    Returns:
        The plan's subtasks, ready for :func:`~workforce_graph.lifecycle.pending_subtask`.

    Raises:
        GivenPlanError: The plan has a wrong shape, or is not a valid DAG of offered
            capabilities within the size limit (every problem listed).
        PlanTemplateError: Its placeholders and ``variables`` do not match.
    """
    steps = fill_plan(read_plan_file(raw), variables or {})
    try:
        validate_plan(steps, offered_capabilities=offered_capabilities, max_subtasks=max_subtasks)
    except PlanValidationError as exc:
        raise GivenPlanError(exc.problems) from None
    return steps


def escape_braces(text: str) -> str:
    """``text`` as a template that fills to itself: every brace doubled.

    Example:
        >>> escape_braces('Reply as {"a": 1}')
        'Reply as {{"a": 1}}'
    """
    return text.replace("{", "{{").replace("}", "}}")


def plan_file(steps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A plan's subtasks (state subtasks or planned steps as dicts) as a plan file.

    Descriptions are escaped (:func:`escape_braces`), so the file, run without
    variables, gives the same descriptions back.
    """
    return {
        "subtasks": [
            {
                "id": s["id"],
                "description": escape_braces(s["description"]),
                "capabilities": list(s["capabilities"]),
                "depends_on": list(s["depends_on"]),
            }
            for s in steps
        ]
    }
