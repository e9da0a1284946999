"""Ingest throughput: one process against Ray Data with N workers, the same documents, the real model.

    python benchmarks/ray_ingest.py data/eval/prose/docs --workers 2 --out runs/eval/ray_ingest.json

Both ingests build a fresh store of the folder with the default generator. The single-process run uses
every torch thread; each Ray actor uses `--actor-threads` (default: cores / workers). Printed: chunk
groups per second for each, their ratio, and the Ray figures with and without its start-up (cluster
start and each actor loading the model, paid once per ingest job). Also checks that both stores hold
the same files (content hashes).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _actor_generator(threads: int):
    import torch

    from doc2lora_rag.generators import make_generator

    torch.set_num_threads(threads)
    return make_generator(None)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("docs", help="folder of documents")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--actor-threads", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import functools

    import ray
    import torch

    from doc2lora_rag.generators import make_generator
    from doc2lora_rag.loaders import load_paths
    from doc2lora_rag.ray_ingest import RayGenerate
    from doc2lora_rag.store import AdapterStore

    cores = os.cpu_count() or 1
    threads = args.actor_threads or max(1, cores // args.workers)
    docs = load_paths([args.docs])
    generator = make_generator(None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with AdapterStore(Path(tmp) / "one", generator) as one:
            one.add_documents(docs, batch_size=64)
            single = {"seconds": time.perf_counter() - t0, "groups": one.last_ingest.generated}
        t0 = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        start = time.perf_counter() - t0
        gen = RayGenerate(workers=args.workers, batch_size=4, generator_factory=functools.partial(_actor_generator, threads))
        warm = AdapterStore(Path(tmp) / "warm", generator)  # actors load the model here (a tiny ingest), then the timed one
        t1 = time.perf_counter()
        warm.add_documents(docs[:1], batch_size=64, generate=gen)
        startup = start + time.perf_counter() - t1
        warm.close()
        t0 = time.perf_counter()
        with AdapterStore(Path(tmp) / "ray", generator) as two:
            two.add_documents(docs, batch_size=64, generate=gen)
            distributed = {"seconds": time.perf_counter() - t0, "groups": two.last_ingest.generated}
        same = sorted(os.listdir(Path(tmp) / "one" / "adapters")) == sorted(os.listdir(Path(tmp) / "ray" / "adapters"))
        ray.shutdown()
    rate_one = single["groups"] / single["seconds"]
    rate_ray = distributed["groups"] / distributed["seconds"]
    result = {
        "documents": len(docs), "cores": cores, "torch_threads_single": torch.get_num_threads(), "workers": args.workers,
        "actor_threads": threads, "single_groups_per_s": round(rate_one, 3), "ray_groups_per_s": round(rate_ray, 3),
        "ratio": round(rate_ray / rate_one, 3), "ray_startup_s": round(startup, 1),
        "ratio_with_startup": round(distributed["groups"] / (distributed["seconds"] + startup) / rate_one, 3),
        "same_files": same, "single": single, "ray": distributed,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
