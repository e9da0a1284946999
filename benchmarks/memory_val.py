"""Validation sweep for `--generator memory` on training-split synthetic documents (never the held-out set).

Fresh documents (new names and facts, training templates), 2 questions each: 20 short ones (60-300
tokens, seed 123, mostly one or two 128-token chunks) and 20 long ones (300-600 tokens, seed 321, three
to five chunks). For each set it prints the context-mode accuracy and the memory adapters' accuracy for
several (positions per chunk, value scale) settings. Uses the cached statistics (fit them first, e.g.
with `doc2lora eval data/heldout/qa.jsonl --docs data/heldout/docs --generator memory --limit 1`).
Run: .venv/bin/python benchmarks/memory_val.py   (about 15 minutes on 2 CPU cores)
"""

from __future__ import annotations

import json
import time

import torch
from _qa import accuracy, synth_questions

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.memory import MemoryGenerator, cache_path
from doc2lora_rag.training.synth import make_corpus

SETTINGS = ((24, 0.05), (24, 0.1), (24, 0.025), (32, 0.05), (16, 0.05))
SETS = (("short", 123, 60, 300), ("long", 321, 300, 600))


def main() -> None:
    torch.set_num_threads(2)
    base = load_base_model()
    engine = AnswerEngine(base)
    gen = MemoryGenerator.load(cache_path(base.name), base)
    for name, seed, lo, hi in SETS:
        docs = make_corpus(20, "train", seed=seed, min_tokens=lo, max_tokens=hi)
        questions = synth_questions(docs)
        texts = [d.text for d in docs]
        context = accuracy(engine, questions, texts, contexts=True)
        print(json.dumps({"set": name, "mode": "context", "accuracy": round(context, 3), "n": len(questions)}), flush=True)
        for positions, scale in SETTINGS:
            gen.config.positions_per_chunk, gen.config.value_scale = positions, scale
            t0 = time.perf_counter()
            acc = accuracy(engine, questions, texts, gen.generate(texts))
            print(json.dumps({"set": name, "mode": "memory adapter", "positions_per_chunk": positions, "value_scale": scale,
                              "accuracy": round(acc, 3), "n": len(questions), "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
