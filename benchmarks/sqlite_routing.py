"""Dense routing on a large manifest: the in-memory key cache against the searches inside SQLite, side by side.

    python benchmarks/sqlite_routing.py --entries 100000            # ~2 minutes to build, then the searches

A manifest with the store's real schema and triggers is filled with N entries whose routing keys are random
unit vectors around 200 centres (384 wide, as MiniLM's); queries are stored keys plus noise. Printed per
method: open time, the first search (the cache reads every key then), p50 / p95 of the next searches, and
recall@4 against the exact top-4 computed here in memory (the queries' noise is large: true neighbours have
cosines ~0.17, a hard case for sign bits). Then 100 entries committed through a second connection (another
process's ingest) and the search after it, which brings the cache up to date.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from doc2lora_rag.routing import sqlite_index
from doc2lora_rag.routing.sqlite_index import SqliteIndex
from doc2lora_rag.store import sqlite
from doc2lora_rag.store.manifest import Manifest


def _rows(keys: np.ndarray, start: int) -> list[tuple]:
    return [(f"g{i}", f"d{i}", 0, "word " * 60, "{}", f"h{i}", f"h{i}.safetensors", 0, 300, keys[i - start].tobytes(), 0.0)
            for i in range(start, start + len(keys))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=100000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--dir", default=None, help="where to build the manifest (default: a temporary folder, deleted after)")
    args = p.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="sqlite_routing_"))
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, 384)).astype(np.float32)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    keys = unit(centres[rng.integers(0, 200, args.entries)] + 0.9 * rng.standard_normal((args.entries, 384)).astype(np.float32))
    try:
        m = Manifest(root / "manifest.sqlite")
        m.create({"chunking": {}})
        t0 = time.perf_counter()
        for s in range(0, args.entries, 5000):
            m.replace_documents([], _rows(keys[s:s + 5000], s), {})
        print(f"built {args.entries} entries in {time.perf_counter() - t0:.0f} s, "
              f"{(root / 'manifest.sqlite').stat().st_size / 1e6:.0f} MB", flush=True)
        m.close()
        queries = unit(keys[rng.integers(0, args.entries, args.queries)] + 0.5 * rng.standard_normal((args.queries, 384)).astype(np.float32))
        exact = [set(np.argsort(-(keys @ q))[:4].tolist()) for q in queries]
        opened = {}
        for method in ("key cache", "sqlite"):
            t0 = time.perf_counter()
            m = Manifest(root / "manifest.sqlite")
            m.ensure_routing()
            index = SqliteIndex(m.conn, sqlite.has_vec(), m.revision if method == "key cache" else None)
            opened[method] = (m, index)
            row = {"method": None, "entries": args.entries, "open_s": round(time.perf_counter() - t0, 3)}
            t0 = time.perf_counter()
            index.dense(queries[0], 4)
            row["first_search_s"] = round(time.perf_counter() - t0, 3)
            lat, hit = [], 0
            for q, ex in zip(queries, exact):
                t0 = time.perf_counter()
                got = index.dense(q, 4)
                lat.append(time.perf_counter() - t0)
                hit += len(ex & {int(i[1:]) for i, _ in got})
            lat.sort()
            row.update(method=index.method(), p50_ms=round(lat[len(lat) // 2] * 1000, 1), p95_ms=round(lat[int(len(lat) * 0.95)] * 1000, 1),
                       recall_at_4=round(hit / (4 * len(queries)), 3))
            if not index.cache:
                row["sign_bit_candidates"] = sqlite_index.RESCORE if index.searches_bits() else None
            print(json.dumps(row), flush=True)
        other = Manifest(root / "manifest.sqlite")  # a second connection: another process's commit
        new = unit(rng.standard_normal((100, 384)).astype(np.float32))
        other.replace_documents([], _rows(new, args.entries), {})
        other.close()
        m, index = opened["key cache"]
        t0 = time.perf_counter()
        got = index.dense(new[7], 1)
        print(json.dumps({"key cache: search after another connection committed 100 entries, s": round(time.perf_counter() - t0, 3),
                          "new entry found": got[0][0] == f"g{args.entries + 7}"}), flush=True)
        for m, _ in opened.values():
            m.close()
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
