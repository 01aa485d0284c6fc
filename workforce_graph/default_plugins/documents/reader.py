"""Read a file into located chunks: partition with unstructured, then chunk.

The result is cached per file (path, modification time, size), so several subtasks
reading the same attachment parse it once.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workforce_graph.default_plugins.documents._offline import prepare_unstructured
from workforce_graph.default_plugins.documents.filetypes import (
    LABELS,
    SUPPORTED_TYPES,
    DocumentError,
    file_kind,
)

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "SUPPORTED_TYPES",
    "Chunk",
    "DocumentError",
    "ParsedDocument",
    "clear_cache",
    "file_kind",
    "load_document",
]

MAX_FILE_BYTES = 100 * 1024 * 1024
"""Files above this size are refused rather than parsed for minutes."""

_MAX_JSON_LINES = 200_000
_CACHE_SIZE = 16


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to show a model, and where it came from."""

    index: int
    text: str
    location: str
    """Human-readable place in the document, e.g. ``"page 3, section 'Results'"``."""


@dataclass(frozen=True)
class ParsedDocument:
    """A partitioned and chunked file."""

    name: str
    kind: str
    chunks: tuple[Chunk, ...]
    pages: int | None
    """Page (PDF) or slide (PPTX) count, when the format has pages."""
    sheets: tuple[str, ...]
    sections: tuple[str, ...]
    """Titles found in the document, in order (for an overview)."""

    @property
    def chars(self) -> int:
        return sum(len(c.text) for c in self.chunks)

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


