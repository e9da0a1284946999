"""What a memory store's files hold, side by side: records (MLP inputs at the picked positions, fp16) or
token records (the chunks' token ids; the frozen model reads a group when a question first routes to it).

For each form: a store of the documents is ingested (real model, one process), then routed sets of k
groups are built the way a question builds them (`routed_adapters`): cold (a fresh generator cache:
files read, token records read by the model, keys prepared) and warm (the same records met before in
a new combination, the joint-adapter cache cleared). Prints ingest time, bytes per group and per token
of text, and p50 cold / warm milliseconds per routed set at each k.

    python benchmarks/record_forms.py data/eval/prose/docs --ks 1 2 4 --sets 12
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("docs")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--sets", type=int, default=12, help="routed sets per k")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from doc2lora_rag.generators import make_generator
    from doc2lora_rag.loaders import load_paths
    from doc2lora_rag.store import AdapterStore

    generator = make_generator("memory")
    docs = load_paths([args.docs])
    tok = generator.base.tokenizer
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("record", "tokens"):
            store = AdapterStore(Path(tmp) / fmt, generator, router="bm25", adapter_format=fmt)
            t0 = time.perf_counter()
            store.add_documents(docs, ids=[f"{d.metadata['file_name']}:p{d.metadata.get('page', 0)}" for d in docs])
            ingest = time.perf_counter() - t0
            files = list((store.path / "adapters").iterdir())
            size = sum(f.stat().st_size for f in files)
            entries = store.entries()
            tokens = sum(len(tok(e.text, add_special_tokens=False)["input_ids"]) for e in entries)
            ids = [e.id for e in entries]
            row = {"form": fmt, "groups": len(ids), "ingest_s": round(ingest, 1), "bytes_per_group": round(size / len(files)),
                   "bytes_per_token": round(size / tokens, 1)}
            rng = random.Random(0)
            for k in args.ks:
                cold, warm = [], []
                for _ in range(args.sets):
                    routed = rng.sample(ids, k)
                    generator.forget()
                    store.adapters.forget()
                    s = time.perf_counter()
                    store.routed_adapters(routed)
                    cold.append(time.perf_counter() - s)
                    store.adapters.forget(files=False)
                    s = time.perf_counter()
                    store.routed_adapters(list(reversed(routed)))  # the same records, a new combination
                    warm.append(time.perf_counter() - s)
                row[f"k{k}_cold_ms"] = round(1000 * statistics.median(cold))
                row[f"k{k}_warm_ms"] = round(1000 * statistics.median(warm))
            rows.append(row)
            print(json.dumps(row), flush=True)
            store.close()
    print("\n| form | groups | ingest s | bytes / group | bytes / token | " + " | ".join(f"k={k} cold / warm ms" for k in args.ks) + " |")
    print("|---|---|---|---|---|" + "---|" * len(args.ks))
    for r in rows:
        print(f"| {r['form']} | {r['groups']} | {r['ingest_s']} | {r['bytes_per_group']:,} | {r['bytes_per_token']:,} | "
              + " | ".join(f"{r[f'k{k}_cold_ms']} / {r[f'k{k}_warm_ms']}" for k in args.ks) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
