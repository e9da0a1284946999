"""News articles and encyclopedia passages for the natural corpus, from gensim's wheel, with questions written by hand.

The natural corpus (`natural_corpus`) is manuals, definitions and quotations; the prose the generator must carry
is also news, obituaries and reports. The Lee corpus (Lee, Pincombe & Welsh 2005: 300 Australian Broadcasting
Corporation news articles of 2001-2002, 45 to 620 words each) is natural news prose that ships, as
`gensim/test/test_data/lee_background.cor`, inside gensim's wheel on PyPI: `pip download` fetches it offline from
the package registry, without installing gensim. `data/train/news_questions.jsonl` holds questions written by hand
for its articles (`data/train/README.md`), matched by id and the SHA-256 of the text as `natural_corpus` does.

    python -m doc2lora_rag.training.gensim_corpus --questions data/train/news_questions.jsonl \\
        --append runs/corpus/natural-hand.jsonl --out runs/corpus/natural-news.jsonl

writes the corpus with the covered articles after the `--append` corpus's documents (source "news").
`--dev-from lee-200 wiki-198 --dev-out runs/gensimdev` also writes the passages from those ids on as development sets,
one per source (`runs/gensimdev/news/p0`, `runs/gensimdev/encyclopedia/p0`: evaluation-set folders,
`self_targets.write_set`, for `benchmarks/eval_sets.py`), and their ids (`runs/gensimdev/ids.json`, for
`MemoryTrainConfig.hold_out`). Each set is a block of consecutive passages, not a sample: neighbouring articles often
report the same events, and an encyclopedia page gives up to three passages in a row.
An article whose text repeats an earlier one is dropped (the corpus holds two such pairs).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from ..files import atomic_write
from .natural_corpus import attach_questions
from .self_targets import write_set

GENSIM = "gensim==4.4.0"  # the wheel that carries the corpus (the text is the same in every gensim 4.x)
MEMBER = "gensim/test/test_data/lee_background.cor"
WIKI_MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def lee_wheel(cache: Path) -> Path:
    """gensim's wheel in `cache`, downloaded once from the package registry (no install, no dependencies)."""
    found = sorted(cache.glob("gensim-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([sys.executable, "-m", "pip", "download", GENSIM, "--no-deps", "--only-binary=:all:", "-q",
                              "-d", str(cache)], capture_output=True, text=True)
        found = sorted(cache.glob("gensim-*.whl"))
        if run.returncode or not found:
            raise MissingDependencyError(f"could not download {GENSIM}'s wheel from the package registry "
                                         f"({run.stderr.strip()[-300:]}); download it by hand and pass --lee FILE")
    return found[-1]


