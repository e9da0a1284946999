"""Adapter generation time of `--generator memory` for one 512-token text: every layer read vs the forward
pass stopped after layer 24 (`MemoryConfig(last_read_layer=24)`, keys of layers 25-29 predicted).

Both generators are fitted here on the same 40 synthetic training documents (timing does not depend on
the quality of the fit) and timed interleaved, after a warm-up, with 2 torch threads.
Run: .venv/bin/python benchmarks/memory_latency.py [--repeats N]   (about 3 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.memory import MemoryConfig, MemoryGenerator
from doc2lora_rag.training.synth import make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = load_base_model()
    docs = make_corpus(40, "train", seed=11, min_tokens=60, max_tokens=300)
    texts, answers = [d.text for d in docs], [[q.answers[0] for q in d.qas if q.answers] for d in docs]
    gens = {last: MemoryGenerator.fit(base, texts, answers, MemoryConfig(last_read_layer=last)) for last in (base.num_layers - 1, 24)}
    ids = base.tokenizer(" ".join(d.text for d in make_corpus(6, "train", seed=5, min_tokens=200, max_tokens=300)),
                         add_special_tokens=False)["input_ids"][:512]
    text = base.tokenizer.decode(ids)
    times: dict[int, list[float]] = {last: [] for last in gens}
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        for last, gen in gens.items():
            t0 = time.perf_counter()
            (lora,) = gen.generate([text])
            if rep:
                times[last].append(time.perf_counter() - t0)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(base.tokenizer(text, add_special_tokens=False)['input_ids'])} tokens, "
          f"rank {lora.rank}, {args.repeats} repeats")
    for last, t in times.items():
        print(f"last_read_layer {last}: median {statistics.median(t):.3f} s, min {min(t):.3f} s")


if __name__ == "__main__":
    main()
