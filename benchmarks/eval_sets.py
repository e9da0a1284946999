"""One evaluation table: every mode on one part of an evaluation set, same prompt, same answer budget.

    python benchmarks/eval_sets.py data/eval/prose --part test                 # the shipped default generator
    python benchmarks/eval_sets.py data/eval/tech --part dev --transforms runs/natural/checkpoint
    python benchmarks/eval_sets.py data/eval/prose --part dev --generator distill --modes adapter
    python benchmarks/eval_sets.py data/eval/prose --part dev --quick          # 4 questions: prints figures, judges nothing

A set is a folder with docs/, qa.jsonl and split.json ({"dev": [...], "test": [...]}). Adapters are
generated once per document and reused by the adapter and wrong-adapter modes. Every accuracy comes
with n, the number of documents and a 95 % interval (bootstrap over documents); `short` counts a
correct answer only when it is at most 20 words. Results go to --out (JSON, with every prediction).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from doc2lora_rag import load_base_model
from doc2lora_rag.evaluation import MODES, SELECTED_MODES, evaluate, load_qa, load_split
from doc2lora_rag.llm import AnswerEngine


def make_generator(kind: str, base, transforms: str | None, closed_form: bool, positions: int | None,
                   value_scale: float | None = None, selected_value_scale: float | None = None):
    if kind == "memory":
        from doc2lora_rag.generators.memory import MemoryGenerator

        extra = {"positions_per_chunk": positions} if positions else {}
        if value_scale:
            extra["value_scale"] = value_scale
        if selected_value_scale:
            extra["selected_value_scale"] = selected_value_scale
        return MemoryGenerator.default(base, transforms, trained=not closed_form, **extra)
    if kind == "distill":
        from doc2lora_rag.generators.distill import DistillGenerator

        return DistillGenerator(base)
    from doc2lora_rag.generators import make_generator as make

    return make(kind, base)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("set", help="evaluation set folder (docs/, qa.jsonl, split.json)")
    p.add_argument("--part", choices=["dev", "test"], required=True)
    p.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES + SELECTED_MODES)}")
    p.add_argument("--sentences", type=int, default=1, help="selected modes: sentences per write (default 1)")
    p.add_argument("--generator", default="memory", choices=["memory", "hypernet", "distill"])
    p.add_argument("--transforms", default=None, metavar="DIR", help="memory transforms folder (default: the packaged ones)")
    p.add_argument("--closed-form", action="store_true")
    p.add_argument("--positions", type=int, default=None, help="memory generator: positions per chunk (default: its config)")
    p.add_argument("--value-scale", type=float, default=None, help="memory generator: value scale (default: its config)")
    p.add_argument("--selected-value-scale", type=float, default=None,
                   help="memory generator: value scale of the selected write (default: its config)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--quick", action="store_true", help="4 questions: prints figures, judges no target")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None, help="torch device of the base model (default: cuda when present, else cpu)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                   help="base model dtype (default: fp32 on CPU, the checkpoint's own on GPU)")
    p.add_argument("--out", default=None, metavar="FILE.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.set)
    part = load_split(root / "qa.jsonl", args.part)
    items = [i for i in load_qa(root / "qa.jsonl", root / "docs") if i.doc in part]
    if args.quick:
        items = items[:4]
    base = load_base_model(device=args.device, dtype=getattr(torch, args.dtype) if args.dtype else None)
    engine = AnswerEngine(base)
    modes = [m for m in args.modes.split(",") if m]
    gen = make_generator(args.generator, base, args.transforms, args.closed_form, args.positions, args.value_scale,
                         args.selected_value_scale) \
        if any(m in ("adapter", "wrong-adapter", *SELECTED_MODES) for m in modes) else None
    adapters: dict = {}
    rows, preds = [], {}
    scratch = tempfile.mkdtemp(prefix="eval_sets_")  # per run: two runs side by side do not share prediction files
    for mode in modes:
        t0 = time.perf_counter()
        out = Path(scratch) / f"{mode}.jsonl"
        s = evaluate(items, root / "docs", mode, engine, gen, max_new_tokens=args.max_new_tokens, out=out, adapters=adapters,
                     sentences=args.sentences)
        s["seconds"] = time.perf_counter() - t0
        preds[mode] = [json.loads(x) for x in out.read_text().splitlines() if x]
        rows.append(s)
        lo, hi = s["accuracy_ci95"]
        print(f"{root.name}/{args.part} {mode:>13}: {s['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]  short {s['short_accuracy']:.3f}  "
              f"f1 {s['f1']:.3f}  n={s['n']} docs={s['docs']}", flush=True)
    ctx = next((r["accuracy"] for r in rows if r["mode"] == "context"), None)
    ada = next((r["accuracy"] for r in rows if r["mode"] == "adapter"), None)
    sel = next((r["accuracy"] for r in rows if r["mode"] == "selected"), None)
    if ctx and sel is not None:
        print(f"selected / context = {sel / ctx:.2f}" + ("  (quick run: judges no target)" if args.quick else ""))
    if ctx and ada is not None:
        print(f"adapter / context = {ada / ctx:.2f}" + ("  (quick run: judges no target)" if args.quick else ""))
    if args.out:
        ident = gen.identity() if gen is not None and hasattr(gen, "identity") else None
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({
            "set": root.name, "part": args.part, "date": date.today().isoformat(), "machine": platform.machine(),
            "threads": args.threads, "device": str(base.device), "dtype": str(base.dtype), "torch": torch.__version__,
            "generator": args.generator, "transforms": args.transforms,
            "closed_form": args.closed_form, "generator_identity": ident, "quick": args.quick, "rows": rows, "predictions": preds,
        }, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
