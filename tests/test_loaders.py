"""Tests of doc2lora_rag.loaders and doc2lora_rag.documents (files are built in tmp_path)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from doc2lora_rag.documents import Document
from doc2lora_rag.errors import InputError, LoaderError, MissingDependencyError
from doc2lora_rag.loaders import load_file, load_paths

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """Write a minimal valid PDF: one page per item, each a list of text lines (empty list: blank page)."""

    def escape(line: str) -> bytes:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")

    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for i, lines in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        stream = b""
        if lines:
            body = b" T* ".join(b"(" + escape(line) + b") Tj" for line in lines)
            stream = b"BT /F1 12 Tf 14 TL 72 720 Td " + body + b" ET"
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
        ).encode()
        objects[content_id] = f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for number in sorted(objects):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


# ----------------------------------------------------------------------------- Document


def test_document_copies_metadata_and_validates() -> None:
    meta = {"source": "a.txt"}
    doc = Document("hello", meta)
    doc.metadata["page"] = 1
    assert meta == {"source": "a.txt"}
    assert Document("x").metadata == {} and Document("x").id is None
    with pytest.raises(InputError, match="bytes"):
        Document(b"raw")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mapping"):
        Document("x", metadata=["a"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="id"):
        Document("x", id="")


def test_document_dict_round_trip() -> None:
    doc = Document("text", {"k": 1}, id="d1")
    assert Document.from_dict(doc.to_dict()) == doc
    with pytest.raises(InputError, match="unknown keys"):
        Document.from_dict({"text": "x", "page_content": "y"})


# ------------------------------------------------------------------------------- formats


def test_txt_and_md(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("First line.\r\nSecond line.\n", encoding="utf-8")
    md = tmp_path / "readme.MD"
    md.write_bytes("\ufeff# Title\n\nSome *markdown* text.\n".encode())
    (doc,) = load_file(txt)
    assert doc.text == "First line.\nSecond line.\n"
    assert doc.metadata == {"source": str(txt.absolute()), "file_name": "notes.txt"}
    assert Path(doc.metadata["source"]).is_absolute()
    (mdoc,) = load_file(str(md))
    assert mdoc.text.startswith("# Title") and "markdown" in mdoc.text
    assert "page" not in mdoc.metadata


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>The Title</title><style>p {color: red}</style>"
        "<script>var secret = 1;</script></head><body>"
        "<h1>Heading</h1><p>Fish &amp; chips&nbsp;cost <b>four</b> coins.</p>"
        "<noscript>enable js</noscript><!-- a comment --><div>Second<br>line</div><svg><text>icon</text></svg>"
        "<script type='module'>alert('x')</script></body></html>",
        encoding="utf-8",
    )
    (doc,) = load_file(page)
    assert doc.text == "The Title\n\nHeading\n\nFish & chips cost four coins.\n\nSecond\n\nline"
    for hidden in ("secret", "color", "alert", "enable js", "comment", "icon"):
        assert hidden not in doc.text
    sloppy = tmp_path / "sloppy.htm"  # unclosed head and paragraphs, as browsers tolerate
    sloppy.write_text("<html><head><title>T</title><body><p>One<p>Two &lt;3</body>", encoding="utf-8")
    assert load_file(sloppy)[0].text == "T\n\nOne\n\nTwo <3"


def test_html_without_visible_text_is_rejected(tmp_path: Path) -> None:
    page = tmp_path / "shell.htm"
    page.write_text("<html><body><script>render()</script></body></html>", encoding="utf-8")
    with pytest.raises(LoaderError, match="no visible text") as info:
        load_file(page)
    assert str(page) in str(info.value)


def test_pdf_one_document_per_page_skipping_empty_pages(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "report.pdf", [["Page one says hello.", "Second line."], [], ["Third (last) page."]])
    docs = load_file(pdf)
    assert [d.metadata["page"] for d in docs] == [1, 3]
    assert "Page one says hello." in docs[0].text and "Second line." in docs[0].text
    assert "Third (last) page." in docs[1].text
    assert all(d.metadata["file_name"] == "report.pdf" for d in docs)


def test_pdf_without_text_is_rejected(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "scan.pdf", [[], []])
    with pytest.raises(LoaderError, match="no extractable text") as info:
        load_file(pdf)
    assert str(pdf) in str(info.value) and "OCR" in str(info.value)


def test_corrupt_pdf_is_rejected(tmp_path: Path) -> None:
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(os.urandom(3000).replace(b"\x00", b"\x01"))
    with pytest.raises(LoaderError, match="not a readable PDF") as info:
        load_file(pdf)
    assert str(pdf) in str(info.value)


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("nul.txt", b"text\x00with nul", "NUL"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t\n", "empty or holds only whitespace"),
        ("bom_only.txt", "\ufeff  ".encode(), "only whitespace"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_bad_files_are_rejected(tmp_path: Path, name: str, data: bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoaderError, match=match) as info:
        load_file(path)
    assert str(path) in str(info.value)


FRENCH = (
    "Le festival des lanternes de Velmora a \u00e9t\u00e9 fond\u00e9 en 1871 par Odile Santerre. Chaque ann\u00e9e, les habitants "
    "d\u00e9corent la place du march\u00e9 avec des lanternes en papier cr\u00e8me et rouge. La f\u00eate attire des visiteurs "
    "de toute la r\u00e9gion, qui go\u00fbtent la cr\u00e8me br\u00fbl\u00e9e des p\u00e2tissiers locaux.\n"
)


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16"])
def test_text_in_another_encoding_is_detected_not_refused(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / f"festival_{encoding}.txt"
    path.write_bytes(FRENCH.encode(encoding))
    assert [d.text for d in load_file(path)] == [FRENCH]
    html = tmp_path / f"festival_{encoding}.html"
    html.write_bytes(f"<html><body><p>{FRENCH}</p></body></html>".encode(encoding))
    assert "cr\u00e8me br\u00fbl\u00e9e" in load_file(html)[0].text


def test_without_charset_normalizer_another_encoding_names_the_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "charset_normalizer", None)  # as if it were not installed
    path = tmp_path / "festival.txt"
    path.write_bytes(FRENCH.encode("cp1252"))
    with pytest.raises(MissingDependencyError, match=r"not valid UTF-8 .*pip install charset-normalizer"):
        load_file(path)


def test_missing_path_directory_and_bad_argument(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="No such file") as info:
        load_file(tmp_path / "nope.txt")
    assert "nope.txt" in str(info.value)
    with pytest.raises(LoaderError, match="load_paths"):
        load_file(tmp_path)
    with pytest.raises(InputError, match="file path"):
        load_file(42)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        load_file("  ")


def test_other_extensions_need_unstructured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slides.docx"
    path.write_bytes(b"PK\x03\x04 not really a docx")
    for name in ("unstructured", "unstructured.partition", "unstructured.partition.auto"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"doc2lora-rag\[unstructured\]") as info:
        load_file(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- load_paths


def make_tree(root: Path) -> None:
    (root / "b_dir" / "inner").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    (root / "a.txt").write_text("alpha", encoding="utf-8")
    (root / "c.md").write_text("gamma", encoding="utf-8")
    (root / ".secret.txt").write_text("hidden", encoding="utf-8")
    (root / "b_dir" / "b.html").write_text("<p>beta</p>", encoding="utf-8")
    (root / "b_dir" / "inner" / "z.txt").write_text("zeta", encoding="utf-8")
    (root / ".hidden_dir" / "h.txt").write_text("hidden too", encoding="utf-8")


def test_load_paths_walks_folders_sorted_and_skips_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    docs = load_paths([tmp_path])
    assert [d.text for d in docs] == ["alpha", "beta", "zeta", "gamma"]
    assert [d.metadata["file_name"] for d in docs] == ["a.txt", "b.html", "z.txt", "c.md"]
    # a single path is accepted, explicit hidden files are loaded, duplicates are loaded once
    assert [d.text for d in load_paths(str(tmp_path / "a.txt"))] == ["alpha"]
    again = load_paths([tmp_path / ".secret.txt", tmp_path, tmp_path / "a.txt"])
    assert [d.text for d in again] == ["hidden", "alpha", "beta", "zeta", "gamma"]


def test_load_paths_is_all_or_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path)
    bad = tmp_path / "b_dir" / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(LoaderError) as info:
        load_paths([tmp_path])
    assert str(bad) in str(info.value)
    with pytest.raises(LoaderError, match="missing"):
        load_paths([tmp_path / "a.txt", tmp_path / "missing"])


def test_load_paths_argument_errors_and_no_mutation(tmp_path: Path) -> None:
    make_tree(tmp_path)
    paths = [tmp_path / "c.md", str(tmp_path / "a.txt")]
    snapshot = list(paths)
    docs = load_paths(paths)
    assert paths == snapshot and [d.text for d in docs] == ["gamma", "alpha"]
    assert [d.text for d in load_paths(p for p in snapshot)] == ["gamma", "alpha"]
    with pytest.raises(InputError, match="no paths"):
        load_paths([])
    with pytest.raises(InputError, match="iterable"):
        load_paths(3)  # type: ignore[arg-type]
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    (empty / ".only_hidden").write_text("x", encoding="utf-8")
    with pytest.raises(LoaderError, match="no \\(non-hidden\\) files"):
        load_paths([empty])


# -------------------------------------------------------------------------- sample corpus


def test_sample_corpus_loads_and_answers_appear_verbatim() -> None:
    corpus = EXAMPLES / "sample_corpus"
    docs = load_paths([corpus])
    by_file: dict[str, str] = {}
    for doc in docs:
        by_file[doc.metadata["file_name"]] = by_file.get(doc.metadata["file_name"], "") + "\n" + doc.text
    suffixes = {Path(name).suffix for name in by_file}
    assert {".txt", ".md", ".html", ".pdf"} <= suffixes and 4 <= len(by_file) <= 5
    assert any(doc.metadata.get("page") == 2 for doc in docs)
    for name, text in by_file.items():
        assert 150 <= len(text.split()) <= 400, name
    rows = [json.loads(line) for line in (EXAMPLES / "sample_qa.jsonl").read_text(encoding="utf-8").splitlines()]
    counts: dict[str, int] = {}
    for row in rows:
        assert set(row) == {"doc", "question", "answers"}
        assert row["doc"] in by_file, row
        assert row["answers"] and all(answer in by_file[row["doc"]] for answer in row["answers"]), row
        counts[row["doc"]] = counts.get(row["doc"], 0) + 1
    assert set(counts) == set(by_file) and all(3 <= c <= 5 for c in counts.values())
