"""How often the question-selected write's sentence choice holds the answer, for several ways to choose.

The selected write (`MemoryGenerator.generate_for`) answers only where the chosen sentences hold the answer
(prose dev, session 14: 0.44 of those questions, none of the others), so the choice bounds it. No language model
runs here: each chooser ranks a document's sentences for each question, and the table gives the fraction of
questions with a gold answer inside the top-S sentences, with a 95 % interval (bootstrap over documents).

    python benchmarks/sentence_choice.py data/eval/prose --part dev
    python benchmarks/sentence_choice.py data/eval/tech --part dev --top 1 2 3

Choosers: `dense` (MiniLM cosine, each sentence after the document's first line: what shipped in session 14),
`dense-bare` (each sentence alone), `bm25` (BM25 over the document's sentences, Lucene idf, each sentence after the
first line), `fused` (reciprocal-rank fusion of dense and bm25, constant 60) and `fused-w W` (dense cosine + W x
BM25 score / its maximum over the sentences: `select.sentence_scores`, what ships with W = 0.3). Development parts only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from doc2lora_rag.evaluation import bootstrap_ci, load_qa, load_split
from doc2lora_rag.generators.memory.select import bm25, sentence_scores, sentence_spans, sentence_vectors
from doc2lora_rag.routing.embedders import MiniLMEmbedder


def ranks(scores: torch.Tensor) -> torch.Tensor:
    """0-based rank of each entry (0 = highest score)."""
    r = torch.empty_like(scores)
    r[scores.argsort(descending=True)] = torch.arange(len(scores), dtype=scores.dtype)
    return r


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("set")
    p.add_argument("--part", choices=["dev", "test"], default="dev")
    p.add_argument("--top", type=int, nargs="+", default=[1, 2])
    p.add_argument("--weights", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="fused-w: BM25 weights")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    root = Path(args.set)
    part = load_split(root / "qa.jsonl", args.part)
    items = [i for i in load_qa(root / "qa.jsonl", root / "docs") if i.doc in part]
    embedder = MiniLMEmbedder()
    texts = {d: (root / "docs" / d).read_text(encoding="utf-8") for d in sorted(part)}
    prepared = {}
    for d, text in texts.items():
        spans = sentence_spans(text)
        shown = [text[a:b] for a, b in spans]
        bare = torch.tensor(embedder.embed_documents(shown), dtype=torch.float32)
        prepared[d] = (spans, shown, sentence_vectors(text, spans, embedder), bare / bare.norm(dim=-1, keepdim=True))
    rows: dict[str, list[dict]] = {}
    for item in items:
        text = texts[item.doc]
        spans, shown, titled, bare = prepared[item.doc]
        q = torch.tensor(embedder.embed_query(item.question), dtype=torch.float32)
        q = q / q.norm()
        dense, dense_bare = titled @ q, bare @ q
        lex = bm25([shown[0]] + [f"{shown[0]} {s}" for s in shown[1:]], item.question)
        choosers = {"dense": dense, "dense-bare": dense_bare, "bm25": lex,
                    "fused": 1 / (60 + ranks(dense)) + 1 / (60 + ranks(lex))}
        for w in args.weights:
            choosers[f"fused-w {w:g}"] = sentence_scores(text, item.question, embedder, spans, titled, w)
        holds = torch.tensor([any(a.lower() in text[s:e].lower() for a in item.answers) for s, e in spans])
        for name, score in choosers.items():
            order = score.argsort(descending=True)
            for top in args.top:
                rows.setdefault(f"{name} S={top}", []).append({"doc": item.doc, "correct": bool(holds[order[:top]].any())})
    print(f"{root.name}/{args.part}: {len(items)} questions, {len(texts)} documents; a gold answer inside the chosen sentences")
    print("| chooser | n | holds the answer [95 % CI] |\n|---|---|---|")
    table = []
    for name, rs in rows.items():
        lo, hi = bootstrap_ci(rs)
        acc = sum(r["correct"] for r in rs) / len(rs)
        table.append({"chooser": name, "n": len(rs), "holds": acc, "ci95": [lo, hi]})
        print(f"| {name} | {len(rs)} | {acc:.3f} [{lo:.3f}, {hi:.3f}] |")
    if args.out:
        Path(args.out).write_text(json.dumps({"set": root.name, "part": args.part, "rows": table}, indent=1))


if __name__ == "__main__":
    main()
