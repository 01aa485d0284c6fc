"""Which files the document worker reads: kinds by extension, or by content sniffing."""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["LABELS", "SUPPORTED_TYPES", "DocumentError", "file_kind", "supported_list"]

SUPPORTED_TYPES: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".tsv": "tsv",
    ".xlsx": "xlsx",
    ".docx": "docx",
    ".pptx": "pptx",
    ".json": "json",
    ".eml": "email",
    ".pdf": "pdf",
}
"""File extensions the document worker reads, mapped to the kind of reader used."""

LABELS = {
    "text": "plain text",
    "markdown": "Markdown",
    "html": "HTML",
    "csv": "CSV",
    "tsv": "TSV",
    "xlsx": "an Excel workbook (.xlsx)",
    "docx": "a Word document (.docx)",
    "pptx": "a PowerPoint deck (.pptx)",
    "json": "JSON",
    "email": "an email (.eml)",
    "pdf": "a PDF",
}


class DocumentError(Exception):
    """A file that cannot be read, with a reason meant for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def supported_list() -> str:
    return ", ".join(sorted({ext.lstrip(".") for ext in SUPPORTED_TYPES}))


def _sniff(path: Path) -> str | None:
    """Guess the kind of a file with no extension from its first bytes."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return None
        for prefix, kind in (("word/", "docx"), ("ppt/", "pptx"), ("xl/", "xlsx")):
            if any(n.startswith(prefix) for n in names):
                return kind
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return "json"
    if stripped[:1] == "<" and "<html" in text.lower():
        return "html"
    return "text"


def file_kind(path: str | Path) -> str:
    """The reader kind for a file, from its extension (or its content when it has none).

    Args:
        path: The file.

    Returns:
        One of the values of :data:`SUPPORTED_TYPES`.

    Raises:
        DocumentError: The type is not supported.

    Example:
        >>> file_kind("report.PDF")
        'pdf'
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext in SUPPORTED_TYPES:
        return SUPPORTED_TYPES[ext]
    if not ext and p.is_file():
        kind = _sniff(p)
        if kind:
            return kind
    shown = ext or "(no extension, content not recognised)"
    raise DocumentError(f"{p.name}: unsupported file type {shown} (supported: {supported_list()})")
