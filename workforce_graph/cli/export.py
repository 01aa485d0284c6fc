"""``workforce-graph export KIND SOURCES... -o OUT``: training rows or a GAIA submission
from recorded trajectories."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from workforce_graph.cli.errors import CliError
from workforce_graph.cli.options import Debug, guard

__all__ = ["export_command"]

Kind = Literal["sft", "dpo", "flow-grpo", "gaia"]


def export_command(
    kind: Annotated[Kind, typer.Argument(help="sft, dpo, flow-grpo or gaia.", show_default=False)],
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Trajectory files or folders (e.g. an eval's --out folder).", show_default=False
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the JSONL rows.")],
    role: Annotated[str, typer.Option(help="Whose decisions become rows.")] = "planner",
    min_score: Annotated[
        float, typer.Option(help="sft/dpo: a trajectory at least this good counts as right.")
    ] = 1.0,
    prefer: Annotated[
        str | None,
        typer.Option(
            help="gaia: the system to submit when the runs come from several (another "
            "topology or planner model): a topology, a planner model or TOPOLOGY/MODEL.",
            show_default=False,
        ),
    ] = None,
    normalise: Annotated[
        Literal["trajectories", "turns"],
        typer.Option(
            help="flow-grpo: normalise advantages over the group's trajectories (the paper) "
            "or over its turn rows (AgentFlow's code)."
        ),
    ] = "trajectories",
    debug: Debug = False,
) -> None:
    """Export recorded trajectories as SFT, DPO or Flow-GRPO rows, or a GAIA file.

    SFT and DPO rows are TRL's conversational formats; Flow-GRPO rows carry per-turn
    advantages; GAIA is a submission file.

    Prints on stderr how many rows were written and what was left out, by reason. No
    row at all is an error (exit 2, no file written), in one line saying why none
    qualified and what to try.
    """

    def action() -> int:
        from workforce_graph.exports import ExportError, export
        from workforce_graph.trajectory import TrajectoryFormatError, read_trajectories

        if prefer is not None and kind != "gaia":
            raise CliError("--prefer chooses the system of a gaia submission; drop it")
        options: dict[str, object] = {}
        if kind in ("sft", "dpo"):
            options = {"role": role, "min_score": min_score}
        elif kind == "flow-grpo":
            options = {"role": role, "normalise": normalise}
        else:
            options = {"prefer": prefer}
        try:
            result = export(kind, read_trajectories(sources), **options)
        except (TrajectoryFormatError, ExportError) as exc:
            raise CliError(str(exc)) from exc
        if not result.rows:
            # An empty file would pass for a finished export in a script's next step.
            raise CliError(f"no {kind} row, nothing written to {out}: {result.empty_reason}")
        result.write(out)
        sys.stderr.write(f"wrote {len(result.rows)} {kind} rows to {out}\n")
        for reason, count in sorted(result.dropped.items()):
            sys.stderr.write(f"  left out: {count} {reason}\n")
        by_topology = result.stats.get("groups_by_topology")
        if by_topology:
            groups = ", ".join(f"{count} {name}" for name, count in by_topology.items())
            sys.stderr.write(f"  groups (task, topology, {role} model) by topology: {groups}\n")
        if result.stats:
            sys.stderr.write(f"  {json.dumps(result.stats)}\n")
        return 0

    guard(debug, action)
