"""Helpers shared by the finance tools: number formatting and bounded inputs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["MAX_SCHEDULE_ROWS", "FiniteFloat", "num", "pct"]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
MAX_SCHEDULE_ROWS = 600


def num(x: float) -> float:
    """Ten significant digits: exact enough for any answer, short enough to read."""
    return float(f"{x:.10g}")


def pct(x: float) -> str:
    return f"{x * 100:.4f}%"
