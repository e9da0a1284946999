"""Validation sweep for `--generator memory` on training-split synthetic documents (never the held-out set).

Fresh documents (seed 123: new names and facts, training templates), 2 questions each; prints the
context-mode accuracy and the memory adapters' accuracy for several (positions per chunk, value scale)
settings. Uses the cached statistics (fit them first, e.g. with
`doc2lora eval data/heldout/qa.jsonl --docs data/heldout/docs --generator memory --limit 1`).
Run: .venv/bin/python benchmarks/memory_val.py   (about 8 minutes on 2 CPU cores)
"""

from __future__ import annotations

import json
import time

import torch

from doc2lora_rag.base_model import cache_dir, load_base_model
from doc2lora_rag.evaluation import is_correct
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.memory import MemoryGenerator
from doc2lora_rag.training.synth import make_corpus

SETTINGS = ((24, 0.1), (24, 0.05), (40, 0.1), (16, 0.1), (24, 0.2))


def main() -> None:
    torch.set_num_threads(2)
    base = load_base_model()
    engine = AnswerEngine(base)
    gen = MemoryGenerator.load(cache_dir() / "memory" / base.name, base)
    docs = make_corpus(20, "train", seed=123, min_tokens=60, max_tokens=300)
    questions = [(i, q) for i, d in enumerate(docs) for q in [q for q in d.qas if q.answers][:2]]

    def accuracy(adapters=None, contexts=False) -> float:
        correct = 0
        for start in range(0, len(questions), 8):
            chunk = questions[start : start + 8]
            answers = engine.answer_batch(
                [q.question for _, q in chunk], [adapters[i] for i, _ in chunk] if adapters else None,
                [docs[i].text for i, _ in chunk] if contexts else None, max_new_tokens=48,
            )
            correct += sum(is_correct(a.text, q.answers) for (_, q), a in zip(chunk, answers))
        return correct / len(questions)

    print(json.dumps({"mode": "context", "accuracy": round(accuracy(contexts=True), 3), "n": len(questions)}), flush=True)
    for positions, scale in SETTINGS:
        gen.config.positions_per_chunk, gen.config.value_scale = positions, scale
        t0 = time.perf_counter()
        acc = accuracy(gen.generate([d.text for d in docs]))
        print(json.dumps({"mode": "memory adapter", "positions_per_chunk": positions, "value_scale": scale,
                          "accuracy": round(acc, 3), "n": len(questions), "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
