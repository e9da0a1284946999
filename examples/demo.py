"""Demo: documents become adapters; the model answers with them switched in, no text in the prompt.

Ingests examples/sample_corpus/ into an AdapterStore (a fresh temporary one unless --store), then
for the first N questions of examples/sample_qa.jsonl prints the gold answer, the answer in the store's
default mode (for the memory generator "selected": one adapter written for the question over the routed
groups' closest sentences), the routed groups' own adapters ("adapter") and the no-context answer side by
side, with timings. No mode puts retrieved text in the prompt.

    python examples/demo.py [--store DIR] [--n 8] [--k 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from doc2lora_rag.evaluation import is_correct, load_qa
from doc2lora_rag.generators import describe, make_generator, zero_adapters
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import AdapterStore

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "sample_corpus"
QA_FILE = HERE / "sample_qa.jsonl"


def run(store_dir: Path, n: int, k: int, max_new_tokens: int) -> None:
    t0 = time.perf_counter()
    generator = make_generator()  # the default: memory adapters with meta-trained transforms for SmolLM2
    ident = generator.identity()
    print(f"base model {generator.base.name}; generator: {describe(ident)}")
    if zero_adapters(ident):
        print("NOTE: no trained generator is packaged in this installation, so the adapters are all zero and the\n"
              "      adapter answers equal the no-context answers. Train one (see README) to see the method work.")
    with AdapterStore(store_dir, generator) as store:
        _ingest_and_ask(store, n, k, max_new_tokens)
    print(f"total {time.perf_counter() - t0:.0f}s")


def _ingest_and_ask(store: AdapterStore, n: int, k: int, max_new_tokens: int) -> None:
    store.add_paths([CORPUS], progress=True)
    r = store.last_ingest
    print(f"ingested {r.documents} documents -> {r.entries} adapters ({r.generated} generated, {r.reused} reused) "
          f"in {r.seconds:.1f}s ({r.generate_seconds / max(r.generated, 1):.2f}s per adapter); store: {store.path}")
    qa = StoreQA(store)
    modes = list(dict.fromkeys([qa.default_mode, "adapter", "none"]))  # the store's default first
    items = load_qa(QA_FILE)[:n]
    hits = dict.fromkeys(modes, 0)
    for i, item in enumerate(items, 1):
        print(f"\n[{i}] {item.question}")
        print(f"    gold       : {item.answers[0]}")
        sources = []
        for mode in modes:
            got = qa.answer(item.question, mode=mode, k=k, max_new_tokens=max_new_tokens)
            sources = sources or got.sources
            hits[mode] += is_correct(got.answer, item.answers)
            t = got.timings
            print(f"    {mode:<11}: {got.answer!r}  [{t['total_s']:.2f}s: route {t['route_s'] * 1000:.0f} ms, adapters "
                  f"{t['adapter_s'] * 1000:.0f} ms, generate {t['generate_s']:.2f}s; {got.prompt_tokens} prompt tokens]")
        routed = ", ".join(f"{s.get('file_name', s['doc_id'])}#{s['group_index']} ({s['score']:.2f})" for s in sources)
        if routed:
            print(f"                 routed to {routed}")
    print("\ncontains the gold answer: " + ", ".join(f"{m} {hits[m]}/{len(items)}" for m in modes)
          + f"  (default mode: {qa.default_mode})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: a temporary one, removed at the end)")
    parser.add_argument("--n", type=int, default=8, help="number of sample questions (default 8)")
    parser.add_argument("--k", type=int, default=2, help="adapters routed per question (default 2)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.store is not None:
        run(args.store, args.n, args.k, args.max_new_tokens)
        return
    with tempfile.TemporaryDirectory(prefix="doc2lora-demo-") as tmp:
        run(Path(tmp) / "store", args.n, args.k, args.max_new_tokens)


if __name__ == "__main__":
    main()
