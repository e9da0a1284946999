"""Adapters behind the store against classic RAG on the same routing, for several k.

One ingest of a set's documents (one part: dev for choices, test to report), then every question
in every variant, interleaved: routed adapters (the k routed groups written jointly, what StoreQA
does), classic RAG (the k routed texts in the prompt), hybrid (both; at each --hybrid-scales value
the adapters are scaled by it) and, with --summed, the routed adapters added up instead of written
jointly; with --hybrid-next, hybrid with the adapters of the k groups routed after the k in the prompt; with
--hybrid-defer-selected, hybrid with the selected write over the k texts in the prompt.
Same prompt and answer budget (48 new tokens) in every variant.

    python benchmarks/memory_store.py data/eval/prose --part dev --ks 1 2 4 --hybrid-scales 1 0.5 --hybrid-next
    python benchmarks/memory_store.py data/eval/prose --part test --ks 1 2 4 --out runs/eval/store-prose-test.json
    python benchmarks/memory_store.py --qa data/heldout/qa.jsonl --docs data/heldout/docs --per-doc 2 --ks 1 2 4

Prints a table: accuracy with its 95 % interval (bootstrap over documents), n, the length-aware score
(correct and at most 20 words), F1, recall@k, accuracy on the questions whose gold document was
routed, p50 seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from doc2lora_rag.evaluation import SHORT_WORDS, bootstrap_ci, is_correct, load_qa, load_split, token_f1
from doc2lora_rag.generators import make_generator
from doc2lora_rag.loaders import load_paths
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import AdapterStore


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set", nargs="?", help="evaluation set folder (docs/, qa.jsonl, split.json); or --qa and --docs")
    p.add_argument("--part", choices=["dev", "test"], help="with a set folder: which part")
    p.add_argument("--qa", default=None, help="instead of a set folder: a QA JSONL file ...")
    p.add_argument("--docs", default=None, help="... and the folder of the documents it asks about (all of them ingested)")
    p.add_argument("--per-doc", type=int, default=0, help="with --qa: at most this many questions per document (0 = all)")
    p.add_argument("--store", default=None, help="reuse/keep the store here (default: a temporary one)")
    p.add_argument("--transforms", default=None, help="memory transforms folder (default: the packaged ones)")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--adapter-format", choices=["record", "tokens", "lora"], default=None,
                   help="what a new store's files hold (default: records for the memory generator)")
    p.add_argument("--base-variants", nargs="*", choices=["adapter", "rag", "selected"], default=["adapter", "rag"],
                   help="the plain variants to run (default both)")
    p.add_argument("--hybrid-scales", type=float, nargs="*", default=[1.0])
    p.add_argument("--summed", action="store_true", help="also the routed adapters added up (rank concatenation)")
    p.add_argument("--hybrid-next", action="store_true",
                   help="also hybrid with the adapters of the k groups routed after the k in the prompt (StoreQA hybrid_adapters='next')")
    p.add_argument("--hybrid-defer", type=float, nargs="*", default=[],
                   help="also hybrid in which the text decides each token its text-only reading gives this probability (StoreQA hybrid_defer)")
    p.add_argument("--hybrid-defer-next", type=float, nargs="*", default=[],
                   help="also deferring hybrid with the adapters of the k groups routed after the k in the prompt")
    p.add_argument("--hybrid-defer-selected", type=float, nargs="*", default=[],
                   help="also deferring hybrid with the selected write over the k routed texts (StoreQA hybrid_adapters='selected')")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write the table and every prediction as JSON")
    p.add_argument("--resume", action="store_true",
                   help="with --out: keep the predictions of an interrupted run (OUT.partial.jsonl, written as they come) and do the rest")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.set and args.part and not (args.qa or args.docs):
        root, docs_dir = Path(args.set), Path(args.set) / "docs"
        part = load_split(root / "qa.jsonl", args.part)
        items = [i for i in load_qa(root / "qa.jsonl", docs_dir) if i.doc in part]
    elif args.qa and args.docs and not (args.set or args.part):
        root, docs_dir = Path(args.docs), Path(args.docs)
        items = load_qa(args.qa, docs_dir)
        part = {p.name for p in docs_dir.iterdir() if p.is_file()}
        if args.per_doc:
            kept, count = [], Counter()
            for i in items:
                if count[i.doc] < args.per_doc:
                    kept.append(i)
                    count[i.doc] += 1
            items = kept
    else:
        p.error("pass a set folder with --part, or --qa FILE --docs DIR")
    if args.limit:
        items = items[: args.limit]
    records = []
    partial = Path(args.out).with_suffix(".partial.jsonl") if args.out else None
    if partial is not None and partial.exists() and not args.resume:
        partial.unlink()
    if partial is not None and partial.exists():
        records = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        print(f"resuming: {len(records)} predictions from {partial}", flush=True)
    done = {(r["doc"], r["question"], r["variant"]) for r in records}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for name in sorted(part):
            (docs / name).write_bytes((docs_dir / name).read_bytes())
        where = Path(args.store or Path(tmp) / "store")
        if args.transforms:
            from doc2lora_rag.generators.memory import MemoryGenerator

            generator = MemoryGenerator.default(load_base(), args.transforms)
        else:
            generator = make_generator("memory")
        store = AdapterStore(where, generator, adapter_format=args.adapter_format)
        t0 = time.perf_counter()
        # ids from the file names: a reused --store is updated in place, not given a second copy of every document
        loaded = load_paths([docs])
        store.add_documents(loaded, ids=[f"{d.metadata['file_name']}:p{d.metadata.get('page', 0)}" for d in loaded], progress=True)
        r = store.last_ingest
        ingest = {"documents": len(store), "entries": len(store.entries()), "generated": r.generated,
                  "seconds": round(time.perf_counter() - t0, 1), "generate_s_per_group": round(r.generate_seconds / max(r.generated, 1), 3),
                  "adapter_format": store.meta.get("adapter_format"), **disk_use(store)}
        print(json.dumps({"ingest": ingest}), flush=True)
        qa = StoreQA(store)
        for n, item in enumerate(items):
            for k in args.ks:
                hits = store.search(item.question, k)
                ids = [d.id for d, _ in hits]
                hit = item.doc in [d.metadata.get("file_name") for d, _ in hits]
                variants = [(v, 1.0) for v in args.base_variants] + [("hybrid", s) for s in args.hybrid_scales]
                if args.hybrid_next:
                    variants.append(("hybrid next", 1.0))
                variants += [("hybrid defer", t) for t in args.hybrid_defer] + [("hybrid defer next", t) for t in args.hybrid_defer_next]
                variants += [("hybrid defer selected", t) for t in args.hybrid_defer_selected]
                if args.summed and k > 1:
                    variants.append(("summed", 1.0))
                for mode, scale in variants:
                    suffix = f" x{scale:g}" if mode == "hybrid" and len(args.hybrid_scales) > 1 else f" {scale:g}" if mode.startswith("hybrid defer") else ""
                    name = f"{mode}{suffix} k={k}"
                    if (item.doc, item.question, name) in done:
                        continue
                    s = time.perf_counter()
                    if mode == "summed":
                        pred = qa.engine.answer(item.question, [store.adapter(i) for i in ids], max_new_tokens=args.max_new_tokens).text
                    else:
                        qa.hybrid_scale = 1.0 if mode.startswith("hybrid defer") else scale
                        qa.hybrid_adapters = mode.split()[-1] if mode.endswith(("next", "selected")) else "same"
                        qa.hybrid_defer = scale if mode.startswith("hybrid defer") else None
                        pred = qa.answer(item.question, mode=mode.split()[0], k=k, max_new_tokens=args.max_new_tokens).answer
                    records.append({"variant": name, "k": k, "doc": item.doc, "question": item.question, "answers": list(item.answers),
                                    "prediction": pred, "correct": is_correct(pred, item.answers), "f1": token_f1(pred, item.answers),
                                    "hit": hit, "seconds": time.perf_counter() - s})
                    if partial is not None:
                        with partial.open("a") as f:
                            f.write(json.dumps(records[-1]) + "\n")
            if (n + 1) % 10 == 0:
                print(f"{n + 1}/{len(items)} questions", flush=True)
        store.close()
    rows = []
    print(f"\n{root.name}/{args.part}: {len(items)} questions, {len(part)} documents, {ingest['entries']} chunk groups")
    print("| variant | n | accuracy [95 % CI] | short | F1 | recall@k | accuracy, gold routed | p50 s |\n|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["variant"] for r in records):
        rs = [r for r in records if r["variant"] == name]
        routed = [r for r in rs if r["hit"]]
        lo, hi = bootstrap_ci(rs)
        row = {"variant": name, "n": len(rs), "accuracy": sum(r["correct"] for r in rs) / len(rs), "ci95": [lo, hi],
               "short_accuracy": sum(r["correct"] and len(r["prediction"].split()) <= SHORT_WORDS for r in rs) / len(rs),
               "f1": statistics.mean(r["f1"] for r in rs), "recall_at_k": len(routed) / len(rs),
               "accuracy_gold_routed": sum(r["correct"] for r in routed) / max(len(routed), 1), "n_gold_routed": len(routed),
               "p50_s": statistics.median(r["seconds"] for r in rs)}
        rows.append(row)
        print(f"| {name} | {row['n']} | {row['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] | {row['short_accuracy']:.3f} | {row['f1']:.3f} | "
              f"{row['recall_at_k']:.2f} | "
              f"{row['accuracy_gold_routed']:.3f} | {row['p50_s']:.2f} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"set": root.name, "part": args.part or "all", "ingest": ingest, "transforms": args.transforms,
                                              "rows": rows, "predictions": records}, indent=1))
        partial.unlink(missing_ok=True)


def disk_use(store) -> dict:
    """Bytes of the store's files per chunk group and per token of its text, and the text's own bytes."""
    files = [f for f in (store.path / "adapters").iterdir() if f.suffix == ".safetensors"]
    size = sum(f.stat().st_size for f in files)
    tokenizer = store.generator.base.tokenizer
    groups = store.entries()
    tokens = sum(len(tokenizer(e.text, add_special_tokens=False)["input_ids"]) for e in groups)
    return {"adapter_bytes": size, "bytes_per_group": round(size / max(len(files), 1)), "bytes_per_token": round(size / max(tokens, 1)),
            "text_bytes": sum(len(e.text.encode()) for e in groups)}


def load_base():
    from doc2lora_rag import load_base_model

    return load_base_model()


if __name__ == "__main__":
    main()
