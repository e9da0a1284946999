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

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.evaluation import is_correct
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
        questions = [(i, q) for i, d in enumerate(docs) for q in [q for q in d.qas if q.answers][:2]]

        def accuracy(adapters=None, contexts=False, docs=docs, questions=questions) -> float:
            correct = 0
            for start in range(0, len(questions), 8):
                chunk = questions[start : start + 8]
                answers = engine.answer_batch(
                    [q.question for _, q in chunk], [adapters[i] for i, _ in chunk] if adapters else None,
                    [docs[i].text for i, _ in chunk] if contexts else None, max_new_tokens=48,
                )
                correct += sum(is_correct(a.text, q.answers) for (_, q), a in zip(chunk, answers))
            return correct / len(questions)

        print(json.dumps({"set": name, "mode": "context", "accuracy": round(accuracy(contexts=True), 3), "n": len(questions)}), flush=True)
        for positions, scale in SETTINGS:
            gen.config.positions_per_chunk, gen.config.value_scale = positions, scale
            t0 = time.perf_counter()
            acc = accuracy(gen.generate([d.text for d in docs]))
            print(json.dumps({"set": name, "mode": "memory adapter", "positions_per_chunk": positions, "value_scale": scale,
                              "accuracy": round(acc, 3), "n": len(questions), "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
