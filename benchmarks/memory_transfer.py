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
from _qa import accuracy, synth_questions

import doc2lora_rag.synth as synth
import doc2lora_rag.synth.names as synth_names
from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.generators.memory import MemoryGenerator
from doc2lora_rag.llm import AnswerEngine

_SUBSET = {"train": 0}


def _part(pool, split):  # replaces synth.names.split_part: the training pools narrowed to one index class
    keep = 2 if split == "heldout" else _SUBSET["train"]
    return tuple(item for i, item in enumerate(pool) if i % 3 == keep)


def corpus(subset: int, n: int, seed: int):
    _SUBSET["train"] = subset
    synth_names.split_pools.cache_clear()
    return synth.make_corpus(n, "train", seed=seed, min_tokens=60, max_tokens=300)


def main() -> None:
    torch.set_num_threads(2)
    synth_names.split_part = _part
    fit_docs, fresh_a, val_b = corpus(0, 200, 11), corpus(0, 20, 123), corpus(1, 20, 123)
    base = load_base_model()
    engine = AnswerEngine(base)
    t0 = time.perf_counter()
    gen = MemoryGenerator.fit(base, [d.text for d in fit_docs], [[q.answers[0] for q in d.qas if q.answers] for d in fit_docs])
    print(json.dumps({"fit_s": round(time.perf_counter() - t0), **gen.fit_info}), flush=True)

    for name, docs in (("fit-A, fresh documents", fresh_a), ("val-B, unseen templates", val_b)):
        questions, texts = synth_questions(docs), [d.text for d in docs]
        print(json.dumps({"set": name, "n": len(questions), "context": round(accuracy(engine, questions, texts, contexts=True), 3),
                          "memory": round(accuracy(engine, questions, texts, gen.generate(texts)), 3)}), flush=True)


if __name__ == "__main__":
    main()
