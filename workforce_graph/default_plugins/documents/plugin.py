"""The ``documents`` worker: reads the files attached to the request.

Files are partitioned with unstructured, chunked, and ranked against what the model
is looking for (BM25); only the best chunks that fit a character budget reach the
model, with their location (page, slide, sheet, section), so a 200-page file costs
the same context as a short one. The parse is cached per file version, so several
subtasks reading the same attachment parse it once.

A missing, empty, corrupt or unsupported attachment ends the subtask as failed with a
reason naming the file; a wrong file name is sent back to the model with the list of
attachments so it can correct itself.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

from workforce_graph.default_plugins.documents import (
    SUPPORTED_TYPES,
    DocumentError,
    ParsedDocument,
    load_document,
    select_within_budget,
)
from workforce_graph.hookspecs import hookimpl
from workforce_graph.workers import SubtaskFailed, WorkerSpec, get_subtask_context

__all__ = [
    "DEFAULT_CHUNK_CHARS",
    "DEFAULT_CONTEXT_CHARS",
    "SYSTEM_PROMPT",
    "build_documents_worker",
    "make_document_tools",
    "register_workers",
]

DEFAULT_CONTEXT_CHARS = 8000
"""Characters of document text one ``read_document`` call may return."""
DEFAULT_CHUNK_CHARS = 1500
"""Maximum characters per chunk."""

SYSTEM_PROMPT = """You answer the subtask from the files attached to the request. \
Call list_attachments to see them, document_overview for a file's structure, and \
read_document with a focused query (names, numbers, key terms of what you need) to get \
the most relevant passages; query again with other terms if the first passages do not \
answer. Only the passages you are shown are known to you: do not guess the rest. State \
the answer plainly and say where it comes from (file and page, slide, sheet or section). \
If the files do not contain the answer, say so; if a file cannot be read, reply with one \
line starting with "FAILED:" and the reason."""


def _supported() -> str:
    return ", ".join(sorted({e.lstrip(".") for e in SUPPORTED_TYPES}))


def _attachments() -> list[Path]:
    try:
        paths = get_subtask_context().get("attachments") or []
    except RuntimeError:
        paths = []
    return [Path(p) for p in paths]


def _resolve(name: str) -> Path:
    files = _attachments()
    if not files:
        raise SubtaskFailed("no files were attached to the request")
    wanted = name.strip()
    for match in (
        lambda p: str(p) == wanted,
        lambda p: p.name == wanted,
        lambda p: p.name.lower() == wanted.lower(),
        lambda p: p.stem.lower() == wanted.lower(),
    ):
        found = [p for p in files if match(p)]
        if len(found) == 1:
            return found[0]
    # The model can fix a wrong name, so this goes back to it rather than failing.
    raise ToolException(
        f"no attachment named {name!r}; attachments: {', '.join(p.name for p in files)}"
    )


def _load(path: Path, chunk_chars: int) -> ParsedDocument:
    try:
        return load_document(path, chunk_chars=chunk_chars)
    except DocumentError as exc:
        raise SubtaskFailed(exc.reason) from exc


def _describe(doc: ParsedDocument) -> str:
    parts = [doc.label]
    if doc.pages:
        parts.append(f"{doc.pages} {'slides' if doc.kind == 'pptx' else 'pages'}")
    if doc.sheets:
        parts.append(f"sheets: {', '.join(doc.sheets)}")
    parts.append(f"{len(doc.chunks)} chunks, {doc.chars:,} characters")
    return ", ".join(parts)


class _ListInput(BaseModel):
    pass


class _OverviewInput(BaseModel):
    name: str = Field(description="File name of the attachment, as list_attachments shows it.")


class _ReadInput(BaseModel):
    name: str = Field(description="File name of the attachment, as list_attachments shows it.")
    query: str = Field(
        default="",
        description="What you are looking for: key terms, names, numbers. Empty: the "
        "subtask description is used.",
    )


