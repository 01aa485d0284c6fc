"""The answer's tokens in the CLI: written to a terminal as they come, or as events.

``run`` and ``resume`` stream the graph with ``stream_mode="messages"`` only when a
consumer here asks for the tokens, so every other output is what it always was:

- **A terminal** (stdout is a TTY, neither ``--json`` nor ``--events``):
  :class:`TerminalAnswer` stops the live progress view at the answer's first token,
  writes each token to stdout as it arrives, and at the end writes only what the
  generator added after the model's reply (the notes of an incomplete answer): the
  answer appears once. The usage table and the incomplete-answer line go to stderr as
  they do without streaming.
- **``--events --tokens``**: :class:`TokenEvents` emits
  ``{"event": "token", "role": "generator", "call": N, "text": ...}`` lines, ``call``
  counting the generator's model calls (a reply cut off by the token limit is asked
  for again, shorter: its tokens come under the next number).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Any

from rich.text import Text

from workforce_graph.cli.errors import EXIT_ANSWERED, EXIT_INCOMPLETE, CliError
from workforce_graph.cli.render import EventsView, ProgressView, usage_table
from workforce_graph.cli.summary import OutputMode, run_summary, status_of, stderr_console
from workforce_graph.streaming import ANSWER_ROLE, answer_chunk

__all__ = [
    "AnswerTokens",
    "TerminalAnswer",
    "TokenEvents",
    "answer_tokens_for",
    "check_tokens_option",
    "rest_to_write",
]


class AnswerTokens:
    """Receives a run's ``messages`` stream items; keeps the answer's, by model call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        """The text streamed by each of the generator's model calls, in order."""
        self._ids: list[str | None] = []

    def chunk(self, item: Any) -> None:
        """One item of the ``messages`` stream (other roles' chunks are ignored)."""
        found = answer_chunk(item)
        if found is None:
            return
        text = str(found.text)
        if not self._ids or found.id != self._ids[-1]:
            self._ids.append(found.id)
            self.calls.append("")
            self.new_call(len(self.calls))
        if text:
            self.calls[-1] += text
            self.token(text, len(self.calls))

    def new_call(self, call: int) -> None:
        """The generator's model call number ``call`` began streaming."""

    def token(self, text: str, call: int) -> None:
        """A piece of the answer from call number ``call``."""

    def finish(self, state: Mapping[str, Any], thread_id: str, view: ProgressView) -> int | None:
        """Print the end of the run; ``None``: the usual :func:`finish_run` does it."""
        return None

    def interrupted(self) -> None:
        """The run stopped before its end (Ctrl-C, SIGTERM, an error)."""


class TokenEvents(AnswerTokens):
    """``--events --tokens``: each piece of the answer as a ``token`` event."""

    def __init__(self, view: EventsView) -> None:
        super().__init__()
        self.view = view

    def token(self, text: str, call: int) -> None:
        self.view.emit({"event": "token", "role": ANSWER_ROLE, "call": call, "text": text})


class TerminalAnswer(AnswerTokens):
    """The answer written to a terminal as the model writes it (see module docs)."""

    def __init__(self, view: ProgressView, out: IO[str] | None = None) -> None:
        super().__init__()
        self._out = out
        self.view = view

    @property
    def out(self) -> IO[str]:
        # Looked up at each write: the live view swaps sys.stdout for its own proxy
        # while it draws, and puts it back when it stops.
        return self._out if self._out is not None else sys.stdout

    def new_call(self, call: int) -> None:
        if call == 1:
            # The live view redraws the lines above the cursor: it must stop before
            # the answer is written below it.
            self.view.pause()
            return
        self.out.write("\n")
        self.out.flush()
        stderr_console().print(
            Text("(the reply was cut off at the token limit; asking for a shorter one)"),
            style="yellow",
        )

    def token(self, text: str, call: int) -> None:
        self.out.write(text)
        self.out.flush()

    def interrupted(self) -> None:
        # The shell's prompt, or the interruption's line, must not go on the end of a
        # half-written answer.
        if self.calls and not self.calls[-1].endswith("\n"):
            self.out.write("\n")
            self.out.flush()

    def finish(self, state: Mapping[str, Any], thread_id: str, view: ProgressView) -> int | None:
        if not self.calls:
            return None  # no token came (an error answer, a fallback): print as usual
        status = status_of(state)
        summary = run_summary(state, thread_id, status=status)
        answer = str(summary["answer"] or state.get("error") or "(no answer)")
        rest = rest_to_write(self.calls[-1], answer)
        if rest is None:
            # The generator did not keep the streamed reply as it was (it wrote its
            # results instead): the answer as kept, once more, clearly marked.
            stderr_console().print(Text("\nThe answer as kept:", style="yellow"))
            rest = answer
        self.out.write(rest + "\n")
        self.out.flush()
        err = stderr_console()
        if summary["usage"]:
            err.print(usage_table(summary["usage"]))
        if status != "answered":
            err.print(Text(f"The answer is incomplete (thread {thread_id}).", style="yellow"))
        return EXIT_ANSWERED if status == "answered" else EXIT_INCOMPLETE


def rest_to_write(streamed: str, answer: str) -> str | None:
    """What of ``answer`` is left to write once ``streamed`` is on the screen; ``None``
    when the answer does not begin with the streamed reply (give it whole).

    The generator keeps the reply without its surrounding whitespace and adds its
    notes after it.

    Example:
        >>> rest_to_write("Paris.\\n", "Paris.\\n\\nNote: this answer is incomplete.")
        '\\nNote: this answer is incomplete.'
        >>> rest_to_write("Paris.", "Paris.")
        ''
        >>> rest_to_write("[s1] Paris.", "Paris.") is None
        True
    """
    core = streamed.strip()
    if not answer.startswith(core):
        return None
    rest = answer[len(core) :]
    written_after = streamed[len(streamed.rstrip()) :]
    return rest[len(written_after) :] if rest.startswith(written_after) else rest


def check_tokens_option(mode: OutputMode, tokens: bool) -> None:
    """Refuse ``--tokens`` without ``--events``, before anything starts.

    Raises:
        CliError: ``--tokens`` without ``--events`` (exit 2).
    """
    if tokens and mode != "events":
        raise CliError("--tokens adds the answer's tokens to --events; give both")


def answer_tokens_for(
    mode: OutputMode, tokens: bool, view: ProgressView, out: IO[str] | None = None
) -> AnswerTokens | None:
    """Who takes the answer's tokens in this output mode, if anyone.

    Args:
        mode: The run's output mode.
        tokens: ``--tokens`` was given (token events, with ``--events``).
        view: The run's progress view.
        out: Standard output (default ``sys.stdout``).
    """
    if tokens and isinstance(view, EventsView):
        return TokenEvents(view)
    if mode == "auto" and (out if out is not None else sys.stdout).isatty():
        return TerminalAnswer(view, out)
    return None
