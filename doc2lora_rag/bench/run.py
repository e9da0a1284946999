"""One benchmark run: ingest the documents, answer every question in every mode, write results and report."""

from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..evaluation import QAItem, is_correct, load_qa, token_f1
from ..prompts import prompt_ids
from ..rag import CONTEXT_SEPARATOR, StoreQA
from .classic import ClassicRAG
from .config import CHUNK_COUNTS, ROUTED_MODES, BenchConfig, bench_modes
from .measure import machine, measure_kv, memory_curve, summary, versions
from .plots import plots
from .report import report, targets

logger = logging.getLogger(__name__)


def _distill_generator(base: Any, tiny: bool) -> Any:
    from ..generators.distill import DistillConfig, DistillGenerator

    return DistillGenerator(base, DistillConfig(steps=2, max_prompts=4, max_answer_tokens=4) if tiny else None)


def _models(cfg: BenchConfig) -> tuple[Any, Any]:
    from ..base_model import load_base_model, tiny_random_base
    from ..generators import make_generator
    from ..generators.hypernet import AdapterGenerator

    base = tiny_random_base() if cfg.tiny else load_base_model()
    if cfg.generator == "distill":
        return base, _distill_generator(base, cfg.tiny)
    if cfg.tiny:
        return base, AdapterGenerator.untrained(base)
    return base, make_generator(cfg.generator or None, base)


def _select(items: list[QAItem], cfg: BenchConfig) -> list[QAItem]:
    if cfg.quick:
        docs = list(dict.fromkeys(i.doc for i in items))[:2]
        kept, seen = [], {}
        for i in items:
            if i.doc in docs and seen.get(i.doc, 0) < 2:
                seen[i.doc] = seen.get(i.doc, 0) + 1
                kept.append(i)
        items = kept
    limit = cfg.limit or (4 if cfg.quick else 0)
    return items[:limit] if limit else items


def _answer_one(mode: str, item: QAItem, k: int, cfg: BenchConfig, engine: Any, qa: Any, store: Any, classic: Any,
                doc_texts: dict[str, str]) -> tuple[str, str | None, list[str], int]:
    """One question in one mode with k chunks: (answer, context in the prompt, routed file names, adapter bytes)."""
    if mode == "classic-rag":
        hits = classic.similarity_search(item.question, k=k)
        context = CONTEXT_SEPARATOR.join(d.text for d in hits)
        text = engine.answer(item.question, context=context, max_new_tokens=cfg.max_new_tokens).text
        return text, context, [d.metadata.get("file_name") for d in hits], 0
    if mode in ("adapter", "hybrid", "selected"):
        res = qa.answer(item.question, mode=mode, k=k, max_new_tokens=cfg.max_new_tokens)
        mem = sum(store.adapter(i).nbytes for i in res.adapter_ids) if mode != "selected" else res.adapter_bytes
        return res.answer, res.context, [s.get("file_name") for s in res.sources], mem
    context = doc_texts[item.doc] if mode == "oracle" else None
    return engine.answer(item.question, context=context, max_new_tokens=cfg.max_new_tokens).text, context, [], 0


def _answer_all(items: list[QAItem], cfg: BenchConfig, base: Any, engine: Any, qa: Any, store: Any, classic: Any,
                doc_texts: dict[str, str]) -> list[dict]:
    engine.answer("Warm up.", max_new_tokens=2)
    records = []
    modes = bench_modes(store.generator)
    for n, item in enumerate(items, 1):
        for mode in modes:
            t0 = time.perf_counter()
            text, context, routed, mem = _answer_one(mode, item, cfg.k, cfg, engine, qa, store, classic, doc_texts)
            latency = time.perf_counter() - t0
            ids = prompt_ids(base.tokenizer, item.question, context)
            records.append(
                {
                    "mode": mode,
                    "doc": item.doc,
                    "question": item.question,
                    "answers": list(item.answers),
                    "prediction": text,
                    "correct": is_correct(text, item.answers),
                    "f1": token_f1(text, item.answers),
                    "latency_s": latency,
                    "prompt_tokens": len(ids),
                    "kv_bytes": measure_kv(base, ids),
                    "routed_docs": routed,
                    "hit": item.doc in routed,
                    "adapter_mem_bytes": mem,
                }
            )
        logger.info("question %d/%d answered in every mode", n, len(items))
    return records


