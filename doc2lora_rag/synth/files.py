"""Corpora on disk: an eval set (docs/<id>.txt + qa.jsonl), JSONL corpora, the memory generator's fitting corpus."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, LoaderError
from .corpus import make_corpus
from .documents import QA, SynthDoc

logger = logging.getLogger(__name__)


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _check_doc_id(doc_id: object, where: str) -> str:
    if not isinstance(doc_id, str) or not _SAFE_ID.fullmatch(doc_id):
        raise InputError(
            f"{where}: document id {doc_id!r} is not usable as a file name; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return doc_id


def _is_replaceable(path: Path) -> bool:
    """Only an empty folder or a previous eval set (docs/*.txt and qa.jsonl) may be overwritten."""
    for child in path.iterdir():
        if child.name == "qa.jsonl" and child.is_file():
            continue
        if child.name == "docs" and child.is_dir() and all(
            f.is_file() and f.suffix == ".txt" for f in child.iterdir()
        ):
            continue
        return False
    return True


def write_eval_set(docs: list[SynthDoc], out_dir: str | Path) -> Path:
    """Write ``out_dir/docs/<doc_id>.txt`` and ``out_dir/qa.jsonl`` atomically; return ``out_dir``.

    Each qa.jsonl line is ``{"doc": "<doc_id>.txt", "question": ..., "answers": [...]}``. The set is
    written to a temporary folder next to ``out_dir`` and renamed into place; an existing ``out_dir``
    is replaced only when it is empty or holds a previous eval set.
    """
    if isinstance(docs, (str, bytes)) or not isinstance(docs, Sequence) or not docs:
        raise InputError(f"docs must be a non-empty list of SynthDoc, got {docs!r:.80}; pass make_corpus(...)")
    seen: set[str] = set()
    for i, doc in enumerate(docs):
        if not isinstance(doc, SynthDoc):
            raise InputError(f"docs[{i}] must be a SynthDoc, got {type(doc).__name__}; build it with SynthDoc(...)")
        _check_doc_id(doc.doc_id, f"docs[{i}]")
        if doc.doc_id in seen:
            raise InputError(f"docs[{i}]: duplicate doc_id {doc.doc_id!r}; every document needs its own id")
        seen.add(doc.doc_id)
    out = Path(out_dir)
    target = out.resolve()
    if target.exists() and not target.is_dir():
        raise InputError(f"out_dir {str(out)!r} exists and is not a folder; pass a folder path")
    if target.is_dir() and not _is_replaceable(target):
        raise InputError(
            f"out_dir {str(out)!r} holds files other than a previous eval set; refusing to overwrite it, "
            "pass an empty or new folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        (tmp / "docs").mkdir()
        lines: list[str] = []
        for doc in docs:
            with open(tmp / "docs" / f"{doc.doc_id}.txt", "w", encoding="utf-8", newline="") as fh:
                fh.write(doc.text)
            for qa in doc.qas:
                record = {"doc": f"{doc.doc_id}.txt", "question": qa.question, "answers": list(qa.answers)}
                lines.append(json.dumps(record, ensure_ascii=False))
        with open(tmp / "qa.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(line + "\n" for line in lines))
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d documents and %d questions to %s", len(docs), len(lines), target)
    return out


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_LINE_FORMAT = '{"text": "...", "questions": ["...", {"question": "...", "answers": ["..."]}]}'


def _parse_question(item: object, where: str) -> QA:
    if isinstance(item, str):
        if not item.strip():
            raise InputError(f"{where}: empty question string; remove it or write the question")
        return QA(item.strip(), (), "user")
    if not isinstance(item, dict):
        raise InputError(
            f"{where}: a question must be a string or an object with 'question' and 'answers', "
            f"got {_preview(item)}"
        )
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: 'question' must be a non-empty string, got {_preview(question)}")
    answers = item.get("answers", [])
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise InputError(f"{where}: 'answers' must be a list of non-empty strings, got {_preview(answers)}")
    return QA(question.strip(), tuple(a.strip() for a in answers), "user")


def load_jsonl_corpus(path: str | Path) -> list[SynthDoc]:
    """Read a user corpus: one JSON object a line, ``{"text": ..., "questions": [...], "id": ...}``.

    A question is a string (no gold answer: ``answers=()``) or ``{"question": ..., "answers": [...]}``.
    ``id`` is optional (default ``doc-<line number>``). Blank lines are skipped. Malformed lines raise
    :class:`InputError` naming the line number; an unreadable file raises :class:`LoaderError`.
    """
    p = Path(path)
    if not p.is_file():
        raise LoaderError(f"JSONL corpus {str(p)!r} does not exist or is not a file; pass the path of a .jsonl file")
    try:
        raw = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoaderError(f"JSONL corpus {str(p)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except OSError as exc:
        raise LoaderError(f"JSONL corpus {str(p)!r} could not be read ({exc.strerror}); check its permissions") from exc
    docs: list[SynthDoc] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p.name} line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be one object "
                f"like {_LINE_FORMAT}"
            ) from exc
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {_preview(obj)}; write {_LINE_FORMAT}")
        for key in ("text", "questions"):
            if key not in obj:
                raise InputError(f"{where}: missing key {key!r} (keys present: {sorted(obj)}); write {_LINE_FORMAT}")
        text = obj["text"]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: 'text' must be a non-empty string, got {_preview(text)}")
        questions = obj["questions"]
        if not isinstance(questions, list):
            raise InputError(f"{where}: 'questions' must be a list, got {_preview(questions)}")
        qas = tuple(_parse_question(q, f"{where}, question {j}") for j, q in enumerate(questions))
        raw_id = obj.get("id", f"doc-{lineno:05d}")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        doc_id = _check_doc_id(raw_id, where)
        if doc_id in first_line:
            raise InputError(f"{where}: id {doc_id!r} already used on line {first_line[doc_id]}; ids must be unique")
        first_line[doc_id] = lineno
        docs.append(SynthDoc(doc_id, text, qas))
    if not docs:
        raise InputError(f"JSONL corpus {str(p)!r} holds no documents; write one {_LINE_FORMAT} object a line")
    return docs


def write_fit_corpus(path: str | Path) -> Path:
    """Write the memory generator's packaged fitting corpus (`generators/memory/fit_corpus.json`).

    The synthetic training documents its first-use fit reads: FIT_DOCS of them, seed FIT_SEED, each with
    the first answer of every question (answers occur verbatim in the text). The core reads the file and
    never imports this module; `tests/test_synth.py` checks the packaged file against this function.
    """
    from doc2lora_rag.generators.memory import FIT_DOCS, FIT_SEED
    from doc2lora_rag.generators.memory.files import FIT_CORPUS_FORMAT

    docs = make_corpus(FIT_DOCS, "train", seed=FIT_SEED, min_tokens=60, max_tokens=300)
    data = {"format": FIT_CORPUS_FORMAT, "made_by": f"make_corpus({FIT_DOCS}, 'train', seed={FIT_SEED}, min_tokens=60, max_tokens=300)",
            "docs": [{"text": d.text, "answers": [q.answers[0] for q in d.qas if q.answers]} for d in docs]}
    path = Path(path)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n")
    return path
