"""`doc2lora bench rag`: the command line of the migration benchmark."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import InputError
from .config import BenchConfig
from .report import fmt
from .run import run_rag_bench

logger = logging.getLogger(__package__)  # the run logs to its children


def _bench_rag(args: argparse.Namespace) -> int:
    if not logger.handlers:  # progress lines (question n/N, each stage) on stderr
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s bench: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    cfg = BenchConfig(
        docs=args.docs,
        qa=args.qa,
        out=args.out,
        k=args.k,
        generator=args.generator,
        quick=args.quick,
        tiny=args.tiny,
        max_new_tokens=args.max_new_tokens,
        limit=args.limit,
        distill_docs=args.distill_docs,
    )
    r = run_rag_bench(cfg)
    print(f"{'mode':<12} {'acc':>6} {'F1':>6} {'recall':>7} {'p50 s':>7} {'p95 s':>7} {'prompt':>7}")
    for mode, s in r["modes"].items():
        print(
            f"{mode:<12} {s['accuracy']:>6.3f} {s['f1']:>6.3f} {fmt(s['recall_at_k'], 2):>7} {s['latency_p50_s']:>7.3f} "
            f"{s['latency_p95_s']:>7.3f} {s['prompt_tokens_mean']:>7.1f}"
        )
    for t in r["targets"]:
        print(f"target {t['name']}: {fmt(t['value'])} -> {'n/a' if t['met'] is None else ('met' if t['met'] else 'NOT met')}")
    print(f"report written to {Path(cfg.out) / 'report.md'} ({r['total_seconds']:.1f}s)")
    return 0


def _bench_scale(args: argparse.Namespace) -> int:
    from .scale import ScaleConfig, format_table, run_scale_bench

    if any(n < 10 for n in args.sizes) or any(k < 1 for k in args.ks):
        raise InputError(f"--sizes must be >= 10 groups and --ks >= 1, got {args.sizes} and {args.ks}")
    if any(k > min(args.sizes) for k in args.ks):
        raise InputError(f"--ks {args.ks} asks for more groups than the smallest store ({min(args.sizes)}) holds")
    cfg = ScaleConfig(out=args.out, sizes=tuple(args.sizes), ks=tuple(args.ks), queries=args.queries, keep=args.keep,
                      routing_only=args.routing_only, group_tokens=args.group_tokens)
    r = run_scale_bench(cfg)
    print(format_table(r["rows"]))
    print(f"written to {Path(args.out) / 'scale.json'} and scale.md")
    return 0


def add_bench(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmarks (bench rag: classic RAG vs the adapter store; bench scale: store costs as it grows)")
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH")

    def no_benchmark(args: argparse.Namespace) -> int:
        raise InputError("bench needs a benchmark name, e.g. doc2lora bench rag --docs DIR --qa QA.jsonl --out REPORT_DIR --quick")

    p.set_defaults(handler=no_benchmark)
    r = sub.add_parser("rag", help="classic text RAG vs adapter / hybrid / oracle / no-context modes on one QA file")
    r.add_argument("--docs", required=True, metavar="DIR", help="folder of documents (all are ingested)")
    r.add_argument("--qa", required=True, metavar="QA.jsonl", help='one {"doc": ..., "question": ..., "answers": [...]} per line')
    r.add_argument("--out", required=True, metavar="REPORT_DIR", help="results.json, report.md, predictions.jsonl and plots go here")
    r.add_argument("--quick", action="store_true", help="2 documents x 2 questions, no distillation, KV measured up to 1k tokens")
    r.add_argument("--k", type=int, default=4, help="chunks / adapters per question (default 4)")
    r.add_argument("--generator", choices=["memory", "hypernet", "distill"], default="",
                   help="the store's adapter generator (default: memory where trained transforms are packaged for the base model)")
    r.add_argument("--max-new-tokens", type=int, default=48)
    r.add_argument("--limit", type=int, default=0, metavar="N", help="at most N questions")
    r.add_argument("--distill-docs", type=int, default=None, metavar="N", help="documents for the distillation run (default 1; 0 with --quick)")
    r.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    r.set_defaults(handler=_bench_rag)
    s = sub.add_parser("scale", help="stores of 1k, 10k, ... chunk groups: disk, open time, routing and joint-write latency, memory")
    s.add_argument("--out", required=True, metavar="DIR", help="scale.json and scale.md go here (stores are built here and deleted)")
    s.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], metavar="N")
    s.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8], metavar="K", help="routed groups per joint write")
    s.add_argument("--queries", type=int, default=200, help="routing queries timed per store")
    s.add_argument("--keep", action="store_true", help="keep the stores (GBs) instead of deleting each after measuring")
    s.add_argument("--routing-only", action="store_true",
                   help="open and routing only: one sampled position per group (small files), no joint writes (for 100k+ groups)")
    s.add_argument("--group-tokens", type=int, default=256, metavar="N", help="tokens of random text per group (default 256)")
    s.set_defaults(handler=_bench_scale)
    return p
