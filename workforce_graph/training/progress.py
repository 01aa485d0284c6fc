"""Training figures as they come: ``OUT/loop.json`` and a picture of them, ``OUT/report.html``.

One record for both training paths. One-shot training (``train sft|dpo|flow-grpo
--data``) adds a point per logged update step; the on-policy Flow-GRPO loop adds one per
iteration. Each point holds the same five figures, ``None`` where a run has no such
figure (sft has no KL term, one-shot training has no rollouts to score):

- ``loss``: the training loss (the loop: the mean of the iteration's logged losses);
- ``kl``: Flow-GRPO's KL term to the reference model;
- ``reward``: the loop's mean rollout score; DPO's reward margin when TRL logs it;
- ``valid_decisions``: the loop's share of planner calls that parsed into a decision;
- ``held_out_pass_at_1``: the loop's held-out pass@1 with the current planner.

Other numbers a run logs (DPO's reward accuracy, the clipped share, the share of groups
dropped for equal rewards) go into ``extra`` and get a chart too. Both files are
rewritten whole after every point, each through a temporary file and a rename, so an
interruption never leaves half a file; the HTML is standalone (inline SVG, no script,
nothing fetched).
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "FIGURES",
    "LOOP_FILE",
    "PROGRESS_FORMAT",
    "REPORT_FILE",
    "Figures",
    "ProgressLog",
    "line_chart",
    "write_atomically",
]

LOOP_FILE: Final = "loop.json"
REPORT_FILE: Final = "report.html"
PROGRESS_FORMAT: Final = "workforce-graph/training-progress"

FIGURES: Final[tuple[tuple[str, str], ...]] = (
    ("loss", "Loss"),
    ("kl", "KL to the reference"),
    ("reward", "Mean reward"),
    ("valid_decisions", "Valid planner decisions (share of calls)"),
    ("held_out_pass_at_1", "Held-out pass@1"),
)
"""The five figures every point has, with their chart titles."""

_EXTRA_TITLES: Final[dict[str, str]] = {
    "reward_accuracy": "DPO reward accuracy (chosen above rejected)",
    "clipped": "Share of tokens whose ratio was clipped",
    "dropped_groups": "Share of groups dropped (rewards did not vary)",
    "token_accuracy": "Token accuracy on the completions",
}


@dataclass
class Figures:
    """The figures of one update step (one-shot training) or one iteration (the loop)."""

    step: int
    loss: float | None = None
    kl: float | None = None
    reward: float | None = None
    valid_decisions: float | None = None
    held_out_pass_at_1: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class ProgressLog:
    """The figures of one training run, kept in ``folder/loop.json`` and drawn in
    ``folder/report.html``.

    Args:
        folder: Where both files go (the run's ``--out``).
        kind: ``sft``, ``dpo``, ``flow-grpo`` or ``flow-grpo loop``.
        unit: What a point is: ``step`` or ``iteration``.
        settings: How the run was set up, written as given (JSON values).
    """

    folder: Path
    kind: str
    unit: str
    settings: dict[str, Any] = field(default_factory=dict)
    points: list[Figures] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    """Per-point reports beyond the figures (the loop's iteration reports)."""

    def record(self, points: Iterable[Figures], details: Sequence[dict[str, Any]] = ()) -> None:
        """Replace the points (and details) and rewrite both files.

        The whole history is passed each time: a resumed run rebuilds it from what is on
        disk (a checkpoint's log, the finished iterations), so nothing is appended twice.
        """
        self.points = list(points)
        self.details = list(details)
        self.write()

    def as_json(self) -> dict[str, Any]:
        return {
            "format": PROGRESS_FORMAT,
            "version": 1,
            "kind": self.kind,
            "unit": self.unit,
            "settings": self.settings,
            "figures": [_plain(asdict(point)) for point in self.points],
        } | ({"iterations": [_plain(d) for d in self.details]} if self.unit == "iteration" else {})

    def write(self) -> None:
        """Write ``loop.json`` and ``report.html`` (each whole, or not at all)."""
        write_atomically(self.folder / LOOP_FILE, json.dumps(self.as_json(), indent=2) + "\n")
        write_atomically(self.folder / REPORT_FILE, self.html())

    def html(self) -> str:
        """The standalone report: one line chart per figure, the settings, the details."""
        charts = [
            line_chart(title, self._series(key), unit=self.unit, note=_NOT_MEASURED)
            for key, title in FIGURES
        ]
        extras = sorted({key for point in self.points for key in point.extra})
        charts += [
            line_chart(_EXTRA_TITLES.get(key, key), self._extra_series(key), unit=self.unit)
            for key in extras
        ]
        settings = "".join(
            f"<tr><th>{_esc(name)}</th><td>{_esc(_show(value))}</td></tr>"
            for name, value in self.settings.items()
        )
        return (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>Training progress: {_esc(self.kind)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>Training progress: {_esc(self.kind)}</h1>"
            f"<p>{len(self.points)} {self.unit}{'' if len(self.points) == 1 else 's'} recorded; "
            f"figures in <code>{LOOP_FILE}</code>.</p>"
            f"<div class=charts>{''.join(charts)}</div>"
            f"{self._details_table()}"
            f"<h2>Settings</h2><table>{settings}</table></body></html>\n"
        )

    def _series(self, key: str) -> list[tuple[int, float | None]]:
        return [(point.step, getattr(point, key)) for point in self.points]

    def _extra_series(self, key: str) -> list[tuple[int, float | None]]:
        return [(point.step, point.extra.get(key)) for point in self.points]

    def _details_table(self) -> str:
        if not self.details:
            return ""
        columns = [c for c in _DETAIL_COLUMNS if any(c in d for d in self.details)]
        head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_esc(_show(d.get(c)))}</td>" for c in columns) + "</tr>"
            for d in self.details
        )
        return f"<h2>Iterations</h2><table><tr>{head}</tr>{rows}</table>"


_DETAIL_COLUMNS: Final = (
    "iteration",
    "rollouts",
    "pass_at_1",
    "mean_reward",
    "valid_decisions",
    "rows",
    "dropped_groups",
    "held_out_pass_at_1",
    "rollout_s",
    "train_s",
    "updated",
)
_NOT_MEASURED = "not measured in this run"
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    ".charts{display:flex;flex-wrap:wrap;gap:1.5em}"
    "figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}"
    "figcaption small{font-weight:400;color:#555;margin-left:.5em}"
    "table{border-collapse:collapse;margin-top:.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}"
    "svg text{font-size:11px;fill:#444}"
)


