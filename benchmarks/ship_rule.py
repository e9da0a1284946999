"""Judge retrained memory transforms against the packaged ones by the ship rule (docs/training_log.md, session 24).

    python benchmarks/ship_rule.py --new gensim250 --against packaged \
        --primary newsdev wikidev prose-dev tech-dev --guard selfgen --adapter prose-dev

Reads `eval_sets.py --out` files named `DIR/{set}-{run}.json`, or `DIR/{set}-{run}-p*.json` for a set scored in
parts (pooled). The rule, fixed before the candidates it judges were scored:

1. primary: the selected write's paired difference against the baseline, pooled over the questions of the
   `--primary` sets, is >= 0 for accuracy and for the length-aware score;
2. guard: on no single `--primary` or `--guard` set is the 95 % interval of the paired accuracy or short difference
   entirely below zero;
3. guard: on each `--adapter` set the whole-document adapter's paired accuracy interval is not entirely below zero.

A rule on six point estimates at once (session 23's) fails a retrain of equal quality about 63 times in 64; this one
asks for no loss on the pooled questions and no clear loss anywhere. Prints one line per check and PASS or FAIL;
the exit code is 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from doc2lora_rag.errors import InputError

_SPEC = importlib.util.spec_from_file_location("pool_parts", Path(__file__).with_name("pool_parts.py"))
pool_parts = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(pool_parts)

KEYS = ("correct", "short_correct")


def run_files(root: Path, name: str, run: str) -> list[str]:
    """The eval files of `run` on set `name`: one whole file, or its parts."""
    whole = root / f"{name}-{run}.json"
    if whole.is_file():
        return [str(whole)]
    parts = sorted(str(p) for p in root.glob(f"{name}-{run}-p*.json"))
    if not parts:
        raise InputError(f"no eval file for set {name!r}, run {run!r}: expected {whole} or {root}/{name}-{run}-p*.json "
                         f"(write them with benchmarks/eval_sets.py --out)")
    return parts


def pairs_of(root: Path, name: str, new: str, old: str, mode: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return pool_parts.paired(pool_parts.pooled(run_files(root, name, new), mode),
                             pool_parts.pooled(run_files(root, name, old), mode))


def check(kind: str, name: str, key: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]], failed) -> tuple[bool, str]:
    """(fails, report line) of one paired difference; `failed(d, hi)` says whether it fails."""
    d, lo, hi = pool_parts.paired_difference(pairs, key)
    fails = failed(d, hi)
    return fails, f"{'FAIL' if fails else 'ok  '} {kind:<8} {name:<12} {key:<13} {d:+.3f} [{lo:+.3f}, {hi:+.3f}] n={len(pairs)}"


def judge(root: Path, new: str, old: str, primary: list[str], guard: list[str], adapter: list[str]) -> tuple[bool, list[str]]:
    """(passes, report lines) for run `new` against run `old`."""
    def clear_loss(d: float, hi: float) -> bool:
        return hi < 0

    results: list[tuple[bool, str]] = []
    pooled_pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for name in primary + guard:
        pairs = pairs_of(root, name, new, old, "selected")
        if name in primary:
            pooled_pairs += [({**a, "doc": f"{name}/{a['doc']}"}, b) for a, b in pairs]
        results += [check("guard", name, key, pairs, clear_loss) for key in KEYS]
    results += [check("adapter", name, "correct", pairs_of(root, name, new, old, "adapter"), clear_loss) for name in adapter]
    if primary:
        results += [check("primary", "+".join(primary), key, pooled_pairs, lambda d, hi: d < 0) for key in KEYS]
    return not any(fails for fails, _ in results), [line for _, line in results]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--new", required=True, help="the candidate's run tag in the file names")
    p.add_argument("--against", default="packaged", help="the baseline's run tag (default: packaged)")
    p.add_argument("--dir", type=Path, default=Path("runs/eval"), help="where the eval files are (default: runs/eval)")
    p.add_argument("--primary", nargs="+", default=[], metavar="SET", help="sets pooled for the primary check")
    p.add_argument("--guard", nargs="*", default=[], metavar="SET", help="further sets checked only for a clear loss")
    p.add_argument("--adapter", nargs="*", default=[], metavar="SET", help="sets whose whole-document adapter is checked")
    args = p.parse_args(argv)
    if not args.primary:
        raise SystemExit("ship_rule: give at least one --primary set")
    ok, lines = judge(args.dir, args.new, args.against, args.primary, args.guard, args.adapter)
    print("\n".join(lines))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