_cache: OrderedDict[tuple[str, int, int, int], ParsedDocument] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every parsed document (tests use it to count parses)."""
    with _cache_lock:
        _cache.clear()


def _flatten_json(value: Any, prefix: str = "") -> Iterator[str]:
    # "path = value" lines keep the key next to every value, so a chunk taken out of
    # the middle of a big JSON file still says what its numbers are.
    if isinstance(value, dict):
        if not value:
            yield f"{prefix or '$'} = {{}}"
        for key, item in value.items():
            yield from _flatten_json(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value:
            yield f"{prefix or '$'} = []"
        for i, item in enumerate(value):
            yield from _flatten_json(item, f"{prefix}[{i}]")
    else:
        yield f"{prefix or '$'} = {json.dumps(value, ensure_ascii=False)}"


def _block_elements(blocks: Iterable[tuple[int | None, str]], filename: str) -> list[Element]:
    """Plain ``Text`` elements from (page, text) blocks, one per paragraph.

    Used where unstructured's per-paragraph classification would cost seconds and add
    nothing (PDF text layers, flattened JSON); chunking still treats them as elements.
    """
    from unstructured.documents.elements import ElementMetadata, Text

    elements: list[Element] = []
    for page, text in blocks:
        for para in re.split(r"\n\s*\n", text):
            if para.strip():
                meta = ElementMetadata(filename=filename, page_number=page)
                elements.append(Text(text=para.strip(), metadata=meta))
    return elements


def _json_blocks(data: Any) -> Iterator[tuple[int | None, str]]:
    block: list[str] = []
    size = 0
    for i, line in enumerate(_flatten_json(data)):
        if i >= _MAX_JSON_LINES:
            break
        block.append(line)
        size += len(line) + 1
        if size >= 400:
            yield None, "; ".join(block)
            block, size = [], 0
    if block:
        yield None, "; ".join(block)


def _partition(path: Path, kind: str) -> list[Element]:
    prepare_unstructured()
    filename = str(path)
    # languages=[""] turns off unstructured's language detection (langdetect over the
    # whole text): we never use the result and it costs seconds on long files.
    opts: dict[str, Any] = {"languages": [""]}
    if kind == "pdf":
        from workforce_graph.default_plugins.documents.pdf import (
            PdfPasswordError,
            extract_pdf_pages,
        )

        try:
            pages = extract_pdf_pages(path)
        except PdfPasswordError as exc:
            raise DocumentError(str(exc)) from exc
        return _block_elements(pages, path.name)
    if kind == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DocumentError(f"{path.name}: not valid JSON ({exc})") from exc
        return _block_elements(_json_blocks(data), path.name)
    if kind == "text":
        from unstructured.partition.text import partition_text

        return partition_text(filename=filename, **opts)
    if kind == "markdown":
        from unstructured.partition.md import partition_md

        return partition_md(filename=filename, **opts)
    if kind == "html":
        from unstructured.partition.html import partition_html

        return partition_html(filename=filename, **opts)
    if kind == "csv":
        from unstructured.partition.csv import partition_csv

        return partition_csv(filename=filename, include_header=True, **opts)
    if kind == "tsv":
        from unstructured.partition.tsv import partition_tsv

        return partition_tsv(filename=filename, include_header=True, **opts)
    if kind == "xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return partition_xlsx(filename=filename, include_header=True, **opts)
    if kind == "docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(filename=filename, **opts)
    if kind == "pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(filename=filename, **opts)
    if kind == "email":
        from unstructured.documents.elements import Text
        from unstructured.partition.email import partition_email

        elements = partition_email(filename=filename, **opts)
        if elements:
            meta = elements[0].metadata
            header = [
                f"{label}: {', '.join(v) if isinstance(v, list) else v}"
                for label, v in (
                    ("Subject", meta.subject),
                    ("From", meta.sent_from),
                    ("To", meta.sent_to),
                    ("Date", meta.last_modified),
                )
                if v
            ]
            if header:
                elements.insert(0, Text(text="\n".join(header)))
        return elements
    raise DocumentError(f"{path.name}: no reader for kind {kind!r}")  # pragma: no cover


def _table_rows(element: Element) -> list[str]:
    html = element.metadata.text_as_html
    if not html:
        return [element.text]
    import lxml.html

    root = lxml.html.fromstring(html)
    rows = []
    for tr in root.iter("tr"):
        cells = [" ".join(td.text_content().split()) for td in tr if td.tag in ("td", "th")]
        rows.append(" | ".join(cells))
    return rows or [element.text]


def _is_table(element: Element) -> bool:
    return element.category == "Table"


def _is_title(element: Element) -> bool:
    return element.category == "Title"


def _location(kind: str, elements: Sequence[Element], section: str | None) -> str:
    parts: list[str] = []
    sheet = next((e.metadata.page_name for e in elements if e.metadata.page_name), None)
    pages = sorted({e.metadata.page_number for e in elements if e.metadata.page_number})
    if kind == "xlsx" and sheet:
        parts.append(f"sheet '{sheet}'")
    elif pages:
        word = "slide" if kind == "pptx" else "page"
        parts.append(f"{word} {pages[0]}" if len(pages) == 1 else f"{word}s {pages[0]}-{pages[-1]}")
    if section and kind not in ("csv", "tsv", "xlsx", "json", "email"):
        short = section if len(section) <= 60 else section[:57] + "..."
        parts.append(f"section '{short}'")
    return ", ".join(parts)


def _chunks(kind: str, elements: list[Element], max_chars: int) -> list[tuple[str, str]]:
    """Group elements into (text, location) chunks of at most ``max_chars`` characters."""
    from unstructured.chunking.title import chunk_by_title

    out: list[tuple[str, str]] = []
    section: str | None = None
    run: list[Element] = []

    def flush_text_run() -> None:
        nonlocal section
        if not run:
            return
        for chunk in chunk_by_title(
            run,
            max_characters=max_chars,
            new_after_n_chars=max(1, int(max_chars * 0.8)),
            # No combining of small sections: a chunk then never spans two pages,
            # slides or headings, so its location is exact.
            combine_text_under_n_chars=0,
            multipage_sections=False,
        ):
            orig = chunk.metadata.orig_elements or [chunk]
            start_section = orig[0].text if _is_title(orig[0]) else section
            titles = [e.text for e in orig if _is_title(e)]
            if titles:
                section = titles[-1]
            if chunk.text.strip():
                out.append((chunk.text, _location(kind, orig, start_section)))
        run.clear()

    for element in elements:
        if not _is_table(element):
            run.append(element)
            continue
        flush_text_run()
        rows = _table_rows(element)
        # The first row is almost always the header: repeat it in every piece so a
        # chunk from row 900 still says what its columns are.
        header, body = rows[0], rows[1:]
        piece: list[str] = [header]
        size = len(header)
        location = _location(kind, [element], section)
        for row in body:
            if len(piece) > 1 and size + len(row) + 1 > max_chars:
                out.append(("\n".join(piece), location))
                piece, size = [header], len(header)
            piece.append(row[:max_chars])
            size += len(piece[-1]) + 1
        out.append(("\n".join(piece), location))
    flush_text_run()
    return out


def _page_count(kind: str, elements: Sequence[Element]) -> int | None:
    if kind not in ("pdf", "pptx"):
        return None
    pages = [e.metadata.page_number for e in elements if e.metadata.page_number]
    return max(pages) if pages else None


def _parse(path: Path, kind: str, chunk_chars: int) -> ParsedDocument:
    try:
        elements = _partition(path, kind)
    except DocumentError:
        raise
    except Exception as exc:  # every parser raises its own types; all mean "unreadable"
        # Parser messages often quote the full path; the user knows the file by name.
        message = str(exc).replace(str(path), path.name).strip()
        detail = message.splitlines()[0][:200] if message else ""
        raise DocumentError(
            f"{path.name}: could not read the file as {LABELS[kind]}; it may be corrupt "
            f"or of another type ({type(exc).__name__}" + (f": {detail})" if detail else ")")
        ) from exc
    pieces = _chunks(kind, elements, chunk_chars)
    if not pieces:
        hint = " (it may be a scanned PDF: OCR is not supported)" if kind == "pdf" else ""
        raise DocumentError(f"{path.name}: no text could be extracted{hint}")
    sheets: list[str] = []
    for e in elements:
        if e.metadata.page_name and e.metadata.page_name not in sheets:
            sheets.append(e.metadata.page_name)
    return ParsedDocument(
        name=path.name,
        kind=kind,
        chunks=tuple(Chunk(i, text, loc) for i, (text, loc) in enumerate(pieces)),
        pages=_page_count(kind, elements),
        sheets=tuple(sheets),
        sections=tuple(e.text for e in elements if _is_title(e) and e.text.strip()),
    )


def load_document(path: str | Path, *, chunk_chars: int = 1500) -> ParsedDocument:
    """Partition and chunk a file, reusing an earlier parse of the same file version.

    Args:
        path: The file to read.
        chunk_chars: Maximum characters per chunk.

    Returns:
        The parsed document.

    Raises:
        DocumentError: The file is missing, empty, too big, of an unsupported type or
            unreadable; the reason names the file and the cause.

    Example:
        >>> doc = load_document("notes.txt")  # doctest: +SKIP
        >>> doc.chunks[0].location  # doctest: +SKIP
        ''
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DocumentError(f"{p.name}: file not found") from None
    except OSError as exc:
        raise DocumentError(f"{p.name}: cannot access the file ({exc.strerror})") from None
    if not p.is_file():
        raise DocumentError(f"{p.name}: not a regular file")
    kind = file_kind(p)
    if st.st_size == 0:
        raise DocumentError(f"{p.name}: the file is empty")
    if st.st_size > MAX_FILE_BYTES:
        raise DocumentError(
            f"{p.name}: file too large ({st.st_size // (1024 * 1024)} MiB; "
            f"limit {MAX_FILE_BYTES // (1024 * 1024)} MiB)"
        )
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, chunk_chars)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    # Parse outside the lock: two threads may parse the same new file once each,
    # which is cheaper than serialising every parse.
    doc = _parse(p, kind, chunk_chars)
    with _cache_lock:
        _cache[key] = doc
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return doc
