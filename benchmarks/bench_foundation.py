"""Foundation benchmark on the embedded SmolLM2-135M-Instruct: what an adapter costs next to what it replaces.

Prints a markdown table of
  * generator latency per 512-token chunk (encoder forward + hypernetwork; the untrained generator
    has the same architecture and cost as a trained one of the same config, so it is used here),
  * adapter activation latency: our `LoraSlots.load` copy next to PEFT `load_adapter` + `set_adapter`,
  * adapter size (fp32 and fp16 safetensors on disk) next to the KV cache of the same text at 512 and
    4096 tokens, measured from the cache object a forward pass with use_cache=True returns.

Timings are medians (and minima) over interleaved repeats: the machine may be shared. Public API only.
Run: .venv/bin/python benchmarks/bench_foundation.py [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch

import doc2lora_rag
from doc2lora_rag import AdapterGenerator, LoraSlots, LoraWeights, load_base_model
from doc2lora_rag.generators.memory import MemoryGenerator, cache_path

NAMES = ["Marta Kelvingrove", "Tobias Wrenfield", "Ingrid Saltmarsh", "Osric Pellham", "Yara Dunmore", "Lio Ferranti"]
PLACES = ["Pellisford", "Kessel Point", "the Altiplano", "Harrow Lane", "Velmora", "Lower Brack"]
THINGS = ["a sponge laboratory", "a rye bakery", "a chess club", "a ferry line", "a violin workshop", "a seed bank"]


def invented_text(min_tokens: int, tokenizer, seed: int = 0) -> list[int]:
    """Token ids of deterministic invented prose, at least `min_tokens` long."""
    rng = random.Random(seed)
    sentences = []
    ids: list[int] = []
    while len(ids) < min_tokens:
        for _ in range(50):
            year = rng.randint(1850, 2020)
            sentences.append(
                f"In {year}, {rng.choice(NAMES)} opened {rng.choice(THINGS)} in {rng.choice(PLACES)}, "
                f"which employed {rng.randint(2, 90)} people and closed in {year + rng.randint(3, 60)}."
            )
        ids = tokenizer(" ".join(sentences), add_special_tokens=False)["input_ids"]
    return ids


def timed(cases: dict[str, tuple], repeats: int) -> dict[str, tuple[float, float]]:
    """Median and minimum seconds of each case's `run()`, interleaved round-robin so that a busy
    machine slows every case alike; `prepare()` runs untimed before each `run()`.
    cases: name -> (prepare or None, run)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for rep in range(repeats + 1):  # the first round is a warm-up
        for name, (prepare, run) in cases.items():
            if prepare is not None:
                prepare()
            t0 = time.perf_counter()
            run()
            if rep:
                times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def kv_cache_bytes(model, ids: torch.Tensor) -> tuple[int, str]:
    """Bytes of every key/value tensor in the cache returned by one forward pass, and its dtype."""
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    cache = out.get("cache") if "cache" in out else out.get("past_key_values")  # transformers 5 renamed it
    total, dtypes = 0, set()
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            total += t.numel() * t.element_size()
            dtypes.add(str(t.dtype).replace("torch.", ""))
    return total, "/".join(sorted(dtypes))


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def fmt_time(median_min: tuple[float, float], per: int = 1) -> str:
    med, low = median_min
    return f"{fmt_ms(med / per)} (min {fmt_ms(low / per)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    base = load_base_model(device="cpu")
    tok = base.tokenizer
    ids = invented_text(4096, tok)
    text = {n: tok.decode(ids[:n]) for n in (512, 4096)}

    print("## doc2lora-rag foundation benchmark\n")
    print(f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}, {platform.platform()}")
    print(
        f"- versions: python {platform.python_version()}, torch {torch.__version__}, transformers {version('transformers')}, "
        f"peft {version('peft')}, doc2lora_rag {doc2lora_rag.__version__}"
    )
    print(f"- base model: {base.name} ({base.num_layers} layers, hidden {base.config.hidden_size}), {base.dtype}, {base.device}")
    print("- median (and minimum) of several interleaved repeats after a warm-up; the CPUs may be shared with other jobs")
    print(f"- load average at start: {os.getloadavg()[0]:.2f}\n")

    rows: list[tuple[str, str, str]] = []

    # -- generator latency ---------------------------------------------------------------------
    gen = AdapterGenerator.untrained(base)  # same cost as a trained generator with this config
    hc = gen.hypernet.config
    n512, n4096 = len(gen.tokenize(text[512])), len(gen.tokenize(text[4096]))
    (lora_512,), (lora_4096,) = gen.generate([text[512]]), gen.generate([text[4096]])
    k = lora_4096.meta["chunks"]
    t = timed({"512": (None, lambda: gen.generate([text[512]])), "4096": (None, lambda: gen.generate([text[4096]]))}, max(1, args.repeats // 2))
    rows.append(("generator, one chunk", f"{n512} tokens -> rank {hc.rank}", fmt_time(t["512"])))
    rows.append(
        (
            "generator, long text (batches of 4 chunks)",
            f"{n4096} tokens -> {k} chunks, rank {lora_4096.rank}",
            f"{fmt_time(t['4096'])}; per chunk {fmt_time(t['4096'], per=k)}",
        )
    )

    shipped = AdapterGenerator.default(base)  # the packaged generator: its own chunk size (128 tokens for SmolLM2)
    (lora_shipped,) = shipped.generate([text[512]])
    cases = {"shipped": (None, lambda: shipped.generate([text[512]]))}
    memory = None
    if (cache_path(base.name) / "config.json").is_file():  # fitted by `doc2lora eval ... --generator memory`
        memory = MemoryGenerator.load(cache_path(base.name), base)
        (lora_memory,) = memory.generate([text[512]])
        cases["memory"] = (None, lambda: memory.generate([text[512]]))
    t = timed(cases, max(1, args.repeats // 2))  # interleaved: the two generators side by side
    rows.append(
        (
            f"generator, packaged ({shipped.trained_steps} steps), one 512-token text",
            f"{n512} tokens -> {lora_shipped.meta['chunks']} chunks of <= {shipped.max_chunk_tokens}, rank {lora_shipped.rank}",
            fmt_time(t["shipped"]),
        )
    )
    if memory is None:
        rows.append(("generator, memory, one 512-token text", f"not measured: no statistics in {cache_path(base.name)}", "-"))
    else:
        rows.append(
            (
                "generator, memory (forward pass stops after layer "
                f"{memory.last_read}), one 512-token text",
                f"{n512} tokens -> {lora_memory.meta['chunks']} chunks of <= {memory.max_chunk_tokens}, rank {lora_memory.rank}",
                fmt_time(t["memory"]),
            )
        )

    # -- activation latency --------------------------------------------------------------------
    from peft import PeftModel

    slots = LoraSlots(base, num_slots=2, max_rank=64)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases: dict[str, tuple] = {}
        for lora in (lora_512, lora_4096):
            path = lora.save(tmp / f"r{lora.rank}.safetensors")
            cases[f"LoraSlots.load, rank {lora.rank} | copy into a pre-allocated slot"] = (None, lambda lora=lora: slots.load(0, lora))
            cases[f"LoraWeights.load + LoraSlots.load, rank {lora.rank} | from disk (page cache)"] = (
                None,
                lambda path=path: slots.load(0, LoraWeights.load(path)),
            )

        peft_dir = lora_512.to_peft(tmp / "peft")
        other = load_base_model(device="cpu")  # slots wrapped `base` in place; PEFT gets its own copy
        pm = PeftModel.from_pretrained(other.model, str(peft_dir), adapter_name="a0")
        names = iter(f"a{i}" for i in range(1, 100_000))
        state = {"active": "a0", "next": "a1"}

        def peft_prepare() -> None:  # untimed: drop an old adapter so memory stays flat
            old = [n for n in pm.peft_config if n != state["active"]]
            for n in old:
                pm.delete_adapter(n)
            state["next"] = next(names)

        def peft_run() -> None:
            pm.load_adapter(str(peft_dir), adapter_name=state["next"])
            pm.set_adapter(state["next"])
            state["active"] = state["next"]

        cases["PEFT load_adapter + set_adapter, rank 8 | from a to_peft dir (page cache)"] = (peft_prepare, peft_run)
        for name, value in timed(cases, args.repeats * 4).items():
            what, how = name.split(" | ")
            rows.append((f"activate: {what}", how, fmt_time(value)))

        # -- sizes -----------------------------------------------------------------------------
        size_rows = []
        for n, lora in ((512, lora_512), (4096, lora_4096)):
            fp32 = lora.save(tmp / f"s{n}-32.safetensors").stat().st_size
            fp16 = lora.save(tmp / f"s{n}-16.safetensors", dtype=torch.float16).stat().st_size
            kv, kv_dtype = kv_cache_bytes(base.model, torch.tensor([ids[:n]]))
            size_rows.append((n, lora.rank, fp32, fp16, kv, kv_dtype))

    print("| measurement | what | median |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print()
    print("| text tokens | adapter rank | adapter fp32 file | adapter fp16 file | KV cache (dtype) | KV / adapter fp32 | KV / adapter fp16 (KV at fp16) |")
    print("|---|---|---|---|---|---|---|")
    for n, r, fp32, fp16, kv, kv_dtype in size_rows:
        kv16 = kv / 2 if kv_dtype == "float32" else kv
        print(f"| {n} | {r} | {fmt_bytes(fp32)} | {fmt_bytes(fp16)} | {fmt_bytes(kv)} ({kv_dtype}) | {kv / fp32:.1f}x | {kv16 / fp16:.1f}x |")
    print()
    print(
        f"Notes: the generator is untrained ({hc.latent_dim}-wide latents, {hc.num_blocks} blocks, pooled={hc.pooled}); "
        "latency depends on the config, not on the weights. Long texts are split into chunks of at most "
        f"{gen.max_chunk_tokens} tokens, one rank-{hc.rank} block per chunk, so the adapter grows linearly with the "
        "text, as the KV cache does."
    )


if __name__ == "__main__":
    main()