def _accuracy_vs_chunks(items: list[QAItem], records: list[dict], cfg: BenchConfig, engine: Any, qa: Any, store: Any,
                        classic: Any, doc_texts: dict[str, str], entries: list[Any]) -> dict[str, Any]:
    """Accuracy and recall of the routed modes with k = 1, 2, 4, 8 chunks (capped at the chunk groups there are).

    The k of the main run is taken from its records; the other k values answer every question again.
    """
    n_groups = len(entries)
    ks = sorted({k for k in CHUNK_COUNTS if k <= n_groups} | {min(cfg.k, n_groups)})
    if cfg.quick:
        ks = sorted({1, min(cfg.k, n_groups)})
    # k adapters share one engine slot: an engine that cannot grow its slots keeps the k whose worst case fits
    max_entry_rank = max(store.adapter(e.id).rank for e in entries)
    fits = [k for k in ks if engine.grow or k == cfg.k or k * max_entry_rank <= engine.slots.max_rank]
    out: dict[str, Any] = {
        "k": fits,
        "skipped_k": [k for k in ks if k not in fits],
        "max_entry_rank": max_entry_rank,
        "engine_max_rank": engine.slots.max_rank,
        "modes": {m: {"accuracy": [], "recall": [], "f1": []} for m in bench_modes(store.generator) if m in ROUTED_MODES},
    }
    ks = fits
    for k in ks:
        for mode in out["modes"]:
            if k == cfg.k:
                rows = [(r["prediction"], r["hit"], r["answers"]) for r in records if r["mode"] == mode]
            else:
                rows = []
                for item in items:
                    text, _, routed, _ = _answer_one(mode, item, k, cfg, engine, qa, store, classic, doc_texts)
                    rows.append((text, item.doc in routed, item.answers))
            acc = out["modes"][mode]
            acc["accuracy"].append(sum(is_correct(t, a) for t, _, a in rows) / len(rows))
            acc["f1"].append(statistics.fmean(token_f1(t, a) for t, _, a in rows))
            acc["recall"].append(sum(h for _, h, _ in rows) / len(rows))
        logger.info("accuracy vs chunks: k=%d done", k)
    return out


def _distill_run(items: list[QAItem], cfg: BenchConfig, base: Any, engine: Any, generator: Any, doc_texts: dict[str, str], n_docs: int) -> dict:
    """Context distillation on `n_docs` documents: seconds per chunk against the one-pass generator's, and accuracy."""
    docs = list(dict.fromkeys(i.doc for i in items))[:n_docs]
    dist = generator if cfg.generator == "distill" else _distill_generator(base, cfg.tiny)
    hyper = None if cfg.generator == "distill" else generator
    out: dict[str, Any] = {"documents": docs, "chunks": 0, "seconds": 0.0, "generator_seconds": 0.0, "records": []}
    if hyper is not None:
        hyper.generate(["warm up " * 8])
    for d in docs:
        logger.info("context distillation of %s", d)
        t0 = time.perf_counter()
        (lora,) = dist.generate([doc_texts[d]])
        out["seconds"] += time.perf_counter() - t0
        out["chunks"] += int(lora.meta.get("chunks", 1))
        lora.meta["id"] = f"bench-distill:{d}"
        if hyper is not None:
            t0 = time.perf_counter()
            hyper.generate([doc_texts[d]])
            out["generator_seconds"] += time.perf_counter() - t0
        for item in (i for i in items if i.doc == d):
            text = engine.answer(item.question, [lora], max_new_tokens=cfg.max_new_tokens).text
            out["records"].append(
                {"doc": d, "question": item.question, "prediction": text, "correct": is_correct(text, item.answers), "f1": token_f1(text, item.answers)}
            )
    rs = out["records"]
    out["seconds_per_chunk"] = out["seconds"] / max(out["chunks"], 1)
    out["generator_seconds_per_chunk"] = out["generator_seconds"] / max(out["chunks"], 1) if hyper is not None else None
    out["accuracy"] = sum(r["correct"] for r in rs) / len(rs) if rs else None
    out["f1"] = statistics.fmean(r["f1"] for r in rs) if rs else None
    out["n"] = len(rs)
    return out


