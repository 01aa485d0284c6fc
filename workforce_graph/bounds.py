"""Bounds on text that flows from one model call into another prompt.

A model may reply with anything, 200 KB of "description" included; copied verbatim,
one such reply would inflate every later prompt of the run. Every text handed on
(subtask descriptions, results, failure reasons) is cut to a bound here, with a note
saying how much was cut, so the next model (and a person reading the run) knows.
"""

from __future__ import annotations

__all__ = ["DESCRIPTION_CHARS", "REASON_CHARS", "RESULT_CHARS", "bound"]

DESCRIPTION_CHARS = 2_000
"""A subtask description: an instruction, not a document."""
REASON_CHARS = 600
"""Why a subtask failed, or why a check rejected it."""
RESULT_CHARS = 20_000
"""A result handed to the verifier whole (prompts use shorter briefs)."""


def bound(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and a note.

    Example:
        >>> bound("abcdefghij" * 10, 60)
        'abcdefghijabcdefghijabcdefghij [... 70 more characters cut]'
    """
    if len(text) <= limit:
        return text
    note_len = len(f" [... {len(text):,} more characters cut]")
    keep = max(0, limit - note_len)
    kept = text[:keep].rstrip()
    return f"{kept} [... {len(text) - len(kept):,} more characters cut]"
