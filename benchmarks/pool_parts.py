"""Pool the results of one mode over several `eval_sets.py --out` files (the parts of one large set).

    python benchmarks/pool_parts.py runs/eval/new-p0.json runs/eval/new-p1.json runs/eval/new-p2.json
    python benchmarks/pool_parts.py runs/eval/new-p*.json --against runs/eval/packaged-p*.json

Prints accuracy with its 95 % interval (bootstrap over documents), the length-aware score with its interval, F1, n and
the number of documents; with --against, the same for the other files, the questions right only on each side and the
paired difference with its interval.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from doc2lora_rag.errors import InputError
from doc2lora_rag.evaluation import bootstrap_ci


def pooled(files: list[str], mode: str) -> list[dict[str, Any]]:
    """Every prediction record of `mode` in `files`; a document name seen in two files is an error (parts overlap)."""
    records: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for f in files:
        data = json.loads(Path(f).read_text(encoding="utf-8"))
        if mode not in data.get("predictions", {}):
            raise InputError(f"{f} has no predictions for mode {mode!r}; it has {sorted(data.get('predictions', {}))}")
        for r in data["predictions"][mode]:
            if seen.setdefault(r["doc"], f) != f:
                raise InputError(f"document {r['doc']!r} is in both {seen[r['doc']]} and {f}: pool distinct parts only")
            records.append(r)
    return records


def summary(records: list[dict[str, Any]]) -> str:
    acc = statistics.fmean(bool(r["correct"]) for r in records)
    short = statistics.fmean(bool(r["short_correct"]) for r in records)
    lo, hi = bootstrap_ci(records)
    slo, shi = bootstrap_ci(records, key="short_correct")
    f1 = statistics.fmean(r["f1"] for r in records)
    words = statistics.median(len(r["prediction"].split()) for r in records)
    return (f"{acc:.3f} [{lo:.3f}, {hi:.3f}]  short {short:.3f} [{slo:.3f}, {shi:.3f}]  f1 {f1:.3f}  "
            f"median words {words:g}  n={len(records)} docs={len({r['doc'] for r in records})}")


def paired_difference(new: list[dict[str, Any]], old: list[dict[str, Any]], key: str = "correct", n_boot: int = 2000,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of `key` in `new` minus in `old` over the questions both hold, with a 95 % interval that resamples documents
    (both runs' answers to a drawn document's questions count together, so the interval is of the paired difference)."""
    import random

    before = {(r["doc"], r["question"]): float(r[key]) for r in old}
    by_doc: dict[str, list[float]] = {}
    for r in new:
        if (r["doc"], r["question"]) in before:
            by_doc.setdefault(r["doc"], []).append(float(r[key]) - before[(r["doc"], r["question"])])
    docs = [(sum(v), len(v)) for v in by_doc.values()]
    if not docs:
        raise InputError("the two runs share no question: compare runs over the same parts")
    rng = random.Random(seed)
    means = sorted(sum(s for s, _ in draw) / sum(c for _, c in draw)
                   for draw in ([docs[rng.randrange(len(docs))] for _ in docs] for _ in range(n_boot)))
    return sum(s for s, _ in docs) / sum(c for _, c in docs), means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", metavar="FILE.json")
    p.add_argument("--against", nargs="+", default=None, metavar="FILE.json", help="the baseline's files, same parts")
    p.add_argument("--mode", default="selected")
    args = p.parse_args(argv)
    new = pooled(args.files, args.mode)
    print(f"pooled   {args.mode}: {summary(new)}")
    if args.against:
        old = pooled(args.against, args.mode)
        print(f"against  {args.mode}: {summary(old)}")
        key = {(r["doc"], r["question"]): bool(r["correct"]) for r in old}
        both = [(bool(r["correct"]), key[(r["doc"], r["question"])]) for r in new if (r["doc"], r["question"]) in key]
        print(f"gained {sum(a and not b for a, b in both)}, lost {sum(b and not a for a, b in both)} "
              f"of {len(both)} questions in both")
        for key in ("correct", "short_correct"):
            d, lo, hi = paired_difference(new, old, key)
            print(f"difference {key}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}] (paired, bootstrap over documents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
