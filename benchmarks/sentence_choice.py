"""How often the question-selected write's sentence choice holds the answer, for several ways to choose.

The selected write (`MemoryGenerator.generate_for`) answers only where the chosen sentences hold the answer
(prose dev, session 14: 0.44 of those questions, none of the others), so the choice bounds it. No language model
runs here: each chooser ranks a document's sentences for each question, and the table gives the fraction of
questions with a gold answer inside the top-S sentences, with a 95 % interval (bootstrap over documents).

    python benchmarks/sentence_choice.py data/eval/prose --part dev
    python benchmarks/sentence_choice.py data/eval/tech --part dev --top 1 2 3
    python benchmarks/sentence_choice.py data/eval/prose --part dev --routed 1 2 4

With --routed, the part's documents go into a store (the default generator, token records, MiniLM routing) and
the sentences are chosen among the k routed chunk groups, as `StoreQA`'s selected mode does; each sentence is
scored after a title: `joined` the first line of the joined texts (every sentence), `group` its own group's first
line, `doc` its document's first line (the first line of the document's first group).

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
from doc2lora_rag.generators.memory.select import bm25, closest_sentences, first_sentence, joined, sentence_scores, sentence_spans, sentence_vectors
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
    p.add_argument("--routed", type=int, nargs="*", default=[], help="choose among the k routed chunk groups of a store")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    root = Path(args.set)
    part = load_split(root / "qa.jsonl", args.part)
    items = [i for i in load_qa(root / "qa.jsonl", root / "docs") if i.doc in part]
    embedder = MiniLMEmbedder()
    if args.routed:
        rows = routed_rows(root, sorted(part), items, embedder, args.routed, args.top)
        report(root, args, rows, f"{len(items)} questions, {len(part)} documents, chosen among the routed groups")
        return
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
    report(root, args, rows, f"{len(items)} questions, {len(texts)} documents")


def routed_rows(root: Path, part: list[str], items: list, embedder, ks: list[int], tops: list[int]) -> dict[str, list[dict]]:  # noqa: ANN001
    """The rows of --routed: for each k and title rule, whether the chosen sentences among the routed groups hold an answer."""
    import tempfile

    from doc2lora_rag.generators import make_generator
    from doc2lora_rag.loaders import load_paths
    from doc2lora_rag.rag import CONTEXT_SEPARATOR
    from doc2lora_rag.store import AdapterStore

    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for name in part:
            (docs / name).write_bytes((root / "docs" / name).read_bytes())
        with AdapterStore(Path(tmp) / "store", make_generator("memory"), adapter_format="tokens") as store:
            loaded = load_paths([docs])
            store.add_documents(loaded, ids=[f"{d.metadata['file_name']}:p{d.metadata.get('page', 0)}" for d in loaded])
            first: dict[str, str | None] = {}
            for item in items:
                for k in ks:
                    hits = store.search(item.question, k)
                    texts = [d.text for d, _ in hits]
                    for d, _ in hits:
                        doc_id = d.metadata["doc_id"]
                        if doc_id not in first:
                            first[doc_id] = first_sentence(store.first_texts([doc_id])[doc_id])
                    for rule in ("joined", "group", "doc", "doc+group"):
                        titles = [first[d.metadata["doc_id"]] for d, _ in hits] if rule.startswith("doc") else None
                        if rule == "doc+group":  # the document's title, then the group's own first line where it differs
                            titles = [t if not t or first_sentence(x) in (None, t) else f"{t}. {first_sentence(x)}"
                                      for t, x in zip(titles, texts)]
                        text, spans, heads = joined(texts, CONTEXT_SEPARATOR, titles)
                        chosen = closest_sentences(text, item.question, embedder, max(tops), spans,
                                                   titles=None if rule == "joined" else heads)
                        for top in tops:
                            holds = any(a.lower() in text[s:e].lower() for s, e in chosen[:top] for a in item.answers)
                            rows.setdefault(f"{rule} k={k} S={top}", []).append({"doc": item.doc, "correct": holds})
                    routed = item.doc in [d.metadata.get("file_name") for d, _ in hits]
                    rows.setdefault(f"gold group routed k={k}", []).append({"doc": item.doc, "correct": routed})
    return rows


def report(root: Path, args: argparse.Namespace, rows: dict[str, list[dict]], what: str) -> None:
    print(f"{root.name}/{args.part}: {what}; a gold answer inside the chosen sentences")
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