def run_rag_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run the benchmark described in the module docstring; returns results.json's content.

    With `cfg.tiny` torch runs on one thread for the call (a tiny model gains nothing from more, and
    loses much on a busy machine); the previous thread count is restored afterwards.
    """
    threads = torch.get_num_threads()
    if cfg.tiny:
        torch.set_num_threads(1)
    try:
        return _run(cfg)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: BenchConfig) -> dict[str, Any]:
    from ..llm import AnswerEngine
    from ..routing import MiniLMEmbedder, Router
    from ..store import ADAPTER_DIR, AdapterStore

    t_start = time.perf_counter()
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = _select(load_qa(cfg.qa, cfg.docs), cfg)
    base, generator = _models(cfg)
    engine = AnswerEngine(base)
    embedder = MiniLMEmbedder()
    results: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": asdict(cfg),
        "machine": machine(),
        "versions": versions(),
        "base_model": base.identity(),
        "generator": generator.identity(),
        "modes": {},
    }
    with tempfile.TemporaryDirectory(prefix="doc2lora-bench-") as tmp:
        store = AdapterStore(Path(tmp) / "store", generator, router=Router(embedder))
        store.add_paths([cfg.docs])  # every document of the folder: routing chooses among all of them
        ing = store.last_ingest
        logger.info("ingested %d chunk groups in %.1fs", ing.entries, ing.seconds)
        entries = store.entries()
        names = {e.metadata.get("file_name") for e in entries}
        missing = sorted({i.doc for i in items} - names)
        if missing:
            raise InputError(f"the QA file names documents {missing[:5]} that were not loaded from {cfg.docs}")
        doc_texts = {}
        for name in sorted({i.doc for i in items}):
            ids = list(dict.fromkeys(e.doc_id for e in entries if e.metadata.get("file_name") == name))
            doc_texts[name] = "\n\n".join(d.text for d in store.get_by_ids(ids))

        t0 = time.perf_counter()
        classic = ClassicRAG(embedder)
        classic.add([e.id for e in entries], [e.text for e in entries], [{**e.metadata, "entry_id": e.id} for e in entries])
        classic_ingest = time.perf_counter() - t0

        qa = StoreQA(store, engine)
        records = _answer_all(items, cfg, base, engine, qa, store, classic, doc_texts)
        results["accuracy_vs_chunks"] = _accuracy_vs_chunks(items, records, cfg, engine, qa, store, classic, doc_texts, entries)
        files = sorted((store.path / ADAPTER_DIR).glob("*.safetensors"))
        one = store.adapter(entries[0].id)
        per_chunk = one.nbytes // max(int(one.meta.get("chunks", 1) or 1), 1)
        results["corpus"] = {"documents": len(store), "chunk_groups": len(entries), "questions": len(items), "chunking": store.chunking}
        results["ingest"] = {
            "seconds": ing.seconds,
            "seconds_per_chunk_group": ing.seconds / max(ing.entries, 1),
            "generate_seconds_per_adapter": ing.generate_seconds / max(ing.generated, 1),
            "adapters_generated": ing.generated,
            "classic_seconds_per_chunk_group": classic_ingest / max(len(entries), 1),
        }
        results["adapters"] = {
            "files": len(files),
            "disk_bytes": sum(f.stat().st_size for f in files),
            "disk_dtype": store.adapter_dtype,
            "disk_bytes_per_adapter_mean": sum(f.stat().st_size for f in files) / max(len(files), 1),
            "mem_bytes_per_chunk": per_chunk,
        }
        store.close()
    for mode in bench_modes(generator):
        results["modes"][mode] = summary(records, mode)
    max_chunk = int(getattr(generator, "max_chunk_tokens", 512))
    results["memory_vs_length"] = memory_curve(base, per_chunk, max_chunk, 1024 if cfg.quick else 4096)
    logger.info("memory vs length measured")
    n_distill = cfg.distill_docs if cfg.distill_docs is not None else (0 if cfg.quick else 1)
    results["distill"] = _distill_run(items, cfg, base, engine, generator, doc_texts, n_distill) if n_distill else None
    results["targets"] = targets(results, cfg)
    results["total_seconds"] = time.perf_counter() - t_start
    (out_dir / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    results["files"] = ["results.json", "predictions.jsonl", "report.md", *plots(results, out_dir, cfg.quick)]
    (out_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out_dir / "report.md").write_text(report(results, cfg), encoding="utf-8")
    return results
