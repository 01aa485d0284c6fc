"""Whether any available worker can read the files attached to a request.

A worker reads attached files when its declaration says so
(``WorkerSpec(reads_attachments=True)``, as the finance plugin's price tools do), or
when it offers a file-reading capability tag (``file_reading``, ``document_reading``:
the built-in ``documents`` worker, from the ``documents`` extra). Without such a worker,
an attached file is silently ignored unless someone says so: the CLI warns before the
run, and when the request refers to the file (names it, or speaks of an attachment, a
file or a document) the answer is marked incomplete with this reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from workforce_graph.plugins import WorkerRegistry
from workforce_graph.workers import WorkerSpec

__all__ = [
    "ATTACHMENTS_ID",
    "FILE_CAPABILITIES",
    "UnreadableAttachment",
    "attachment_path",
    "reads_attachments",
    "refers_to_attachments",
    "unreadable_attachments",
]

FILE_CAPABILITIES = frozenset({"file_reading", "document_reading"})
"""Capability tags that mean the worker reads attached files, like ``reads_attachments``."""
ATTACHMENTS_ID = "attachments"
"""The ``failed`` entry's id when attached files could not be read."""


class UnreadableAttachment(ValueError):
    """A file given as an attachment cannot be read; the message says why."""


def attachment_path(path: Path) -> str:
    """The absolute path of an attached file, checked to be a file that can be read.

    Raises:
        UnreadableAttachment: ``is a directory, not a file`` or ``cannot read it (...)``.
    """
    try:
        if path.is_dir():
            raise UnreadableAttachment("is a directory, not a file")
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UnreadableAttachment(f"cannot read it ({exc.strerror or exc})") from exc
    return str(path.resolve())


def unreadable_attachments(registry: WorkerRegistry, attachments: Sequence[str]) -> str | None:
    """Why no worker can read ``attachments`` (``None`` when one can, or there are none).

    Example:
        >>> unreadable_attachments(WorkerRegistry(), ["report.pdf"])[:55]
        'no available worker reads attached files (report.pdf): '"
    """
    if not attachments:
        return None
    if any(reads_attachments(w) for w in registry.available.values()):
        return None
    names = ", ".join(Path(a).name for a in attachments)
    why = [
        f"the {w.name} worker is unavailable: {w.unavailable_reason}"
        for w in registry.workers.values()
        if not w.available and reads_attachments(w)
    ]
    hint = "; ".join(why) or (
        "install the documents extra (pip install 'workforce-graph[documents]')"
    )
    return f"no available worker reads attached files ({names}): {hint}"


def reads_attachments(spec: WorkerSpec) -> bool:
    """Whether ``spec`` declares that it reads the files attached to a request."""
    return spec.reads_attachments or bool(FILE_CAPABILITIES & set(spec.capabilities))


_FILE_WORDS = re.compile(r"\b(attach\w*|files?|documents?|pdfs?|spreadsheets?|sheets?)\b", re.I)


def refers_to_attachments(request: str, attachments: Sequence[str]) -> bool:
    """Whether ``request`` depends on its attached files: it names one (with or without
    its extension) or speaks of an attachment, a file or a document."""
    text = request.lower()
    for attachment in attachments:
        path = Path(attachment)
        if path.name.lower() in text or (len(path.stem) > 2 and path.stem.lower() in text):
            return True
    return bool(attachments) and _FILE_WORDS.search(request) is not None
