"""Validation for `--generator memory` on training-split synthetic documents (never the held-out set).

Fresh documents (new names and facts, training templates), 2 questions each: 20 short ones (60-300
tokens, seed 123, mostly one or two 128-token chunks) and 20 long ones (300-600 tokens, seed 321, three
to five chunks). For each set it prints the context-mode accuracy and then either

  - the closed-form write's accuracy for several (positions per chunk, value scale) settings (default), or
  - with `--transforms DIR [DIR ...]`: the accuracy of the write with each folder's meta-trained
    transforms (e.g. the checkpoints of a `doc2lora train` run: a learning curve).

Uses the cached statistics (fit them first, e.g. with
`doc2lora eval data/heldout/qa.jsonl --docs data/heldout/docs --generator memory --closed-form --limit 1`).
Run: .venv/bin/python benchmarks/memory_val.py [--transforms DIR ...]   (about 3 minutes per setting on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _qa import accuracy, synth_questions

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.generators.memory import KVTransforms, MemoryGenerator, cache_path
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.synth import make_corpus

SETTINGS = ((24, 0.05), (24, 0.1), (24, 0.025), (32, 0.05), (16, 0.05))
SETS = (("short", 123, 60, 300), ("long", 321, 300, 600))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transforms", nargs="*", default=[], metavar="DIR", help="folders of meta-trained transforms")
    parser.add_argument("--no-context", action="store_true", help="skip the context-mode rows")
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = load_base_model()
    engine = AnswerEngine(base)
    gen = MemoryGenerator.load(cache_path(base.name), base)
    if args.transforms:
        runs = [({"transforms": d}, KVTransforms.load(d, base), None) for d in args.transforms]
    else:
        runs = [({"positions_per_chunk": p, "value_scale": s}, None, (p, s)) for p, s in SETTINGS]
    for name, seed, lo, hi in SETS:
        docs = make_corpus(20, "train", seed=seed, min_tokens=lo, max_tokens=hi)
        questions = synth_questions(docs)
        texts = [d.text for d in docs]
        if not args.no_context:
            context = accuracy(engine, questions, texts, contexts=True)
            print(json.dumps({"set": name, "mode": "context", "accuracy": round(context, 3), "n": len(questions)}), flush=True)
        for label, transforms, setting in runs:
            gen.transforms = transforms
            if setting is not None:
                gen.config.positions_per_chunk, gen.config.value_scale = setting
            t0 = time.perf_counter()
            acc = accuracy(engine, questions, texts, gen.generate(texts))
            print(json.dumps({"set": name, "mode": "memory adapter", **label, "accuracy": round(acc, 3), "n": len(questions),
                              "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
