"""How far the memory write is from its ceiling: the same questions answered by adapters whose keys are chosen
with the gold answer known.

    python benchmarks/memory_oracle.py data/eval/prose --part dev
    python benchmarks/memory_oracle.py data/eval/prose --part dev --variants picked,gold --transforms DIR

Whole-document writes, as `eval_sets.py --modes adapter` makes them, in up to three variants per question:

  picked       the generator's own positions (the shipped write)
  picked+gold  those plus every position that precedes a token of an occurrence of a gold answer: the answer
               is stored whole, beside the keys that compete with it
  gold         only the positions that precede the gold answer's tokens: no competing key at all

  sent:S       every position whose next token lies in one of the S sentences of the document closest to the question
               (MiniLM cosine, the store's routing embedder): the write selects its keys by the question
  sentpicked:S the generator's own positions inside those S sentences

`gold` bounds what the values and the decoding can give when retrieval is perfect; `picked+gold` what storing
every answer would give with today's keys; `picked` is the shipped write; `sent:S` a write of few keys chosen by
the question, as a store could do at query time from the records it keeps. Same prompt and answer budget as the
evaluation (48 new tokens, containment; `short`: correct in at most 20 words), 95 % intervals by bootstrap over
documents. About 10 minutes for the prose dev part on 2 cores (three variants). Development parts only.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from eval_sets import make_generator  # benchmarks/, beside this script
from memory_diagnose import doc_chunks, flat_positions

from doc2lora_rag import LoraWeights, load_base_model
from doc2lora_rag.evaluation import SHORT_WORDS, bootstrap_ci, is_correct, load_qa, load_split
from doc2lora_rag.generators.memory.config import TARGET
from doc2lora_rag.generators.memory.select import positions_in, sentence_spans
from doc2lora_rag.generators.memory.write import GRAM
from doc2lora_rag.llm import AnswerEngine

VARIANTS = ("picked", "picked+gold", "gold")  # and sent:S, sentpicked:S


def answer_positions(offsets: list[tuple[int, int]], text: str, answers: list[str]) -> list[int]:
    """Token positions whose next token lies inside an occurrence of a gold answer (every occurrence, every answer)."""
    out = set()
    for ans in answers:
        start = text.find(ans)
        while start >= 0:
            end = start + len(ans)
            out.update(t - 1 for t, (a, b) in enumerate(offsets) if t > 0 and a < end and b > start)
            start = text.find(ans, start + 1)
    return sorted(out)


def lora(gen, keys: torch.Tensor, value_ids: torch.Tensor) -> LoraWeights:
    a, b, h = gen.write(keys, value_ids)
    return LoraWeights({TARGET: a}, {TARGET: b}, gen.layers, 1.0, gen.base.name, gen.base.config.model_type,
                       {"generator": "memory", "oracle": True}, {GRAM: h})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("set", help="evaluation set folder (docs/, qa.jsonl, split.json)")
    p.add_argument("--part", choices=["dev", "test"], required=True)
    p.add_argument("--transforms", default=None, metavar="DIR", help="memory transforms folder (default: the packaged ones)")
    p.add_argument("--closed-form", action="store_true")
    p.add_argument("--positions", type=int, default=None, help="positions per chunk of `picked` (default: the generator's)")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--embed-context", choices=["none", "prev", "title"], default="none",
                   help="sent variants: embed each sentence alone, after the sentence before it, or after the document's first line")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, metavar="FILE.json", help="every prediction of every variant")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = [v for v in args.variants.split(",") if v]
    if unknown := {v for v in variants if v not in VARIANTS and not re.fullmatch(r"(sent|sentpicked):\d+", v)}:
        p.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}, sent:S, sentpicked:S")

    root = Path(args.set)
    part = load_split(root / "qa.jsonl", args.part)
    items = [i for i in load_qa(root / "qa.jsonl", root / "docs") if i.doc in part]
    base = load_base_model()
    engine = AnswerEngine(base)
    gen = make_generator("memory", base, args.transforms, args.closed_form, args.positions)
    every = make_generator("memory", base, args.transforms, args.closed_form, gen.max_chunk_tokens)  # all positions
    embedder = None
    if any(v.startswith("sent") for v in variants):
        from doc2lora_rag.routing.embedders import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    rows: dict[str, list[dict]] = {v: [] for v in variants}
    for doc in sorted({i.doc for i in items}):
        text = (root / "docs" / doc).read_text()
        enc, chunks = doc_chunks(gen, text, doc)
        picked = flat_positions(chunks, gen.read(chunks)[2])
        keys, value_ids, picks = every.read(chunks)
        index = {pos: j for j, pos in enumerate(flat_positions(chunks, picks))}
        own = [index[x] for x in picked]
        shipped = lora(gen, keys[:, own], value_ids[own]) if "picked" in variants else None
        qs = [i for i in items if i.doc == doc]
        spans = sentence_spans(text)
        order = {}  # question -> its sentences, closest first
        if embedder is not None:
            shown = [text[a:b] for a, b in spans]
            if args.embed_context == "prev":
                shown = [(shown[j - 1] + " " if j else "") + x for j, x in enumerate(shown)]
            elif args.embed_context == "title":
                shown = [(shown[0] + ". " if j else "") + x for j, x in enumerate(shown)]
            sv = torch.tensor(embedder.embed_documents(shown))
            for item in qs:
                order[item.question] = (sv @ torch.tensor(embedder.embed_query(item.question))).argsort(descending=True).tolist()
        for variant in variants:
            adapters, covered = [], []
            for item in qs:
                gold = [index[x] for x in answer_positions(enc["offset_mapping"], text, list(item.answers)) if x in index]
                if variant == "picked":
                    adapters.append(shipped)
                    continue
                if variant.startswith("sent"):
                    kind, top = variant.split(":")
                    near = [spans[j] for j in order[item.question][: int(top)]]
                    covered.append(any(a <= m.start() < b for ans in item.answers for m in re.finditer(re.escape(ans), text)
                                       for a, b in near))
                    inside = set(positions_in(enc["offset_mapping"], near))
                    sel = [index[x] for x in (picked if kind == "sentpicked" else index) if x in inside]
                    adapters.append(lora(gen, keys[:, sel], value_ids[sel]) if sel else None)
                    continue
                sel = sorted(set(gold) | (set(own) if variant == "picked+gold" else set()))
                adapters.append(lora(gen, keys[:, sel], value_ids[sel]) if sel else None)
            answers = engine.answer_batch([i.question for i in qs], adapters, max_new_tokens=args.max_new_tokens)
            for j, (item, ans) in enumerate(zip(qs, answers)):
                ok = is_correct(ans.text, item.answers)
                rows[variant].append({"doc": doc, "question": item.question, "answers": list(item.answers), "prediction": ans.text,
                                      "correct": ok, "short_correct": ok and len(ans.text.split()) <= SHORT_WORDS,
                                      **({"answer_in_selection": covered[j]} if covered else {})})
        print(f"{doc}: " + "  ".join(f"{v} {sum(r['correct'] for r in rows[v])}" for v in variants), flush=True)

    summary = {}
    for v in variants:
        rs = rows[v]
        acc = sum(r["correct"] for r in rs) / len(rs)
        lo, hi = bootstrap_ci(rs)
        short = sum(r["short_correct"] for r in rs) / len(rs)
        summary[v] = {"accuracy": acc, "accuracy_ci95": [lo, hi], "short_accuracy": short, "n": len(rs)}
        recall = ""
        if "answer_in_selection" in rs[0]:
            summary[v]["answer_in_selection"] = sum(r["answer_in_selection"] for r in rs) / len(rs)
            recall = f"  answer in the selected sentences {summary[v]['answer_in_selection']:.2f}"
        print(f"{root.name}/{args.part} {v:>12}: {acc:.3f} [{lo:.3f}, {hi:.3f}]  short {short:.3f}  n={len(rs)} "
              f"docs={len({r['doc'] for r in rs})}{recall}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"set": root.name, "part": args.part, "transforms": args.transforms,
                                              "closed_form": args.closed_form, "positions": gen.config.positions_per_chunk,
                                              "summary": summary, "predictions": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
