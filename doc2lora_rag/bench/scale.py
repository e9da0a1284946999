"""`doc2lora bench scale`: what a store costs as it grows (disk, open, routing, joint write, memory).

Stores of N chunk groups are built through the real `AdapterStore` (manifest, files, MiniLM routing
keys) on the real base model's memory generator, except that the records are *sampled*: random MLP
inputs of the exact shape the generator writes (its layers x its positions per group x the model
width, fp16) and random next-token ids, instead of a forward pass over each group (about 1 s each
here). Sizes and every cost that does not depend on what a record holds (bytes, open, routing,
the joint write's arithmetic) are therefore those of real records; answers are not measured. Joint
writes are timed cold (records never seen: keys rebuilt through the MLP and whitened) and warm (new
combinations of records whose keys the generator already holds).
The texts are random words from the tokenizer's vocabulary, `group_tokens` tokens per group.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class ScaleConfig:
    out: str
    sizes: tuple[int, ...] = (1000, 10000)
    ks: tuple[int, ...] = (1, 2, 4, 8)
    group_tokens: int = 256
    queries: int = 200
    joint_trials: int = 10
    seed: int = 0
    keep: bool = False  # keep the stores (they are GBs); default: delete each after measuring
    routing_only: bool = False  # one sampled position per group (small files) and no joint writes: open and routing at 100k+


class SampledRecords:
    """The memory generator with `records` replaced by sampled records of the right shape (module docstring)."""

    def __init__(self, generator: Any, seed: int, positions: int | None = None) -> None:
        self.inner = generator
        self.base = generator.base
        self.reads_pieces = False
        self._rng = torch.Generator().manual_seed(seed)
        self.positions = positions or generator.config.positions_per_chunk

    def identity(self) -> dict[str, Any]:
        return {**self.inner.identity(), "sampled_records": True}

    def generate(self, texts):  # noqa: ANN001 - the protocol's signature
        return [self.inner.expand([r]) for r in self.records(texts)]

    def expand(self, records, weights=None):  # noqa: ANN001
        return self.inner.expand(records, weights)

    def records(self, texts):  # noqa: ANN001
        from ..generators.memory import MemoryRecord

        g = self.inner
        out = []
        for text in texts:
            chunks = max(1, -(-len(g.tokenize(text)) // g.max_chunk_tokens))
            n = chunks * self.positions
            width = g.emb.shape[1]
            inputs = (torch.randn(g.n_read, n, width, generator=self._rng) * 0.2).half()
            hidden = torch.randn(n, width, generator=self._rng).half() if g.n_read < len(g.layers) else None
            ids = torch.randint(0, g.emb.shape[0], (n,), generator=self._rng)
            out.append(MemoryRecord(inputs, ids, g.layers, g.base.name, {"chunks": chunks, "generator": "memory"}, hidden))
        return out


def _texts(tokenizer: Any, n: int, tokens: int, rng: random.Random) -> list[str]:
    vocab = [w for w in (tokenizer.convert_ids_to_tokens(i) for i in range(min(len(tokenizer), 20000))) if w.startswith("Ġ") and w[1:].isalpha()]
    out = []
    for _ in range(n):
        words = [rng.choice(vocab)[1:] for _ in range(int(tokens * 0.92))]  # ~1 token per word
        out.append(" ".join(words))
    return out


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit_queries(embedder: Any, queries: list[str]) -> list[Any]:
    import numpy as np

    vectors = [np.asarray(embedder.embed_query(q), dtype=np.float32) for q in queries]
    return [v / np.linalg.norm(v) for v in vectors]


def _search_only(store: Any, vectors: list[Any]) -> dict[str, Any]:
    """p50/p95 ms of the dense search alone (unit query vectors embedded beforehand) and how it searched, when
    routing runs in SQLite."""
    index = store.router.index
    if index is None or store.router.mode != "dense":
        return {}
    lat = []
    for v in vectors:
        t0 = time.perf_counter()
        index.dense(v, 4)
        lat.append(time.perf_counter() - t0)
    return {"search_p50_ms": round(_pct(lat, 0.5) * 1000, 2), "search_p95_ms": round(_pct(lat, 0.95) * 1000, 2),
            "routing": index.method()}


def _exact_recall(store: Any, vectors: list[Any], found: list[list[str]]) -> float:
    """Fraction of the exact top-4 (cosine over every key, in memory) that the store's routing returned."""
    import numpy as np

    rows = store.manifest.routing_rows()
    keys = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    hit = 0
    for v, got in zip(vectors, found, strict=True):
        best = np.argsort(-(keys @ v), kind="stable")[:4]
        hit += len({rows[i][0] for i in best} & set(got))
    return round(hit / (4 * len(vectors)), 4)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_scale_bench(cfg: ScaleConfig, progress: bool = True, generator: Any = None, embedder: Any = None) -> dict[str, Any]:
    """Build, measure and delete one store per size; `generator` (a memory generator; default: the embedded
    model's) and `embedder` (default: MiniLM) are for tests."""
    from ..routing import MiniLMEmbedder
    from ..store import AdapterStore

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if generator is None:
        from ..base_model import load_base_model
        from ..generators.memory import MemoryGenerator

        generator = MemoryGenerator.default(load_base_model())
    generator = SampledRecords(generator, cfg.seed, positions=1 if cfg.routing_only else None)
    base = generator.base
    embedder = embedder or MiniLMEmbedder()
    rng = random.Random(cfg.seed)
    rows = []
    for size in cfg.sizes:
        path = out / f"store-{size}"
        if path.exists():
            raise FileExistsError(f"{path} exists; remove it or choose another --out")
        texts = _texts(base.tokenizer, size, cfg.group_tokens, rng)
        store = AdapterStore(path, generator, router=embedder, chunk_tokens=128, group_size=2, overlap_tokens=0)
        t0 = time.perf_counter()
        # one document per group: the store splits nothing and each text is one entry
        store.add_texts(texts, ids=[f"g{i}" for i in range(size)], progress=progress, batch_size=256)
        ingest_s = time.perf_counter() - t0
        entries = len(store.entries())
        store.close()
        files = list((path / "adapters").glob("*.safetensors"))
        disk = sum(f.stat().st_size for f in files)
        manifest = (path / "manifest.sqlite").stat().st_size
        tokens = sum(len(base.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts[:200]) / min(200, size)
        del texts
        gc.collect()
        t0 = time.perf_counter()
        store = AdapterStore(path, generator, router=embedder)
        open_s = time.perf_counter() - t0
        queries = [" ".join(rng.choice(["how", "what", "when", "who"]) for _ in range(2)) + f" item {i}" for i in range(cfg.queries)]
        store.search(queries[0], 4)  # warm
        lat, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            found.append([d.id for d, _ in store.search(q, 4)])
            lat.append(time.perf_counter() - t0)
        vectors = _unit_queries(embedder, queries)
        recall = _exact_recall(store, vectors, found)
        search = _search_only(store, vectors)
        joint = {}
        ids = [e.id for e in store.entries()]
        for k in () if cfg.routing_only else cfg.ks:
            times = []
            for _ in range(cfg.joint_trials):
                chosen = rng.sample(ids, k)
                t0 = time.perf_counter()
                store.routed_adapters(chosen)  # a fresh set each time: nothing cached
                times.append(time.perf_counter() - t0)
            joint[k] = round(statistics.median(times) * 1000, 1)
        # warm: new combinations of records whose keys the generator already holds (`MemoryGenerator.prepared`)
        pool = [] if cfg.routing_only else rng.sample(ids, min(len(ids), 16))
        for one in pool:
            store.routed_adapters([one])
        warm, seen = {}, set()
        for k in () if cfg.routing_only else cfg.ks:
            times = []
            for _ in range(cfg.joint_trials * 4):
                chosen = tuple(sorted(rng.sample(pool, min(k, len(pool)))))
                if chosen in seen:
                    continue
                seen.add(chosen)
                t0 = time.perf_counter()
                store.routed_adapters(list(chosen))
                times.append(time.perf_counter() - t0)
                if len(times) == cfg.joint_trials:
                    break
            warm[k] = round(statistics.median(times) * 1000, 1) if times else None
        row = {
            "groups": entries, "tokens_per_group": round(tokens, 1), "ingest_s": round(ingest_s, 1),
            "disk_bytes": disk, "bytes_per_group": round(disk / max(len(files), 1)), "bytes_per_token": round(disk / max(entries * tokens, 1)),
            "manifest_bytes": manifest, "open_s": round(open_s, 3),
            "route_p50_ms": round(_pct(lat, 0.5) * 1000, 2), "route_p95_ms": round(_pct(lat, 0.95) * 1000, 2),
            "route_recall_at_4": recall, **search,
            "joint_write_p50_ms": joint, "joint_write_warm_p50_ms": warm, "rss_mb": round(_rss_mb(), 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        store.close()
        if not cfg.keep:
            import shutil

            shutil.rmtree(path)
    result = {"config": cfg.__dict__, "rows": rows, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "records": "sampled (random values, real shapes); see doc2lora_rag/bench/scale.py"}
    (out / "scale.json").write_text(json.dumps(result, indent=2, default=list))
    (out / "scale.md").write_text(format_table(rows))
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    ks = sorted({int(k) for r in rows for k in r["joint_write_p50_ms"]})
    head = ["groups", "KiB/group", "B/token", "open s", "route p50 ms", "route p95 ms", "search p50 / p95 ms", "recall@4",
            *[f"joint k={k} ms (warm)" for k in ks], "RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        joint = {int(k): v for k, v in r["joint_write_p50_ms"].items()}
        warm = {int(k): v for k, v in r.get("joint_write_warm_p50_ms", {}).items()}
        cells = [f"{r['groups']:,}", f"{r['bytes_per_group'] / 1024:.0f}", f"{r['bytes_per_token']:,}", f"{r['open_s']:.2f}",
                 f"{r['route_p50_ms']:.1f}", f"{r['route_p95_ms']:.1f}",
                 f"{r['search_p50_ms']:.1f} / {r['search_p95_ms']:.1f}" if "search_p50_ms" in r else "–",
                 f"{r.get('route_recall_at_4', float('nan')):.3f}",
                 *[f"{joint[k]:.0f} ({'–' if warm.get(k) is None else f'{warm[k]:.0f}'})" if k in joint else "–" for k in ks], f"{r['rss_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
