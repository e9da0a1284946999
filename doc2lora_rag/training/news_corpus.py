"""News articles for the natural corpus: the Lee corpus, with questions written by hand.

The natural corpus (`natural_corpus`) is manuals, definitions and quotations; the prose the generator must carry
is also news, obituaries and reports. The Lee corpus (Lee, Pincombe & Welsh 2005: 300 Australian Broadcasting
Corporation news articles of 2001-2002, 45 to 620 words each) is natural news prose that ships, as
`gensim/test/test_data/lee_background.cor`, inside gensim's wheel on PyPI: `pip download` fetches it offline from
the package registry, without installing gensim. `data/train/news_questions.jsonl` holds questions written by hand
for its articles (`data/train/README.md`), matched by id and the SHA-256 of the text as `natural_corpus` does.

    python -m doc2lora_rag.training.news_corpus --questions data/train/news_questions.jsonl \\
        --append runs/corpus/natural-hand.jsonl --out runs/corpus/natural-news.jsonl

writes the corpus with the covered articles after the `--append` corpus's documents (source "news").
`--dev-from lee-200 --dev-out runs/newsdev` also writes the articles from that id on as a development set (an
evaluation-set folder per part, `self_targets.write_set`, for `benchmarks/eval_sets.py`) and their ids
(`runs/newsdev/ids.json`, for `MemoryTrainConfig.hold_out`). The set is a block of consecutive articles, not a
sample: neighbouring articles often report the same events, and a sample would put one day's story on both sides.
An article whose text repeats an earlier one is dropped (the corpus holds two such pairs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from ..files import atomic_write
from .natural_corpus import attach_questions
from .self_targets import write_set

GENSIM = "gensim==4.4.0"  # the wheel that carries the corpus (the text is the same in every gensim 4.x)
MEMBER = "gensim/test/test_data/lee_background.cor"


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


def news_docs(articles: list[str]) -> list[dict]:
    """Corpus rows (id `lee-NNN` by line number, source "news") of the articles, each text once."""
    seen: set[str] = set()
    return [{"id": f"lee-{i:03d}", "source": "news", "text": t} for i, t in enumerate(articles)
            if not (t in seen or seen.add(t))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m doc2lora_rag.training.news_corpus", description=__doc__.split("\n")[0])
    p.add_argument("--questions", required=True, help="JSONL of hand-written questions (id, sha256, questions)")
    p.add_argument("--out", required=True, help="corpus JSONL to write")
    p.add_argument("--append", help="a corpus JSONL whose documents come first (e.g. natural_corpus's)")
    p.add_argument("--lee", help="gensim's wheel or lee_background.cor (default: download the wheel into --cache)")
    p.add_argument("--cache", default="runs/cache/gensim", help="where the downloaded wheel is kept")
    p.add_argument("--dev-from", help="id of the first article of the development block (e.g. lee-200)")
    p.add_argument("--dev-out", help="with --dev-from: the development set's folder")
    p.add_argument("--dev-parts", type=int, default=1)
    args = p.parse_args(argv)
    if bool(args.dev_from) != bool(args.dev_out):
        p.error("--dev-from and --dev-out go together")
    docs = attach_questions(news_docs(lee_articles(Path(args.lee) if args.lee else lee_wheel(Path(args.cache)))),
                            args.questions, only=True)
    if not docs:
        raise ConfigError(f"no article of the Lee corpus matches {args.questions} (ids and SHA-256 of the text)")
    dev = [d for d in docs if d["id"] >= args.dev_from] if args.dev_from else []
    if args.dev_from and not dev:
        raise ConfigError(f"--dev-from {args.dev_from}: no article from that id on has questions")
    try:
        head = [line for line in Path(args.append).read_text(encoding="utf-8").splitlines() if line.strip()] if args.append else []
    except OSError as exc:
        raise ConfigError(f"--append {args.append}: not readable ({exc}); build it with doc2lora_rag.training.natural_corpus") from exc
    text = "".join(line + "\n" for line in head) + "".join(json.dumps(d) + "\n" for d in docs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if dev:
        for folder in write_set(dev, args.dev_out, parts=args.dev_parts):
            print(folder, sum(1 for _ in open(folder / "qa.jsonl")), "questions")
    print(f"wrote {len(head)} + {len(docs)} news documents, {sum(len(d['questions']) for d in docs)} news questions "
          f"to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
