"""`python -m doc2lora_rag.synth --split heldout --n 60 --seed 1 --out DIR`: write a seeded synthetic eval set."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import InputError
from .corpus import make_corpus
from .documents import SPLITS
from .files import write_eval_set


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a corpus of one split and write it as an eval set."""
    parser = argparse.ArgumentParser(
        prog="python -m doc2lora_rag.synth",
        description="Write a seeded synthetic eval set: DIR/docs/<id>.txt and DIR/qa.jsonl.",
    )
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--n", type=int, required=True, help="number of documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (created or replaced)")
    parser.add_argument("--min-tokens", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=600)
    args = parser.parse_args(argv)
    try:
        docs = make_corpus(args.n, args.split, args.seed, args.min_tokens, args.max_tokens)
        out = write_eval_set(docs, args.out)
    except InputError as exc:
        parser.exit(2, f"error: {exc}\n")
    n_questions = sum(len(d.qas) for d in docs)
    sys.stdout.write(f"wrote {len(docs)} {args.split} documents and {n_questions} questions to {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
