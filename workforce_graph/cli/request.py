"""The request as the CLI reads it: valid Unicode, not empty, within bounds."""

from __future__ import annotations

import sys

from workforce_graph.bounds import RequestTooLong, check_request
from workforce_graph.cli.errors import CliError

__all__ = ["checked_request", "read_stdin_request", "utf8_text"]


def utf8_text(text: str | bytes, source: str) -> str:
    r"""``text`` as valid Unicode: bytes that are not UTF-8 become U+FFFD, said on stderr.

    Python hands undecodable bytes of standard input and of arguments on as lone
    surrogates (``surrogateescape``), which no model server, JSON encoder or database
    accepts: kept, they failed every model call and the run's record.

    Args:
        text: The bytes read, or a string that may hold such surrogates.
        source: What the text is, for the warning ("standard input").

    Example:
        >>> utf8_text(b"6 x 7 \xff", "standard input") == "6 x 7 \ufffd"
        True
    """
    if isinstance(text, str):
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            try:
                data = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # surrogates that did not come from bytes
                data = text.encode("utf-8", "surrogatepass")
    else:
        data = text
    decoded = data.decode("utf-8", "replace")
    replaced = decoded.count("\ufffd") - data.count("\ufffd".encode())
    if replaced:
        _say(
            f"warning: {source} is not valid UTF-8: {replaced:,} undecodable "
            f"byte sequence{'s' if replaced != 1 else ''} replaced with U+FFFD"
        )
    return decoded


def read_stdin_request() -> str:
    """The request read from standard input (``run -``), as :func:`utf8_text` makes it."""
    buffer = getattr(sys.stdin, "buffer", None)
    raw: str | bytes = buffer.read() if buffer is not None else sys.stdin.read()
    return utf8_text(raw, "standard input")


def checked_request(task: str, answer_format: str | None) -> tuple[str, str | None]:
    """The request and answer format as valid Unicode (:func:`utf8_text`), the request
    checked before the models and the graph, so a refused request costs nothing.

    Raises:
        CliError: The request is empty or longer than ``bounds.REQUEST_CHARS``.
    """
    task = utf8_text(task, "the request")
    if answer_format is not None:
        answer_format = utf8_text(answer_format, "--answer-format")
    if not task.strip():
        raise CliError("the task is empty; pass it as an argument, or '-' to read it from stdin")
    try:
        check_request(task, hint="save the text in a file, attach it with --file PATH")
    except RequestTooLong as exc:
        raise CliError(str(exc)) from exc
    return task, answer_format


def _say(line: str) -> None:
    """A message on stderr, unwrapped so it stays one copyable line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
