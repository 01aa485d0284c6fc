"""The document worker: files the tests generate, read offline through unstructured."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException

from workforce_graph.default_plugins.documents import (
    BM25,
    DocumentError,
    clear_cache,
    load_document,
    select_within_budget,
    split_passages,
    tokenize,
)
from workforce_graph.default_plugins.documents import plugin as documents
from workforce_graph.default_plugins.documents.plugin import (
    build_documents_worker,
    make_document_tools,
)
from workforce_graph.testing import ScriptedChatModel
from workforce_graph.worker_runtime import run_worker
from workforce_graph.workers import SubtaskContext, SubtaskFailed, WorkerSpec, _current_subtask

# -- file makers -------------------------------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, one page per list."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        ops = " ".join(f"({esc(line)}) '" for line in lines)
        stream = f"BT /F1 11 Tf 72 720 Td 14 TL {ops} ET".encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
            f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def write_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Quarterly Report", 1)
    d.add_paragraph("Revenue grew by 12 percent in the third quarter.")
    d.add_heading("Risks", 1)
    d.add_paragraph("The main risk is the supplier in Lisbon closing its plant.")
    d.save(str(path))


def write_pptx(path: Path) -> None:
    import pptx

    p = pptx.Presentation()
    for title, body in [
        ("Agenda", "Welcome and introductions"),
        ("Roadmap", "Launch the falcon project in May"),
    ]:
        slide = p.slides.add_slide(p.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    p.save(str(path))


def write_xlsx(path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales"
    ws.append(["region", "units"])
    ws.append(["north", 42])
    ws.append(["south", 17])
    costs = wb.create_sheet("Costs")
    costs.append(["item", "eur"])
    costs.append(["rent", 900])
    wb.save(str(path))


def write_eml(path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "ana@example.org"
    msg["To"] = "bo@example.org"
    msg["Subject"] = "Offsite planning"
    msg.set_content("Let us meet on Tuesday at 10 in the Harbour room.")
    path.write_bytes(bytes(msg))


# name -> (writer, query, expected text, expected location fragment)
FORMATS: dict[str, tuple[Any, str, str, str]] = {
    "notes.txt": (
        lambda p: p.write_text("Shopping list.\n\nThe secret code is 7781.\n\nBuy milk.\n"),
        "secret code",
        "7781",
        "",
    ),
    "guide.md": (
        lambda p: p.write_text("# Guide\n\nIntro text.\n\n## Llamas\n\nLlamas eat grass daily.\n"),
        "what do llamas eat",
        "Llamas eat grass",
        "section 'Llamas'",
    ),
    "page.html": (
        lambda p: p.write_text(
            "<html><body><h1>Capitals</h1><p>The capital of France is Paris.</p></body></html>"
        ),
        "capital of France",
        "Paris",
        "section 'Capitals'",
    ),
    "people.csv": (
        lambda p: p.write_text("name,age\nalice,30\nbob,25\n"),
        "bob age",
        "bob | 25",
        "",
    ),
    "people.tsv": (
        lambda p: p.write_text("name\tcity\nalice\tOslo\nbob\tLima\n"),
        "bob city",
        "bob | Lima",
        "",
    ),
    "sales.xlsx": (write_xlsx, "rent eur costs", "rent | 900", "sheet 'Costs'"),
    "report.docx": (write_docx, "main risk supplier", "Lisbon", "section 'Risks'"),
    "deck.pptx": (write_pptx, "falcon project launch", "falcon project in May", "slide 2"),
    "users.json": (
        lambda p: p.write_text(json.dumps({"users": [{"name": "alice", "role": "admin"}]})),
        "alice role",
        'users[0].role = "admin"',
        "",
    ),
    "invite.eml": (write_eml, "when do we meet", "Tuesday at 10", ""),
    "paper.pdf": (
        lambda p: p.write_bytes(
            make_pdf([["Cats sleep a lot."], ["The budget deficit was 3 percent."]])
        ),
        "budget deficit",
        "deficit was 3 percent",
        "page",
    ),
}


def context(*paths: Path, description: str = "Answer from the files") -> SubtaskContext:
    return SubtaskContext(
        request="Read the attached files",
        subtask_id="s1",
        description=description,
        capabilities=["document_reading"],
        dependency_results={},
        attachments=[str(p) for p in paths],
    )


@pytest.fixture
def in_subtask() -> Iterator[Any]:
    """Call tools as if inside a worker run with the given attachments."""
    tokens: list[Any] = []

    def enter(*paths: Path, description: str = "Answer from the files") -> None:
        tokens.append(_current_subtask.set(context(*paths, description=description)))

    yield enter
    for token in reversed(tokens):
        _current_subtask.reset(token)


def tools(**kwargs: Any) -> dict[str, BaseTool]:
    return {t.name: t for t in make_document_tools(**kwargs)}


# -- every format ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_read_and_the_relevant_part_found(
    name: str, tmp_path: Path, in_subtask: Any
) -> None:
    writer, query, expected, where = FORMATS[name]
    path = tmp_path / name
    writer(path)
    in_subtask(path)
    text = tools()["read_document"].invoke({"name": name, "query": query})
    assert expected in text
    first_source = next(line for line in text.splitlines() if line.startswith(f"[{name}"))
    assert where in first_source
    assert str(tmp_path) not in text  # the model sees file names, never local paths


def test_reading_needs_no_network(
    tmp_path: Path, in_subtask: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # unstructured pings analytics on import and downloads a spaCy model on first use;
    # both must stay off.
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    path = tmp_path / "story.txt"
    path.write_text("Once upon a time.\n\nThe dragon was sleeping under the old bridge.\n")
    in_subtask(path)
    text = tools()["read_document"].invoke({"name": "story.txt", "query": "dragon"})
    assert "old bridge" in text
    assert os.environ.get("SCARF_NO_ANALYTICS")


# -- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "data.xyz",
            b"\x00\x01binary",
            r"data\.xyz: unsupported file type \.xyz \(supported: .*pdf",
        ),
        (
            "broken.docx",
            b"PK\x03\x04 not a zip",
            r"broken\.docx: could not read the file as a Word",
        ),
        ("broken.pdf", b"%PDF-1.4 garbage", r"broken\.pdf: could not read the file as a PDF"),
        ("broken.xlsx", b"not a workbook", r"broken\.xlsx: could not read the file as an Excel"),
        ("broken.json", b"{oops", r"broken\.json: not valid JSON"),
        ("empty.txt", b"", r"empty\.txt: the file is empty"),
        ("blank.pdf", make_pdf([[]]), r"blank\.pdf: no text could be extracted .*scanned PDF"),
    ],
)
def test_unreadable_files_fail_the_subtask_with_a_clear_reason(
    name: str, content: bytes, reason: str, tmp_path: Path, in_subtask: Any
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    in_subtask(path)
    with pytest.raises(SubtaskFailed, match=reason) as info:
        tools()["read_document"].invoke({"name": name, "query": "anything"})
    assert str(tmp_path) not in info.value.reason


def test_password_protected_pdf(tmp_path: Path, in_subtask: Any) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_pdf([["Top secret numbers."]]))
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password="hunter2", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as fh:
        writer.write(fh)
    in_subtask(locked)
    with pytest.raises(SubtaskFailed, match=r"locked\.pdf: the PDF is password-protected"):
        tools()["read_document"].invoke({"name": "locked.pdf"})


def test_missing_attachment_file(tmp_path: Path, in_subtask: Any) -> None:
    in_subtask(tmp_path / "gone.txt")
    with pytest.raises(SubtaskFailed, match=r"gone\.txt: file not found"):
        tools()["read_document"].invoke({"name": "gone.txt"})


def test_no_attachments(in_subtask: Any) -> None:
    in_subtask()
    t = tools()
    assert "No files were attached" in t["list_attachments"].invoke({})
    with pytest.raises(SubtaskFailed, match="no files were attached"):
        t["read_document"].invoke({"name": "x.txt"})


def test_wrong_name_goes_back_to_the_model_with_the_choices(
    tmp_path: Path, in_subtask: Any
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    in_subtask(path)
    with pytest.raises(
        ToolException, match=re.escape("no attachment named 'report.pdf'; attachments: notes.txt")
    ):
        tools()["read_document"].invoke({"name": "report.pdf"})
    # Case and a missing extension are forgiven.
    assert "hello" in tools()["read_document"].invoke({"name": "NOTES"})


# -- large files stay within the budget ----------------------------------------------------


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pages = []
    for p in range(1, 201):
        lines = [f"Chapter {p}"] + [
            f"Line {j} of page {p} records ordinary operations and routine matters."
            for j in range(25)
        ]
        if p == 137:
            lines[12] = "The launch code for project Nightingale is 4417-ALPHA."
        pages.append(lines)
    path = tmp_path_factory.mktemp("big") / "manual.pdf"
    path.write_bytes(make_pdf(pages))
    return path


def test_a_200_page_pdf_sends_only_relevant_chunks_within_the_budget(
    big_pdf: Path, in_subtask: Any
) -> None:
    in_subtask(big_pdf)
    budget = 3000
    text = tools(context_chars=budget)["read_document"].invoke(
        {"name": "manual.pdf", "query": "launch code for project Nightingale"}
    )
    doc = load_document(big_pdf, chunk_chars=1500)
    assert doc.pages == 200
    assert doc.chars > 100 * budget  # the whole file would not fit any context
    assert "4417-ALPHA" in text
    first_source = next(line for line in text.splitlines() if line.startswith("[manual.pdf"))
    assert "page 137" in first_source
    shown = sum(len(c.text) for c in doc.chunks if c.text in text)
    assert shown <= budget
    assert len(text) < budget + 1000  # plus headers


def test_empty_query_uses_the_subtask_description(big_pdf: Path, in_subtask: Any) -> None:
    in_subtask(big_pdf, description="Find the Nightingale launch code")
    text = tools(context_chars=2000)["read_document"].invoke({"name": "manual.pdf"})
    assert "4417-ALPHA" in text


def test_overview_lists_structure(tmp_path: Path, in_subtask: Any) -> None:
    xlsx, docx_path = tmp_path / "sales.xlsx", tmp_path / "report.docx"
    write_xlsx(xlsx)
    write_docx(docx_path)
    in_subtask(xlsx, docx_path)
    t = tools()
    listing = t["list_attachments"].invoke({})
    assert "- sales.xlsx (" in listing and "- report.docx (" in listing
    assert "sheets: Sales, Costs" in t["document_overview"].invoke({"name": "sales.xlsx"})
    overview = t["document_overview"].invoke({"name": "report.docx"})
    assert "Headings: Quarterly Report; Risks" in overview


def test_large_tables_repeat_their_header_in_every_chunk(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ledger"
    ws.append(["id", "customer", "amount"])
    for i in range(400):
        ws.append([i, f"customer{i}", i * 3])
    path = tmp_path / "ledger.xlsx"
    wb.save(str(path))
    doc = load_document(path, chunk_chars=500)
    assert len(doc.chunks) > 5
    assert all(c.text.startswith("id | customer | amount") for c in doc.chunks)
    assert all(len(c.text) <= 500 for c in doc.chunks)
    assert all(c.location == "sheet 'Ledger'" for c in doc.chunks)


# -- caching -------------------------------------------------------------------------------


def test_parsed_documents_are_cached_per_file_version(tmp_path: Path) -> None:
    clear_cache()
    path = tmp_path / "a.txt"
    path.write_text("First version about apples.")
    first = load_document(path)
    assert load_document(path) is first
    path.write_text("Second version about pears, a little longer.")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    second = load_document(path)
    assert second is not first
    assert "pears" in second.chunks[0].text


def test_unsupported_type_error_names_supported_types(tmp_path: Path) -> None:
    path = tmp_path / "movie.mp4"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(DocumentError, match=r"movie\.mp4: unsupported file type \.mp4"):
        load_document(path)


def test_file_without_extension_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("Plain words about owls.\n")
    assert "owls" in load_document(path).chunks[0].text


# -- ranking -------------------------------------------------------------------------------


def test_bm25_prefers_rare_query_terms() -> None:
    passages = ["the cat sat", "the budget deficit grew", "cats and dogs", "budget meeting"]
    scores = BM25(passages).scores("budget deficit")
    assert max(range(4), key=scores.__getitem__) == 1
    assert scores[0] == 0.0


def test_selection_respects_budget_and_falls_back_to_the_start() -> None:
    passages = ["a" * 100, "alpha beta", "beta " * 30, "gamma"]
    assert select_within_budget(passages, "beta", budget_chars=50) == [1]
    assert select_within_budget(passages, "zzz", budget_chars=120) == [0, 1, 3]
    assert select_within_budget(passages, "beta", budget_chars=0) == []


def test_tokenize_and_split() -> None:
    assert tokenize("Revenues are growing") == ["revenue", "grow"]
    parts = split_passages("word " * 100, 60)
    assert all(len(p) <= 60 for p in parts) and len(parts) > 5


# -- worker declaration and runtime ---------------------------------------------------------


def test_worker_declares_capabilities_and_limitations() -> None:
    registered: list[WorkerSpec] = []
    documents.register_workers(registered.append)
    (spec,) = registered
    assert spec.name == "documents" and spec.available
    assert {"document_reading", "spreadsheets"} <= set(spec.capabilities)
    card = spec.card()
    assert [t["name"] for t in card["tools"]] == [
        "list_attachments",
        "document_overview",
        "read_document",
    ]
    assert any("OCR" in item for item in card["limitations"])
    assert card["examples"]


async def test_worker_run_reads_the_attachment(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    write_docx(path)

    def worker(messages: list[Any]) -> AIMessage | str:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            return AIMessage(
                "",
                tool_calls=[
                    {
                        "name": "read_document",
                        "args": {"name": "report.docx", "query": "main risk"},
                        "id": "c1",
                    }
                ],
            )
        assert "Lisbon" in str(results[-1].content)
        return "The main risk is the Lisbon supplier (report.docx, section 'Risks')."

    model = ScriptedChatModel(responders={"worker": worker})
    result = await run_worker(build_documents_worker(), model, context(path))
    assert result["status"] == "done", result
    assert "Lisbon" in result["result"]


async def test_worker_run_fails_with_reason_on_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pptx"
    path.write_bytes(b"garbage")
    model = ScriptedChatModel(
        responders={
            "worker": lambda m: AIMessage(
                "",
                tool_calls=[{"name": "read_document", "args": {"name": "broken.pptx"}, "id": "c1"}],
            )
        }
    )
    result = await run_worker(build_documents_worker(), model, context(path))
    assert result["status"] == "failed"
    assert result["reason"] is not None
    assert "broken.pptx: could not read the file as a PowerPoint deck" in result["reason"]
