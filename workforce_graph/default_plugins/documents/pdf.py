"""PDF text extraction without unstructured's ``[pdf]`` extra.

``unstructured.partition.pdf`` refuses to load unless ``unstructured[pdf]`` is
installed, which pulls in torch, onnxruntime, opencv and a layout model (gigabytes)
even for the text-only "fast" strategy. A PDF with a text layer only needs its text,
so this module extracts it page by page with ``pypdf`` (already a dependency of
unstructured); the reader turns each page into unstructured elements that keep the
page number and chunks them like any other document. Scanned PDFs (no text layer)
are not OCR'd.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PdfPasswordError", "extract_pdf_pages"]


class PdfPasswordError(Exception):
    """The PDF needs a password to open."""


def extract_pdf_pages(path: Path) -> list[tuple[int, str]]:
    """The text layer of each page of a PDF.

    Args:
        path: The PDF file.

    Returns:
        ``(page_number, text)`` for every page with text; page numbers are 1-based.

    Raises:
        PdfPasswordError: The PDF is encrypted with a password.
        pypdf.errors.PdfReadError: The file is not a readable PDF.

    Example:
        >>> extract_pdf_pages(Path("report.pdf"))[0]  # doctest: +SKIP
        (1, 'Annual report ...')
    """
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        # Many PDFs are "encrypted" with an empty user password (only editing is
        # restricted); those open fine. Anything else needs a password we do not have.
        try:
            opened = bool(reader.decrypt(""))
        except Exception:  # pypdf raises several types for unsupported ciphers
            opened = False
        if not opened:
            raise PdfPasswordError(f"{path.name}: the PDF is password-protected")
    pages: list[tuple[int, str]] = []
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        if text.strip():
            pages.append((number, text))
    return pages
