"""Adapter generation time of `--generator memory` for one 512-token text: the closed form reading every
layer, the closed form with the forward pass stopped after layer 24 (`MemoryConfig(last_read_layer=24)`,
keys of layers 25-29 predicted), and every layer read with the packaged meta-trained transforms.

The statistics are fitted here on the same 40 synthetic training documents (timing does not depend on
the quality of the fit); the three are timed interleaved, after a warm-up, with 2 torch threads.
Run: .venv/bin/python benchmarks/memory_latency.py [--repeats N]   (about 3 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.generators.memory import KVTransforms, MemoryConfig, MemoryGenerator, packaged_transforms_dir
from doc2lora_rag.synth import make_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = load_base_model()
    docs = make_corpus(40, "train", seed=11, min_tokens=60, max_tokens=300)
    texts, answers = [d.text for d in docs], [[q.answers[0] for q in d.qas if q.answers] for d in docs]
    full = MemoryGenerator.fit(base, texts, answers)
    gens = {"closed form, every layer": full,
            "closed form, last_read_layer 24": MemoryGenerator.fit(base, texts, answers, MemoryConfig(last_read_layer=24)),
            "trained transforms, every layer": MemoryGenerator(base, full.stats, full.config,
                                                               KVTransforms.load(packaged_transforms_dir(base.name), base))}
    ids = base.tokenizer(" ".join(d.text for d in make_corpus(6, "train", seed=5, min_tokens=200, max_tokens=300)),
                         add_special_tokens=False)["input_ids"][:512]
    text = base.tokenizer.decode(ids)
    times: dict[str, list[float]] = {name: [] for name in gens}
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        for name, gen in gens.items():
            t0 = time.perf_counter()
            (lora,) = gen.generate([text])
            if rep:
                times[name].append(time.perf_counter() - t0)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(base.tokenizer(text, add_special_tokens=False)['input_ids'])} tokens, "
          f"rank {lora.rank}, {args.repeats} repeats")
    for name, t in times.items():
        print(f"{name}: median {statistics.median(t):.3f} s, min {min(t):.3f} s")


if __name__ == "__main__":
    main()