def lee_articles(source: Path) -> list[str]:
    """The articles, one a line, of `source`: gensim's wheel or the extracted `lee_background.cor`."""
    try:
        if source.suffix == ".whl":
            with zipfile.ZipFile(source) as z:
                raw = z.read(MEMBER).decode("utf-8", errors="replace")
        else:
            raw = source.read_text(encoding="utf-8", errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{source}: no Lee corpus in it ({exc!r}); give gensim's wheel or lee_background.cor") from exc
    return [line.strip() for line in raw.splitlines() if line.strip()]


def wiki_pages(wheel: Path) -> list[tuple[str, str]]:
    """(title, plain text) of the articles (not redirects) in the English Wikipedia excerpt of gensim's wheel (106
    articles of 2017: Anarchism, Abraham Lincoln, Alabama, Animal Farm, ...), markup stripped by mwparserfromhell."""
    import bz2
    import xml.etree.ElementTree as ET

    try:
        import mwparserfromhell
    except ImportError as exc:
        raise MissingDependencyError("the encyclopedia passages need mwparserfromhell (pip install mwparserfromhell)") from exc
    try:
        with zipfile.ZipFile(wheel) as z:
            root = ET.fromstring(bz2.decompress(z.read(WIKI_MEMBER)).decode("utf-8"))
    except (OSError, KeyError, zipfile.BadZipFile, ET.ParseError) as exc:
        raise ConfigError(f"{wheel}: no Wikipedia excerpt in it ({exc!r}); give gensim {GENSIM}'s wheel") from exc
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    out = []
    for page in root.iter(f"{ns}page"):
        title, text = page.findtext(f"{ns}title") or "", page.findtext(f".//{ns}text") or ""
        if text and not text.lstrip().lower().startswith("#redirect"):
            out.append((title, mwparserfromhell.parse(text).strip_code()))
    return out


def wiki_passages(pages: list[tuple[str, str]], per_page: int = 3, min_words: int = 120, max_words: int = 400,
                  seed: int = 0) -> list[dict]:
    """Corpus rows (id `wiki-NNN`, source "encyclopedia"): up to `per_page` passages of each page, its lead and seeded
    others, each consecutive prose paragraphs (lines of 25 words or more without a '|': no headings, tables or image
    captions) grouped to `min_words`-`max_words` words, the page's title as the first line."""
    rng, out = random.Random(seed), []
    for title, text in pages:
        paras = [" ".join(p.split()) for p in text.splitlines()]  # a paragraph of wikitext is one line
        paras = [p for p in paras if len(p.split()) >= 25 and "|" not in p and not p.startswith(("Category:", "File:"))]
        groups, cur, words = [], [], 0  # (paragraphs, their words)
        for p in paras:
            if cur and words + len(p.split()) > max_words:
                groups.append((cur, words))
                cur, words = [], 0
            cur, words = cur + [p], words + len(p.split())
        groups.append((cur, words))
        groups = [g for g, n in groups if min_words <= n <= max_words]
        if not groups:
            continue
        picked = groups[:1] + rng.sample(groups[1:], min(per_page - 1, len(groups) - 1))
        out.extend({"source": "encyclopedia", "text": title + "\n" + "\n".join(g)} for g in picked)
    return [{"id": f"wiki-{i:03d}", **d} for i, d in enumerate(out)]


def news_docs(articles: list[str]) -> list[dict]:
    """Corpus rows (id `lee-NNN` by line number, source "news") of the articles, each text once."""
    seen: set[str] = set()
    return [{"id": f"lee-{i:03d}", "source": "news", "text": t} for i, t in enumerate(articles)
            if not (t in seen or seen.add(t))]


def in_block(doc_id: str, starts: list[str]) -> bool:
    """Whether `doc_id` is at or after the start of its source's development block (`starts`: first ids, one per
    source prefix, e.g. lee-200 and wiki-198)."""
    prefix = doc_id.split("-")[0]
    return any(s.split("-")[0] == prefix and doc_id >= s for s in starts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m doc2lora_rag.training.gensim_corpus", description=__doc__.split("\n")[0])
    p.add_argument("--questions", required=True, nargs="+",
                   help="JSONL files of hand-written questions (id, sha256, questions): news (lee-NNN), encyclopedia (wiki-NNN)")
    p.add_argument("--out", required=True, help="corpus JSONL to write")
    p.add_argument("--append", help="a corpus JSONL whose documents come first (e.g. natural_corpus's)")
    p.add_argument("--lee", help="gensim's wheel (or, for the news alone, lee_background.cor); default: download the "
                                 "wheel into --cache")
    p.add_argument("--cache", default="runs/cache/gensim", help="where the downloaded wheel is kept")
    p.add_argument("--dev-from", nargs="+", default=[],
                   help="first id of each source's development block (e.g. lee-200 wiki-198)")
    p.add_argument("--dev-out", help="with --dev-from: the development set's folder")
    p.add_argument("--dev-parts", type=int, default=1)
    args = p.parse_args(argv)
    if bool(args.dev_from) != bool(args.dev_out):
        p.error("--dev-from and --dev-out go together")
    source = Path(args.lee) if args.lee else lee_wheel(Path(args.cache))
    rows = news_docs(lee_articles(source))
    hand = [json.loads(line)["id"] for q in args.questions for line in Path(q).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if any(i.startswith("wiki-") for i in hand):
        if source.suffix != ".whl":
            raise ConfigError(f"--questions name encyclopedia passages, which come from gensim's wheel, not {source}")
        rows += wiki_passages(wiki_pages(source))
    docs: list[dict] = []
    for q in args.questions:  # a passage keeps the questions of the first file that covers it
        taken = {d["id"] for d in docs}
        docs += attach_questions([r for r in rows if r["id"] not in taken], q, only=True)
    if not docs:
        raise ConfigError(f"no passage matches {' '.join(args.questions)} (ids and SHA-256 of the text)")
    dev = [d for d in docs if in_block(d["id"], args.dev_from)]
    if args.dev_from and not dev:
        raise ConfigError(f"--dev-from {' '.join(args.dev_from)}: no passage of those blocks has questions")
    try:
        head = [line for line in Path(args.append).read_text(encoding="utf-8").splitlines() if line.strip()] if args.append else []
    except OSError as exc:
        raise ConfigError(f"--append {args.append}: not readable ({exc}); build it with doc2lora_rag.training.natural_corpus") from exc
    text = "".join(line + "\n" for line in head) + "".join(json.dumps(d) + "\n" for d in docs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if dev:  # one set per source (DEV_OUT/news, DEV_OUT/encyclopedia), and all their ids in DEV_OUT/ids.json
        for src in sorted({d["source"] for d in dev}):
            for folder in write_set([d for d in dev if d["source"] == src], Path(args.dev_out) / src, parts=args.dev_parts):
                print(folder, sum(1 for _ in open(folder / "qa.jsonl")), "questions")
        (Path(args.dev_out) / "ids.json").write_text(json.dumps([d["id"] for d in dev]), encoding="utf-8")
    counts = dict(Counter(d["source"] for d in docs))
    print(f"wrote {len(head)} + {len(docs)} documents {counts}, {sum(len(d['questions']) for d in docs)} questions to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
