"""Memory adapters behind the store: routed answers with the k routed adapters written jointly
(what StoreQA does) against the same adapters added up (rank concatenation), and classic RAG on the
same routing, for several k. One ingest, then every question in every variant, interleaved.

    python benchmarks/memory_store.py --qa data/heldout/qa.jsonl --docs data/heldout/docs --per-doc 2 --ks 1 2 4
    python benchmarks/memory_store.py --qa examples/sample_qa.jsonl --docs examples/sample_corpus --ks 1 2 4

Prints one JSON object per variant (accuracy, token F1, recall@k, p50 latency) and a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from doc2lora_rag.evaluation import is_correct, load_qa, token_f1
from doc2lora_rag.generators import make_generator
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import AdapterStore


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qa", required=True)
    p.add_argument("--docs", required=True)
    p.add_argument("--store", default=None, help="reuse/keep the store here (default: a temporary one)")
    p.add_argument("--per-doc", type=int, default=0)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--out", default=None, help="write every prediction as JSONL")
    args = p.parse_args(argv)

    items = load_qa(args.qa)
    if args.per_doc:
        seen: dict[str, int] = {}
        items = [i for i in items if seen.setdefault(i.doc, 0) < args.per_doc and not seen.update({i.doc: seen[i.doc] + 1})]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(args.store or Path(tmp) / "store")
        generator = make_generator("memory")
        store = AdapterStore(where, generator)
        t0 = time.perf_counter()
        store.add_paths([args.docs], progress=True)
        r = store.last_ingest
        print(json.dumps({"ingest": {"documents": len(store), "entries": len(store.entries()), "generated": r.generated,
                                     "seconds": round(time.perf_counter() - t0, 1),
                                     "generate_s_per_group": round(r.generate_seconds / max(r.generated, 1), 3)}}))
        qa = StoreQA(store)
        records = []
        for n, item in enumerate(items):
            for k in args.ks:
                hits = store.search(item.question, k)
                ids = [d.id for d, _ in hits]
                hit = item.doc in [d.metadata.get("file_name") for d, _ in hits]
                variants = ["adapter"] if k == 1 else ["joint", "summed"]
                for variant in [*variants, "rag"]:
                    s = time.perf_counter()
                    if variant == "summed":  # the same routed adapters added up (rank concatenation)
                        pred = qa.engine.answer(item.question, [store.adapter(i) for i in ids], max_new_tokens=args.max_new_tokens).text
                    else:
                        mode = "rag" if variant == "rag" else "adapter"
                        pred = qa.answer(item.question, mode=mode, k=k, max_new_tokens=args.max_new_tokens).answer
                    name = f"{variant} k={k}"
                    records.append({"variant": name, "doc": item.doc, "question": item.question, "answers": item.answers,
                                    "prediction": pred, "correct": is_correct(pred, item.answers), "f1": token_f1(pred, item.answers),
                                    "hit": hit, "seconds": time.perf_counter() - s})
            if (n + 1) % 10 == 0:
                print(f"{n + 1}/{len(items)} questions", flush=True)
        store.close()
    if args.out:
        Path(args.out).write_text("\n".join(json.dumps(r) for r in records) + "\n")
    names = list(dict.fromkeys(r["variant"] for r in records))
    print("\n| variant | n | accuracy | F1 | recall@k | p50 s |\n|---|---|---|---|---|---|")
    for name in names:
        rs = [r for r in records if r["variant"] == name]
        row = {"variant": name, "n": len(rs), "accuracy": sum(r["correct"] for r in rs) / len(rs),
               "f1": statistics.mean(r["f1"] for r in rs), "recall_at_k": sum(r["hit"] for r in rs) / len(rs),
               "p50_s": statistics.median(r["seconds"] for r in rs)}
        print(f"| {name} | {row['n']} | {row['accuracy']:.3f} | {row['f1']:.3f} | {row['recall_at_k']:.2f} | {row['p50_s']:.2f} |")


if __name__ == "__main__":
    main()
