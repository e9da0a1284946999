"""Generation time of the default (memory) generator for one 512-token text, side by side with one plain
forward pass of the base model over the same tokens (as 4 chunks of 128, batched, as the generator
reads them): `generate` (the adapter: forward pass, positions, write) and `records` (what a store
keeps: forward pass and positions; the write happens when a question routes to it).

Interleaved after a warm-up, 2 torch threads (`--threads`), packaged statistics and transforms.
Run: .venv/bin/python benchmarks/memory_latency.py [--repeats N]   (about 1 minute on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.generators.memory import MemoryGenerator
from doc2lora_rag.synth import make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = load_base_model()
    gen = MemoryGenerator.default(base, progress=False)
    ids = base.tokenizer(" ".join(d.text for d in make_corpus(6, "train", seed=5, min_tokens=200, max_tokens=300)),
                         add_special_tokens=False)["input_ids"][:512]
    text = base.tokenizer.decode(ids)
    batch = torch.tensor([ids[i:i + 128] for i in range(0, 512, 128)])

    @torch.inference_mode()
    def forward() -> None:
        base.model(input_ids=batch, use_cache=False)

    cases = {"plain forward pass (4 x 128 tokens, all 30 layers)": forward,
             "memory generator: records (what a store writes)": lambda: gen.records([text]),
             "memory generator: generate (the adapter)": lambda: gen.generate([text])}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        for name, run in cases.items():
            t0 = time.perf_counter()
            run()
            if rep:
                times[name].append(time.perf_counter() - t0)
    ref = statistics.median(times["plain forward pass (4 x 128 tokens, all 30 layers)"])
    print(f"load average {os.getloadavg()[0]:.2f}; {len(ids)} tokens, {args.threads} threads, {args.repeats} repeats (median, min, × forward)")
    for name, t in times.items():
        print(f"{name}: {statistics.median(t):.3f} s, min {min(t):.3f} s, {statistics.median(t) / ref:.2f}×")


if __name__ == "__main__":
    main()
