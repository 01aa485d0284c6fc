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

    Prints on stderr how many rows were written and what was left out, by reason.
    """

    def action() -> int:
        from workforce_graph.exports import export
        from workforce_graph.trajectory import TrajectoryFormatError, read_trajectories

        options: dict[str, object] = {}
        if kind in ("sft", "dpo"):
            options = {"role": role, "min_score": min_score}
        elif kind == "flow-grpo":
            options = {"role": role, "normalise": normalise}
        try:
            result = export(kind, read_trajectories(sources), **options)
        except TrajectoryFormatError as exc:
            raise CliError(str(exc)) from exc
        result.write(out)
        sys.stderr.write(f"wrote {len(result.rows)} {kind} rows to {out}\n")
        for reason, count in sorted(result.dropped.items()):
            sys.stderr.write(f"  left out: {count} {reason}\n")
        if result.stats:
            sys.stderr.write(f"  {json.dumps(result.stats)}\n")
        return 0

    guard(debug, action)
