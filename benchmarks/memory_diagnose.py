"""Where the memory generator loses an answer: not stored, or stored and not found.

    python benchmarks/memory_diagnose.py data/eval/prose --part dev
    python benchmarks/memory_diagnose.py data/eval/prose --part dev --positions 48 --closed-form
    python benchmarks/memory_diagnose.py data/eval/prose --part dev --predictions runs/eval/prose-dev.json

For every question of a set part, on whole-document writes (as `eval_sets.py --modes adapter` makes them):

  stored     a picked position of the document precedes an occurrence of a gold answer: the write holds the
             answer's first token as a value (a question whose answer is not stored cannot be answered)
  gold rank  for a stored answer, the rank (0 = first) of its key among all the document's keys by the
             read-out coefficient c = H^-1 K'^T C^-1 q, q the down_proj input at the answering prompt's last
             position (the base model's, before any adapter acts): per target layer and averaged over them

With --predictions (an `eval_sets.py` JSON with adapter predictions) accuracy is split by stored / not
stored. A minute on 2 cores for the prose dev part; no generation, so a cheaper and less noisy signal than
accuracy for choices about positions, keys and statistics (it says nothing about values or decoding).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from eval_sets import make_generator  # benchmarks/, beside this script

from doc2lora_rag import load_base_model
from doc2lora_rag.chunking import split_equal
from doc2lora_rag.evaluation import load_qa, load_split
from doc2lora_rag.generators.memory.config import TARGET
from doc2lora_rag.generators.memory.fit import encode_batch
from doc2lora_rag.generators.memory.records import MemoryRecord
from doc2lora_rag.prompts import prompt_ids


def stored_slots(offsets: list[tuple[int, int]], picked: list[int], text: str, answers: list[str]) -> list[int]:
    """Indexes into `picked` (flat token positions whose next token is stored) that precede a gold answer's start."""
    where = {p: i for i, p in enumerate(picked)}
    out = []
    for ans in answers:
        start = text.find(ans)
        while start >= 0:
            # the token holding the answer's first character; the position before it stores that token
            tok = next((t for t, (a, b) in enumerate(offsets) if a <= start < b or a >= start), None)
            if tok is not None and tok - 1 in where:
                out.append(where[tok - 1])
            start = text.find(ans, start + 1)
    return sorted(set(out))


def doc_chunks(gen, text: str, doc: str) -> tuple[dict, list[list[int]]]:
    """The text's tokens with their character offsets, and the chunks the generator reads (checked to be its own)."""
    enc = gen.base.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    chunks = split_equal(enc["input_ids"], gen.max_chunk_tokens)
    if [t for c in chunks for t in c] != gen.tokenize(text):
        raise RuntimeError(f"{doc}: the offsets tokenization differs from the generator's")
    return enc, chunks


def flat_positions(chunks: list[list[int]], picks: list[torch.Tensor]) -> list[int]:
    """The picked positions of every chunk as positions in the whole text's token list."""
    out, start = [], 0
    for c, pk in zip(chunks, picks):
        out += [start + int(x) for x in pk]
        start += len(c)
    return out


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("set", help="evaluation set folder (docs/, qa.jsonl, split.json)")
    p.add_argument("--part", choices=["dev", "test"], required=True)
    p.add_argument("--transforms", default=None, metavar="DIR", help="memory transforms folder (default: the packaged ones)")
    p.add_argument("--closed-form", action="store_true")
    p.add_argument("--positions", type=int, default=None, help="positions per chunk (default: the generator's)")
    p.add_argument("--predictions", default=None, help="an eval_sets.py JSON: adapter accuracy by stored / not stored")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write every question's flags and ranks as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    root = Path(args.set)
    part = load_split(root / "qa.jsonl", args.part)
    items = [i for i in load_qa(root / "qa.jsonl", root / "docs") if i.doc in part]
    base = load_base_model()
    gen = make_generator("memory", base, args.transforms, args.closed_form, args.positions)
    tok = base.tokenizer
    rows = []
    for doc in sorted({i.doc for i in items}):
        text = (root / "docs" / doc).read_text()
        enc, chunks = doc_chunks(gen, text, doc)
        keys, value_ids, picks = gen.read(chunks)
        picked = flat_positions(chunks, picks)
        a = gen.write(keys, value_ids)[0]  # (L, n, d_in): A q gives the read-out coefficient of each stored key
        for item in (i for i in items if i.doc == doc):
            gold = stored_slots(enc["offset_mapping"], picked, text, list(item.answers))
            row = {"doc": doc, "question": item.question, "stored": bool(gold), "keys": len(picked)}
            if gold:
                ids = prompt_ids(tok, item.question)
                acts = encode_batch(gen.encoder, [ids])
                last = torch.tensor([len(ids) - 1])
                hidden = acts.hidden[0, -1, last].float().cpu() if gen.n_read < len(gen.layers) else None
                q = gen.keys(MemoryRecord(acts.parent_inputs[TARGET][0, :, last].float().cpu(), torch.zeros(1, dtype=torch.long),
                                          gen.layers, base.name, {}, hidden)).float()  # (L, 1, d_in)
                coef = (a @ q.transpose(1, 2))[..., 0]  # (L, n)
                mean = coef.mean(0)
                row["rank"] = min(int((mean > mean[j]).sum()) for j in gold)
                row["rank_by_layer"] = [min(int((coef[lay] > coef[lay, j]).sum()) for j in gold) for lay in range(len(gen.layers))]
            rows.append(row)

    n = len(rows)
    stored = [r for r in rows if r["stored"]]
    ranks = [r["rank"] for r in stored]
    frac = lambda xs, f: sum(map(f, xs)) / max(len(xs), 1)  # noqa: E731
    print(f"{root.name}/{args.part}: {n} questions, {len({r['doc'] for r in rows})} documents, "
          f"{gen.config.positions_per_chunk} positions per chunk, {'closed form' if gen.transforms is None else 'trained transforms'}")
    print(f"answer stored: {len(stored)}/{n} ({len(stored) / n:.2f}); keys per document median {statistics.median(r['keys'] for r in rows):.0f}")
    if stored:
        print(f"gold key rank by the mean coefficient over layers: top1 {frac(ranks, lambda r: r == 0):.2f}  top3 {frac(ranks, lambda r: r < 3):.2f}  "
              f"top10 {frac(ranks, lambda r: r < 10):.2f}  median {statistics.median(ranks):.0f} "
              f"(random: median ~{statistics.median(r['keys'] for r in stored) / 2:.0f})")
        by_layer = [frac(stored, lambda r, i=i: r["rank_by_layer"][i] == 0) for i in range(len(gen.layers))]
        print("top1 by target layer: " + " ".join(f"{lay}:{v:.2f}" for lay, v in zip(gen.layers, by_layer)))
    if args.predictions:
        preds = {(x["doc"], x["question"]): x["correct"] for x in json.loads(Path(args.predictions).read_text())["predictions"]["adapter"]}
        for flag in (True, False):
            sel = [r for r in rows if r["stored"] == flag and (r["doc"], r["question"]) in preds]
            print(f"adapter accuracy, answer {'stored' if flag else 'not stored'}: {frac(sel, lambda r: preds[(r['doc'], r['question'])]):.3f} (n={len(sel)})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"set": root.name, "part": args.part, "positions": gen.config.positions_per_chunk,
                                              "trained": gen.transforms is not None, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
