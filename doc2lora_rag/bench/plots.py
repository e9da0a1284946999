"""PNG plots of a benchmark run (matplotlib; skipped with a note when it is not installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plots(r: dict[str, Any], out_dir: Path, small: bool) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size, dpi = ((4.5, 3), 72) if small else ((7, 4.5), 110)
    m = r["modes"]
    modes = list(m)
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=dpi)
        plt.close(fig)
        written.append(name)

    fig, ax = plt.subplots(figsize=size)
    ax.bar(modes, [m[x]["accuracy"] for x in modes], color="tab:blue", label="accuracy")
    ax.plot(modes, [m[x]["f1"] for x in modes], "o", color="tab:orange", label="token F1")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"Accuracy by mode (n={m['none']['n']}, k={r['config']['k']})")
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", labelsize="small")
    save(fig, "accuracy_by_mode.png")

    fig, ax = plt.subplots(figsize=size)
    p50 = [m[x]["latency_p50_s"] for x in modes]
    p95 = [m[x]["latency_p95_s"] for x in modes]
    ax.bar(modes, p50, color="tab:green", label="p50")
    ax.errorbar(modes, p50, yerr=[[0] * len(modes), [b - a for a, b in zip(p50, p95)]], fmt="none", ecolor="black", capsize=4, label="p95")
    ax.set_ylabel("seconds per question")
    ax.set_title("Answer latency by mode (one question at a time)")
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", labelsize="small")
    save(fig, "latency_by_mode.png")

    mem = r["memory_vs_length"]
    mib = 2**20
    fig, ax = plt.subplots(figsize=size)
    ax.plot(mem["tokens"], [b / mib for b in mem["adapter_bytes"]], "s-", color="tab:purple", label="adapters (1 per chunk, fp32)")
    meas = [(t, b) for t, b, ok in zip(mem["tokens"], mem["kv_bytes"], mem["kv_measured"]) if ok]
    extra = [(t, b) for t, b, ok in zip(mem["tokens"], mem["kv_bytes"], mem["kv_measured"]) if not ok]
    ax.plot([t for t, _ in meas], [b / mib for _, b in meas], "o-", color="tab:red", label="KV cache (measured)")
    if extra:
        t0, b0 = meas[-1]
        ax.plot([t0] + [t for t, _ in extra], [b0 / mib] + [b / mib for _, b in extra], "o--", color="tab:red", mfc="none", label="KV cache (extrapolated)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("document length (tokens)")
    ax.set_ylabel("MiB")
    ax.set_title("Memory vs document length")
    ax.legend(fontsize="small")
    save(fig, "memory_vs_length.png")

    avc = r["accuracy_vs_chunks"]
    fig, ax = plt.subplots(figsize=size)
    colors = {"classic-rag": "tab:blue", "adapter": "tab:purple", "hybrid": "tab:green"}
    for mode, vals in avc["modes"].items():
        ax.plot(avc["k"], vals["accuracy"], "o-", color=colors[mode], label=f"{mode} accuracy")
        ax.plot(avc["k"], vals["recall"], ":", color=colors[mode], alpha=0.6, label=f"{mode} recall@k")
    ax.axhline(m["oracle"]["accuracy"], color="black", lw=0.8, ls="--", label="oracle accuracy")
    ax.set_xscale("log", base=2)
    ax.set_xticks(avc["k"], [str(k) for k in avc["k"]])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("chunks per question (k)")
    ax.set_ylabel("score")
    ax.set_title(f"Accuracy vs number of chunks (n={m['none']['n']})")
    ax.legend(fontsize="x-small", ncol=2)
    save(fig, "accuracy_vs_chunks.png")
    return written