def make_document_tools(
    *,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
) -> tuple[BaseTool, ...]:
    """The document worker's tools: list_attachments, document_overview, read_document.

    Args:
        context_chars: Most characters of document text one ``read_document`` returns.
        chunk_chars: Maximum characters per chunk (at most ``context_chars``).

    Returns:
        The three tools.

    Example:
        >>> tools = make_document_tools(context_chars=4000)
        >>> [t.name for t in tools]
        ['list_attachments', 'document_overview', 'read_document']
    """
    if context_chars < 200:
        raise ValueError("context_chars must be at least 200")
    chunk_chars = max(100, min(chunk_chars, context_chars))

    def list_attachments() -> str:
        files = _attachments()
        if not files:
            return "No files were attached to the request."
        lines = []
        for p in files:
            try:
                size = f"{p.stat().st_size:,} bytes"
            except OSError:
                size = "missing"
            ok = p.suffix.lower() in SUPPORTED_TYPES or not p.suffix
            note = "" if ok else f" (unsupported type {p.suffix}; supported: {_supported()})"
            lines.append(f"- {p.name} ({size}){note}")
        return "Attached files:\n" + "\n".join(lines)

    def document_overview(name: str) -> str:
        doc = _load(_resolve(name), chunk_chars)
        lines = [f"{doc.name}: {_describe(doc)}"]
        if doc.sections:
            shown = doc.sections[:40]
            more = f" (+{len(doc.sections) - len(shown)} more)" if len(doc.sections) > 40 else ""
            lines.append("Headings: " + "; ".join(s[:80] for s in shown) + more)
        first = doc.chunks[0]
        preview = first.text[: min(1500, context_chars)]
        lines.append(f"Beginning [{first.location or 'start'}]:\n{preview}")
        return "\n".join(lines)

    def read_document(name: str, query: str = "") -> str:
        doc = _load(_resolve(name), chunk_chars)
        if not query.strip():
            try:
                query = get_subtask_context().get("description", "")
            except RuntimeError:
                query = ""
        texts = [c.text for c in doc.chunks]
        chosen = select_within_budget(texts, query, budget_chars=context_chars)
        header = (
            f"{doc.name} ({_describe(doc)}): {len(chosen)} most relevant "
            f"chunk(s) for {query[:200]!r}, best first."
        )
        body = []
        for i in chosen:
            chunk = doc.chunks[i]
            where = f", {chunk.location}" if chunk.location else ""
            body.append(f"[{doc.name}{where}, chunk {i + 1}/{len(doc.chunks)}]\n{chunk.text}")
        if not body:
            return header + "\nNothing fits the budget; ask a narrower question."
        return header + "\n\n" + "\n\n".join(body)

    return (
        StructuredTool.from_function(
            list_attachments,
            name="list_attachments",
            description="List the files attached to the request, with sizes.",
            args_schema=_ListInput,
        ),
        StructuredTool.from_function(
            document_overview,
            name="document_overview",
            description="Type, pages/slides/sheets, headings and the beginning of an "
            "attached file.",
            args_schema=_OverviewInput,
        ),
        StructuredTool.from_function(
            read_document,
            name="read_document",
            description="Return the passages of an attached file most relevant to a "
            "query, each with its location (page, slide, sheet, section). Reads txt, md, "
            "html, csv, tsv, xlsx, docx, pptx, json, eml and text PDFs.",
            args_schema=_ReadInput,
        ),
    )


def build_documents_worker(
    *,
    context_chars: int = DEFAULT_CONTEXT_CHARS,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
) -> WorkerSpec:
    """The ``documents`` worker declaration.

    Args:
        context_chars: Most characters of document text one ``read_document`` returns.
        chunk_chars: Maximum characters per chunk.

    Returns:
        A :class:`WorkerSpec`, unavailable when unstructured is not installed.

    Example:
        >>> build_documents_worker().name
        'documents'
    """
    # find_spec, not import: importing unstructured costs a second and must wait for
    # prepare_unstructured() (analytics opt-out) anyway.
    unavailable = (
        None
        if importlib.util.find_spec("unstructured") is not None
        else "unstructured is not installed (pip install 'workforce-graph[documents]')"
    )
    return WorkerSpec(
        name="documents",
        description="Reads the files attached to the request (text, Markdown, HTML, "
        "CSV/TSV, Excel, Word, PowerPoint, JSON, email, PDF) and answers from their "
        "relevant passages, citing file and page, slide, sheet or section.",
        capabilities=(
            "document_reading",
            "file_reading",
            "spreadsheets",
            "pdf",
            "presentations",
            "email",
        ),
        tools=make_document_tools(context_chars=context_chars, chunk_chars=chunk_chars),
        system_prompt=SYSTEM_PROMPT,
        limitations=(
            "only reads files attached to the request; cannot fetch URLs",
            "no OCR: scanned PDFs and images give no text",
            "legacy .doc/.xls/.ppt, encrypted PDFs and email attachments are not read",
            f"sees at most about {context_chars:,} characters of a file per read",
            "sees the most relevant rows of a large spreadsheet, not all of them: totals "
            "over thousands of rows may be incomplete",
        ),
        examples=(
            "Find the contract's termination notice period in the attached PDF",
            "What were Q3 sales for the north region in the attached sales.xlsx?",
            "Summarise the decisions recorded in the attached meeting notes",
        ),
        unavailable_reason=unavailable,
    )


@hookimpl
def register_workers(register: Callable[[WorkerSpec], None]) -> None:
    register(build_documents_worker())
