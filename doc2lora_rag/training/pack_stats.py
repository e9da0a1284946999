"""Write a base model's memory statistics in the compact form the package ships (`generators.memory.compact`).

    python -m doc2lora_rag.training.pack_stats --rank 512    # the cache (fitted if missing) -> weights/<base>/memory/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..base_model import load_base_model
from ..files import atomic_write
from ..generators.memory import MemoryGenerator, cache_path, load_fit_corpus
from ..generators.memory.compact import compress


def main(argv: list[str] | None = None) -> None:
    from safetensors.torch import load_file, save_file

    p = argparse.ArgumentParser(description="Write the memory statistics of a base model in the compact form the package ships.")
    p.add_argument("--base", default="smollm2-135m-instruct")
    p.add_argument("--rank", type=int, default=512)
    p.add_argument("--out", default=None, help="default: the package's weights/<base>/memory/")
    args = p.parse_args(argv)
    base = load_base_model(args.base)
    src = cache_path(base.name)
    if not (src / "config.json").is_file():  # the exact statistics, fitted as on first use (not the packaged ones)
        MemoryGenerator.fit(base, *load_fit_corpus(), progress=True).save(src)
    stats = load_file(str(src / "stats.safetensors"))
    meta = json.loads((src / "config.json").read_text())
    packed = {k: v.contiguous() for k, v in stats.items() if k != "c_inv"}
    packed.update(compress(stats["c_inv"].float(), args.rank))
    meta["fit"] = {**meta.get("fit", {}), "c_inv_rank": args.rank}
    out = Path(args.out) if args.out else Path(__file__).resolve().parents[1] / "weights" / base.name / "memory"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "stats.safetensors", lambda tmp: save_file(packed, tmp))
    atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
    size = (out / "stats.safetensors").stat().st_size
    print(json.dumps({"out": str(out), "rank": args.rank, "bytes": size}))


if __name__ == "__main__":
    main()