def line_chart(
    title: str,
    series: Sequence[tuple[int, float | None]],
    *,
    unit: str = "step",
    note: str = "no values",
    width: int = 360,
    height: int = 200,
) -> str:
    """One figure as an inline SVG line chart (a gap where a value is missing).

    Args:
        title: The caption.
        series: ``(x, y)`` points in order; ``y`` may be ``None`` (not measured).
        unit: The x axis's name.
        note: What the chart says when no point has a value.
        width: Width in pixels.
        height: Height in pixels.

    Returns:
        A ``<figure>`` element holding the SVG.
    """
    known = [(x, y) for x, y in series if y is not None and math.isfinite(y)]
    frame = _el("rect", x=0.5, y=0.5, width=width - 1, height=height - 1, fill="#fafafa")
    if not known:
        inside = frame + _el("text", note, x=width / 2, y=height / 2, anchor="middle")
        return _figure(title, None, width, height, inside)
    left, right, top, bottom = 52, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    low_x, high_x = min(x for x, _ in series), max(x for x, _ in series)
    low_y, high_y = min(y for _, y in known), max(y for _, y in known)
    if high_y == low_y:  # a flat line: give it a band so that it sits mid-chart
        pad = abs(low_y) * 0.1 or 1.0
        low_y, high_y = low_y - pad, high_y + pad

    def place(x: float, y: float) -> tuple[float, float]:
        share = (x - low_x) / (high_x - low_x) if high_x != low_x else 0.5
        height_share = (high_y - y) / (high_y - low_y)
        return round(left + share * plot_w, 1), round(top + height_share * plot_h, 1)

    # A missing value breaks the line: the figure was not measured there.
    segments: list[list[str]] = [[]]
    for x, y in series:
        if y is None or not math.isfinite(y):
            segments.append([])
        else:
            segments[-1].append("{},{}".format(*place(x, y)))
    lines = "".join(
        _el("polyline", points=" ".join(part), fill="none", stroke=_BLUE, width=1.5)
        for part in segments
        if len(part) > 1
    )
    dots = "".join(
        '<circle cx="{}" cy="{}" r="2.5" fill="{}">'.format(*place(x, y), _BLUE)
        + f"<title>{_esc(unit)} {x}: {_num(y)}</title></circle>"
        for x, y in known
    )
    base_y = height - bottom
    axes = (
        _el("line", x1=left, y1=top, x2=left, y2=base_y, stroke="#999")
        + _el("line", x1=left, y1=base_y, x2=width - right, y2=base_y, stroke="#999")
        + _el("text", _num(high_y), x=left - 4, y=top + 4, anchor="end")
        + _el("text", _num(low_y), x=left - 4, y=base_y, anchor="end")
        + _el("text", str(low_x), x=left, y=base_y + 14, anchor="start")
        + _el("text", str(high_x), x=width - right, y=base_y + 14, anchor="end")
        + _el("text", unit, x=left + plot_w / 2, y=height - 4, anchor="middle")
    )
    last_x, last_y = known[-1]
    last = f"last {_num(last_y)} ({unit} {last_x})"
    return _figure(title, last, width, height, frame + axes + lines + dots)


_BLUE = "#2563eb"


def _el(tag: str, text: str | None = None, **attributes: Any) -> str:
    """An SVG element; ``anchor`` is ``text-anchor``, ``width`` of a line its stroke's."""
    names = {"anchor": "text-anchor"}
    if tag in ("polyline", "line"):
        names["width"] = "stroke-width"
    if tag == "rect":
        attributes.setdefault("stroke", "#ddd")
    written = " ".join(
        f'{names.get(key, key)}="{_esc(str(value))}"' for key, value in attributes.items()
    )
    return f"<{tag} {written}>{_esc(text)}</{tag}>" if text is not None else f"<{tag} {written}/>"


def _figure(title: str, last: str | None, width: int, height: int, inside: str) -> str:
    note = f" <small>{_esc(last)}</small>" if last else ""
    described = f"{title}, {last}" if last else title
    svg = (
        f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{_esc(described)}</title>{inside}</svg>"
    )
    return f"<figure><figcaption>{_esc(title)}{note}</figcaption>{svg}</figure>"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """JSON without NaN or infinities (which strict readers refuse): those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _num(value: float) -> str:
    return f"{value:.4g}"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
