"""Training rows: read a JSONL file and check each row has the shape its trainer needs.

Shapes (TRL 1.x; ``docs/training.md``):

- ``sft``: ``{"messages": [...]}`` or ``{"prompt": ..., "completion": ...}``;
- ``dpo``: ``{"prompt": ..., "chosen": ..., "rejected": ...}``;
- ``flow-grpo``: ``{"prompt": ..., "completion": ..., "advantage": float}`` plus, kept
  for reporting, ``group_id``, ``trajectory_id``, ``turn`` and ``reward``.

A prompt or completion is a string or a list of chat messages
(``{"role": ..., "content": ...}``); the fields of one row are all of one kind. Other
fields (a recorder's metadata) are dropped, so exports with more fields still train.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

__all__ = ["RowFormatError", "RowKind", "check_rows", "read_rows"]

RowKind = Literal["sft", "dpo", "flow-grpo"]

_TEXT_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sft": (("messages",), ("prompt", "completion")),
    "dpo": (("prompt", "chosen", "rejected"),),
    "flow-grpo": (("prompt", "completion"),),
}
_KEPT = {
    "flow-grpo": (
        *("advantage", "group_id", "trajectory_id", "turn", "reward"),
        # The server's sampled token ids, trained on as they are (no re-tokenisation).
        "completion_ids",
    )
}


class RowFormatError(ValueError):
    """A row that no trainer can use; the message names the row and the problem."""


def read_rows(path: str | Path, kind: RowKind) -> list[dict[str, Any]]:
    """Read and check the JSONL file ``path`` (one row a line, blank lines allowed).

    Raises:
        RowFormatError: Missing file, invalid JSON or a row of the wrong shape
            (``file:line: problem``), or no rows at all.
    """
    source = Path(path)
    if not source.is_file():
        raise RowFormatError(f"{source}: no such file; pass a JSONL file of {kind} rows")
    parsed: list[tuple[str, Any]] = []
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                parsed.append((f"{source}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise RowFormatError(f"{source}:{number}: invalid JSON ({exc.msg})") from exc
    return check_rows(parsed, kind, empty=f"{source}: no rows")


def check_rows(
    rows: Iterable[tuple[str, Any]], kind: RowKind, *, empty: str = "no rows"
) -> list[dict[str, Any]]:
    """Check ``(where, row)`` pairs; return the rows with only the fields ``kind`` uses."""
    out = [_check(where, row, kind) for where, row in rows]
    if not out:
        raise RowFormatError(f"{empty}; nothing to train on")
    return out


def _check(where: str, row: Any, kind: RowKind) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise RowFormatError(f"{where}: a row must be a JSON object")
    shapes = _TEXT_FIELDS[kind]
    fields = next((shape for shape in shapes if all(key in row for key in shape)), None)
    if fields is None:
        wanted = " or ".join("+".join(shape) for shape in shapes)
        raise RowFormatError(f"{where}: a {kind} row needs {wanted}; it has {sorted(row)}")
    kinds = {name: _text_kind(where, name, row[name]) for name in fields}
    if len(set(kinds.values())) > 1:
        raise RowFormatError(
            f"{where}: {', '.join(fields)} must all be strings or all message lists"
        )
    kept = {name: _plain(row[name]) for name in fields}
    for name in _KEPT.get(kind, ()):
        if name in row:
            kept[name] = row[name]
    if kind == "flow-grpo":
        advantage = row.get("advantage")
        if not isinstance(advantage, int | float) or not math.isfinite(advantage):
            raise RowFormatError(f"{where}: a flow-grpo row needs a finite number 'advantage'")
        kept["advantage"] = float(advantage)
    return kept


def _plain(value: Any) -> Any:
    # Only role and content: extra message keys in some rows would break the columns.
    if isinstance(value, list):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    return value


def _text_kind(where: str, name: str, value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, list) and value:
        for message in value:
            if not (
                isinstance(message, dict)
                and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)
            ):
                raise RowFormatError(
                    f"{where}: {name!r} messages need a string 'role' and 'content'"
                )
        return "messages"
    raise RowFormatError(f"{where}: {name!r} must be a string or a non-empty message list")
