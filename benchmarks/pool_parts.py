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


def paired(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(new record, old record) for every question both runs answered."""
    before = {(r["doc"], r["question"]): r for r in old}
    pairs = [(r, before[(r["doc"], r["question"])]) for r in new if (r["doc"], r["question"]) in before]
    if not pairs:
        raise InputError("the two runs share no question: compare runs over the same parts")
    return pairs


def paired_difference(pairs: list[tuple[dict[str, Any], dict[str, Any]]], key: str = "correct") -> tuple[float, float, float]:
    """Mean of `key` in the new runs minus in the old over `pairs`, with a 95 % interval that resamples documents (both
    runs' answers to a drawn document's questions count together, so the interval is of the paired difference)."""
    diffs = [{"doc": a["doc"], "diff": float(a[key]) - float(b[key])} for a, b in pairs]
    return statistics.fmean(d["diff"] for d in diffs), *bootstrap_ci(diffs, key="diff")


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
        pairs = paired(new, old)
        gained = sum(bool(a["correct"]) and not b["correct"] for a, b in pairs)
        lost = sum(bool(b["correct"]) and not a["correct"] for a, b in pairs)
        print(f"gained {gained}, lost {lost} of {len(pairs)} questions in both")
        for key in ("correct", "short_correct"):
            d, lo, hi = paired_difference(pairs, key)
            print(f"difference {key}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}] (paired, bootstrap over documents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
