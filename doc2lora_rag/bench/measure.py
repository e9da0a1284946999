"""Measurements: KV-cache bytes, percentiles, per-mode summaries, memory against document length, the machine."""

from __future__ import annotations

import math
import os
import platform
import statistics
from typing import Any

import torch

from .config import MEMORY_LENGTHS, ROUTED_MODES


def kv_cache_bytes(cache: Any) -> int:
    """Sum of key/value tensor bytes of a cache object (DynamicCache `.layers`, legacy tuples, key_cache lists)."""
    if cache is None:
        return 0
    if hasattr(cache, "layers"):
        return sum(kv_cache_bytes(t) for layer in cache.layers for t in (getattr(layer, "keys", None), getattr(layer, "values", None)))
    if hasattr(cache, "key_cache"):
        return sum(kv_cache_bytes(t) for t in (*cache.key_cache, *cache.value_cache))
    if isinstance(cache, torch.Tensor):
        return cache.numel() * cache.element_size()
    if isinstance(cache, (tuple, list)):
        return sum(kv_cache_bytes(t) for t in cache)
    raise TypeError(f"unknown cache object {type(cache).__name__}")


@torch.no_grad()
def measure_kv(base: Any, ids: list[int]) -> int:
    """KV-cache bytes of one backbone forward pass over `ids` (no LM head: logits are not the cache)."""
    backbone = base.model.get_decoder() if hasattr(base.model, "get_decoder") else base.model.model
    x = torch.tensor([ids], device=base.device)
    out = backbone(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True)
    cache = out["cache"] if "cache" in out else out.past_key_values
    return kv_cache_bytes(cache)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def versions() -> dict[str, str]:
    """Versions of Python, torch, this library, transformers and peft (`doc2lora info` and results.json)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    out = {"python": platform.python_version(), "torch": torch.__version__, "doc2lora_rag": __version__}
    for dist in ("transformers", "peft"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in load],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def summary(records: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    rs = [r for r in records if r["mode"] == mode]
    lat = [r["latency_s"] for r in rs]
    out = {
        "n": len(rs),
        "accuracy": sum(r["correct"] for r in rs) / len(rs),
        "f1": statistics.fmean(r["f1"] for r in rs),
        "recall_at_k": statistics.fmean(r["hit"] for r in rs) if mode in ROUTED_MODES else None,
        "latency_p50_s": percentile(lat, 50),
        "latency_p95_s": percentile(lat, 95),
        "prompt_tokens_mean": statistics.fmean(r["prompt_tokens"] for r in rs),
        "kv_cache_bytes_mean": statistics.fmean(r["kv_bytes"] for r in rs),
        "adapter_mem_bytes_mean": statistics.fmean(r["adapter_mem_bytes"] for r in rs),
    }
    return out


def memory_curve(base: Any, per_chunk_bytes: int, max_chunk_tokens: int, measure_up_to: int) -> dict[str, Any]:
    """Adapter bytes (chunks x measured bytes per chunk) and KV bytes (measured, then extrapolated linearly)."""
    vocab = len(base.tokenizer)
    g = torch.Generator().manual_seed(0)
    measured: dict[int, int] = {}
    for n in MEMORY_LENGTHS:
        if n <= measure_up_to:
            measured[n] = measure_kv(base, torch.randint(100, vocab, (n,), generator=g).tolist())
    xs = sorted(measured)
    slope = (measured[xs[-1]] - measured[xs[0]]) / (xs[-1] - xs[0]) if len(xs) > 1 else measured[xs[0]] / xs[0]
    kv = [measured.get(n, measured[xs[-1]] + slope * (n - xs[-1])) for n in MEMORY_LENGTHS]
    adapters = [math.ceil(n / max_chunk_tokens) * per_chunk_bytes for n in MEMORY_LENGTHS]
    return {
        "tokens": list(MEMORY_LENGTHS),
        "adapter_bytes": adapters,
        "kv_bytes": [int(x) for x in kv],
        "kv_measured": [n in measured for n in MEMORY_LENGTHS],
        "max_chunk_tokens": max_chunk_tokens,
        "adapter_bytes_per_chunk": per_chunk_bytes,
    }
