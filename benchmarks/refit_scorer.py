"""Refit only the memory generator's position scorer on a corpus with answers (e.g. the natural-text corpus).

Writes a folder with the statistics (the scorer replaced, everything else as fitted) and the transforms
carrying that scorer (`KVTransforms.scorer`: a generator built from them picks positions with it), which
`eval_sets.py --transforms DIR` and `MemoryGenerator.default(base, DIR)` read:

    python benchmarks/refit_scorer.py runs/corpus/natural.jsonl --out runs/scorer-natural --holdout 16

The last `--holdout` documents of the corpus (the trainer's validation documents) are left out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from doc2lora_rag.base_model import load_base_model
from doc2lora_rag.generators.memory import KVTransforms, MemoryGenerator, load_fit_corpus, packaged_transforms_dir
from doc2lora_rag.generators.memory.fit import fit_scorer
from doc2lora_rag.synth import load_jsonl_corpus


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", help="JSONL corpus with gold answers (natural_corpus.py output)")
    p.add_argument("--out", required=True)
    p.add_argument("--holdout", type=int, default=16)
    p.add_argument("--transforms", default=None, help="transforms folder to copy beside (default: the packaged ones)")
    p.add_argument("--with-fit-corpus", action="store_true",
                   help="also the synthetic documents the statistics were fitted on (packaged fit_corpus.json)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = load_base_model("smollm2-135m-instruct")
    gen = MemoryGenerator.default(base, trained=False)
    docs = [d for d in load_jsonl_corpus(args.corpus) if any(q.answers for q in d.qas)]
    docs = docs[: len(docs) - args.holdout] if args.holdout else docs
    texts, answers = [d.text for d in docs], [[a for q in d.qas for a in q.answers[:1]] for d in docs]
    if args.with_fit_corpus:
        fit_texts, fit_answers = load_fit_corpus()
        texts, answers = texts + fit_texts, answers + fit_answers
    scorer = fit_scorer(base, texts, answers, gen.config, progress=True)
    gen.stats.update(scorer)
    gen.fit_info = {**gen.fit_info, "scorer": {"corpus": str(args.corpus), "documents": len(texts)}}
    out = Path(args.out)
    gen.save(out)
    src = Path(args.transforms) if args.transforms else packaged_transforms_dir(base.name)
    transforms = KVTransforms.load(src, base)
    transforms.scorer = scorer
    info = json.loads((src / "transforms.json").read_text())
    extra = {k: v for k, v in info.items() if k not in ("format", "base_model", "rank", "stats_version", "trained_steps", "generation")}
    transforms.save(out, base, **{**extra, "scorer": {"corpus": str(args.corpus), "documents": len(texts),
                                                          "with_fit_corpus": args.with_fit_corpus}})
    print(json.dumps({"out": str(out), "documents": len(texts), "transforms": str(src)}))


if __name__ == "__main__":
    main()
