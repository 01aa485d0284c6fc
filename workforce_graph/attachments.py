"""Whether any available worker can read the files attached to a request.

Files are read by workers that offer a file-reading capability (the built-in
``documents`` worker, from the ``documents`` extra). Without one, an attached file is
silently ignored unless someone says so: the CLI warns before the run, and when the
request refers to the file (names it, or speaks of an attachment, a file or a
document) the answer is marked incomplete with this reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from workforce_graph.plugins import WorkerRegistry

__all__ = [
    "ATTACHMENTS_ID",
    "FILE_CAPABILITIES",
    "refers_to_attachments",
    "unreadable_attachments",
]

FILE_CAPABILITIES = frozenset({"file_reading", "document_reading"})
ATTACHMENTS_ID = "attachments"
"""The ``failed`` entry's id when attached files could not be read."""


def unreadable_attachments(registry: WorkerRegistry, attachments: Sequence[str]) -> str | None:
    """Why no worker can read ``attachments`` (``None`` when one can, or there are none).

    Example:
        >>> unreadable_attachments(WorkerRegistry(), ["report.pdf"])[:55]
        'no available worker reads attached files (report.pdf): '"
    """
    if not attachments:
        return None
    if any(FILE_CAPABILITIES & set(w.capabilities) for w in registry.available.values()):
        return None
    names = ", ".join(Path(a).name for a in attachments)
    why = [
        f"the {w.name} worker is unavailable: {w.unavailable_reason}"
        for w in registry.workers.values()
        if not w.available and FILE_CAPABILITIES & set(w.capabilities)
    ]
    hint = "; ".join(why) or (
        "install the documents extra (pip install 'workforce-graph[documents]')"
    )
    return f"no available worker reads attached files ({names}): {hint}"


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
