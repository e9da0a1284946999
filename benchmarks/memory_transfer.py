"""Does `--generator memory` carry over to writing styles it was not fitted on? (held-out split untouched)

The synthetic generator's training pools (templates, name syllables) are split in two by index for
this script only: i % 3 == 0 is "fit-A", i % 3 == 1 is "val-B" (i % 3 == 2 is the held-out split, not
used). Statistics and the position scorer are fitted on 200 fit-A documents (seed 11, 60-300 tokens);
context and memory-adapter accuracy are then measured on 20 fresh fit-A documents and on 20 val-B
documents (seed 123, 2 questions each, 48 new tokens). Similar memory/context ratios on both mean the
scorer is not tied to the templates it saw.
Run: .venv/bin/python benchmarks/memory_transfer.py   (about 10 minutes on 2 CPU cores)
"""

from __future__ import annotations

import json
import time

import torch

import doc2lora_rag.training.synth as synth
from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.evaluation import is_correct
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.memory import MemoryGenerator

_SUBSET = {"train": 0}


def _part(pool, split):  # replaces synth._part: the training pools narrowed to one index class
    keep = 2 if split == "heldout" else _SUBSET["train"]
    return tuple(item for i, item in enumerate(pool) if i % 3 == keep)


def corpus(subset: int, n: int, seed: int):
    _SUBSET["train"] = subset
    synth._pools.cache_clear()
    return synth.make_corpus(n, "train", seed=seed, min_tokens=60, max_tokens=300)


def main() -> None:
    torch.set_num_threads(2)
    synth._part = _part
    fit_docs, fresh_a, val_b = corpus(0, 200, 11), corpus(0, 20, 123), corpus(1, 20, 123)
    base = load_base_model()
    engine = AnswerEngine(base)
    t0 = time.perf_counter()
    gen = MemoryGenerator.fit(base, [d.text for d in fit_docs], [[q.answers[0] for q in d.qas if q.answers] for d in fit_docs])
    print(json.dumps({"fit_s": round(time.perf_counter() - t0), **gen.fit_info}), flush=True)

    def accuracy(docs, adapters=None, contexts=False) -> float:
        qs = [(i, q) for i, d in enumerate(docs) for q in [q for q in d.qas if q.answers][:2]]
        correct = 0
        for start in range(0, len(qs), 8):
            chunk = qs[start : start + 8]
            answers = engine.answer_batch(
                [q.question for _, q in chunk], [adapters[i] for i, _ in chunk] if adapters else None,
                [docs[i].text for i, _ in chunk] if contexts else None, max_new_tokens=48,
            )
            correct += sum(is_correct(a.text, q.answers) for (_, q), a in zip(chunk, answers))
        return round(correct / len(qs), 3)

    for name, docs in (("fit-A, fresh documents", fresh_a), ("val-B, unseen templates", val_b)):
        print(json.dumps({"set": name, "n": 40, "context": accuracy(docs, contexts=True),
                          "memory": accuracy(docs, gen.generate([d.text for d in docs]))}), flush=True)


if __name__ == "__main__":
    main()
