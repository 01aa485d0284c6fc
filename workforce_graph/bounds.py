"""Bounds on text that flows from one model call into another prompt.

A model may reply with anything, 200 KB of "description" included; copied verbatim,
one such reply would inflate every later prompt of the run. Every text handed on
(subtask descriptions, results, failure reasons) is cut to a bound here, with a note
saying how much was cut, so the next model (and a person reading the run) knows.

The user's request is the one text that is not cut: every part of it may matter, and it
is copied whole into the planner's, each worker's, the verifier's and the generator's
prompts. A request longer than :data:`REQUEST_CHARS` is refused instead
(:class:`RequestTooLong`); long text belongs in an attached file, which only the worker
that reads it sees.
"""

from __future__ import annotations

__all__ = [
    "DESCRIPTION_CHARS",
    "REASON_CHARS",
    "REQUEST_CHARS",
    "RESULT_CHARS",
    "RequestTooLong",
    "bound",
    "check_request",
]

DESCRIPTION_CHARS = 2_000
"""A subtask description: an instruction, not a document."""
REASON_CHARS = 600
"""Why a subtask failed, or why a check rejected it."""
RESULT_CHARS = 20_000
"""A result handed to the verifier whole (prompts use shorter briefs)."""
REQUEST_CHARS = 100_000
"""The longest request accepted (about 25,000 tokens). A 1 MB request copied into each
of a run's nine or so prompts was about 250,000 tokens."""


class RequestTooLong(ValueError):
    """A request longer than :data:`REQUEST_CHARS`; the message says what to do instead."""


def check_request(request: str, *, hint: str = "attach the text as a file instead") -> None:
    """Raise :class:`RequestTooLong` when ``request`` is longer than :data:`REQUEST_CHARS`.

    Args:
        request: The user's request.
        hint: How to pass long text instead (the CLI names ``--file``).

    Example:
        >>> try:
        ...     check_request("x" * 100_001)
        ... except RequestTooLong as exc:
        ...     print(str(exc)[:54])
        the request is 100,001 characters, more than the 100,0
    """
    if len(request) > REQUEST_CHARS:
        raise RequestTooLong(
            f"the request is {len(request):,} characters, more than the {REQUEST_CHARS:,} "
            f"a request may have (it is copied into every prompt of the run); {hint} and "
            "say in the request what to do with it"
        )


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
