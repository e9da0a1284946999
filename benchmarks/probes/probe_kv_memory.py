"""Probe: what does a rank-r down_proj adapter need to carry a document's answers?

A diagnostic for meta-training, not part of the library. It builds adapters by hand, in closed form,
as whitened key/value memories written into down_proj of layers 10-29 (the least-squares fast-weight
write used by model-editing methods):

    A_l = (K^T C^-1 K)^-1 K^T C^-1        (r x 1536: stored key j -> unit vector e_j, other inputs damped)
    B_l = s * |residual_l| * [value embeddings, unit norm]   (576 x r)

with C the second-moment matrix of down_proj inputs over training-split documents, K the keys (one per
stored answer token) and values the embeddings of the answer tokens (SmolLM2 ties input and output
embeddings). Only the keys change between probes:

  oracle-q   the down_proj input at the answer position of the evaluation question itself (teacher-forced):
             the best any document-side key could do
  doc        the down_proj input at the document position just before each answer token
  mapped     `doc` keys passed through a per-layer linear map fitted by ridge regression on training-split
             (document key -> question key) pairs
  every      `doc` keys at the answer positions of every fact of the document (all its questions in
             data/heldout/qa.jsonl, ~15 facts): how the write holds up when a whole document is stored
  selected   `doc` or `mapped` keys at the m document positions a linear scorer (ridge, on the residual
             entering layer 20) ranks most likely to precede an answer token: no oracle at all

`oracle-q`, `doc` and `mapped` are told where the answers are (they only test the key); `selected` is
a complete training-free generator. Held-out documents and questions come from data/heldout; the maps
and scorer are fitted on fresh training-split synthetic documents. Every adapter setting is also run
with another document's adapter (wrong), and the shipped hypernetwork and the context / none modes are
scored on the same questions for reference. Also prints the encoder forward time of a 4 x 128-token
batch in fp32 and with int8 dynamic quantisation (and how far the int8 hidden states drift).

Run: .venv/bin/python benchmarks/probes/probe_kv_memory.py [--train-docs 200] [--docs 16] [--per-doc 3] [--threads 2]
About 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for _qa
from _qa import accuracy  # noqa: E402

from doc2lora_rag import AdapterGenerator, LoraWeights, load_base_model
from doc2lora_rag.encoder import Encoder
from doc2lora_rag.evaluation import derangement, load_qa
from doc2lora_rag.llm import AnswerEngine, prompt_ids
from doc2lora_rag.synth import make_corpus

LAYERS = list(range(10, 30))
SCORER_LAYER = 10  # index into LAYERS: the residual entering layer 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-docs", type=int, default=200)
    ap.add_argument("--docs", type=int, default=16, help="held-out documents")
    ap.add_argument("--per-doc", type=int, default=3, help="questions per held-out document")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    base = load_base_model()
    engine = AnswerEngine(base, max_rank=64)
    tok = base.tokenizer
    width = base.target_shape("down_proj")[0]
    encoder = Encoder(base, LAYERS, capture_targets=["down_proj"])
    shipped = AdapterGenerator.default(base)
    emb = base.model.get_input_embeddings().weight.detach()

    def acts(seqs):
        ids, mask = shipped.pad(seqs)
        a = encoder(ids, mask)
        return a.target_inputs["down_proj"], a.hidden  # (B, L, T, d_in), (B, L, T, D)

    def read_doc(text, qas, ntoks=3):
        """Per-layer activations of `text` and (doc key, question key, doc token) per answer token of `qas`."""
        e = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offs = e["input_ids"], e["offset_mapping"]
        ti, hid = acts([ids])
        labels = torch.zeros(len(ids))
        found = []
        for question, answer in qas:
            c = text.find(answer)
            if c <= 0:
                continue
            start = next(i for i, (_, end) in enumerate(offs) if end > c)
            p = prompt_ids(tok, question)
            found.append((p + tok(answer, add_special_tokens=False)["input_ids"], len(p), start, c + len(answer)))
        pairs = []
        if found:
            tq, _ = acts([f[0] for f in found])
            for i, (seq, lp, start, end) in enumerate(found):
                for j in range(min(ntoks, len(seq) - lp)):
                    if start + j >= len(ids) or offs[start + j][0] >= end:
                        break
                    pairs.append((ti[0, :, start + j - 1].clone(), tq[i, :, lp - 1 + j].clone(), ids[start + j]))
                    labels[start + j - 1] = 1
        return {"ids": ids, "keys": ti[0], "hidden": hid[0], "labels": labels, "pairs": pairs}

    # -- fit on training-split documents -------------------------------------------------------
    train_pairs, sel_x, sel_y = [], [], []
    second = torch.zeros(len(LAYERS), width, width)
    n_tok = 0
    for doc in make_corpus(args.train_docs, "train", seed=11, min_tokens=60, max_tokens=300):
        r = read_doc(doc.text, [(q.question, q.answers[0]) for q in doc.qas if q.answers])
        train_pairs += r["pairs"]
        sel_x.append(r["hidden"][SCORER_LAYER])
        sel_y.append(r["labels"])
        second += torch.einsum("lti,ltj->lij", r["keys"], r["keys"])
        n_tok += r["keys"].shape[1]
    second /= n_tok
    eye = torch.eye(width)
    c_inv = torch.stack([torch.linalg.inv(c + 0.01 * c.diagonal().mean() * eye) for c in second])
    X = torch.stack([p[0] for p in train_pairs], 1)  # (L, N, d_in)
    Y = torch.stack([p[1] for p in train_pairs], 1)
    key_map = []
    for layer in range(len(LAYERS)):
        g = X[layer].T @ X[layer]
        key_map.append(torch.linalg.solve(g + g.diagonal().mean() * eye, X[layer].T @ Y[layer]))
    sx, sy = torch.cat(sel_x), torch.cat(sel_y)
    mu, sd = sx.mean(0), sx.std(0) + 1e-3
    design = torch.cat([(sx - mu) / sd, torch.ones(len(sx), 1)], 1)
    w_sel = torch.linalg.solve(design.T @ design + 10.0 * torch.eye(design.shape[1]), design.T @ (2 * sy - 1))
    fit_s = time.perf_counter() - t_start
    print(json.dumps({"fit": {"train_docs": args.train_docs, "pairs": len(train_pairs), "tokens": n_tok, "seconds": round(fit_s)}}), flush=True)

    # -- held-out documents ----------------------------------------------------------------------
    items = load_qa("data/heldout/qa.jsonl", "data/heldout/docs")
    by_doc: dict[str, list] = {}
    for it in items:
        by_doc.setdefault(it.doc, []).append(it)
    docs = sorted(by_doc)[: args.docs]
    texts = {d: (Path("data/heldout/docs") / d).read_text() for d in docs}
    questions = [it for d in docs for it in by_doc[d][: args.per_doc]]
    held = {d: read_doc(texts[d], [(i.question, i.answers[0]) for i in by_doc[d][: args.per_doc]]) for d in docs}
    every = {d: read_doc(texts[d], [(i.question, i.answers[0]) for i in by_doc[d]]) for d in docs}  # all facts
    resid = torch.stack([held[d]["hidden"].norm(dim=-1).mean(-1) for d in docs]).mean(0)  # (L,)

    def write(pairs, key, s):
        r = max(1, len(pairs))
        A, B = torch.zeros(len(LAYERS), r, width), torch.zeros(len(LAYERS), emb.shape[1], r)
        for layer in range(len(LAYERS) if pairs else 0):
            K = torch.stack([key(p, layer) for p in pairs], 1)
            ck = c_inv[layer] @ K
            g = K.T @ ck
            A[layer] = torch.linalg.solve(g + 1e-4 * g.diagonal().mean() * torch.eye(r), ck.T)
            vals = emb[[p[2] for p in pairs]]
            B[layer] = (s * resid[layer] * vals / vals.norm(dim=-1, keepdim=True)).T
        return LoraWeights({"down_proj": A}, {"down_proj": B}, tuple(LAYERS))

    def selected(d, m):
        r = every[d]
        score = torch.cat([(r["hidden"][SCORER_LAYER] - mu) / sd, torch.ones(len(r["ids"]), 1)], 1) @ w_sel
        score[-1] = -1e9  # the last position has no next token
        top = score.topk(min(m, len(score) - 1)).indices.sort().values.tolist()
        precision = float(r["labels"][top].mean())  # share of picks that precede an answer token of any fact
        return [(r["keys"][:, t], None, r["ids"][t + 1]) for t in top], precision

    swap = derangement(docs)

    items = [(q.doc, q.question, q.answers) for q in questions]

    def score_mode(adapters=None, contexts=False):
        return accuracy(engine, items, texts, adapters, contexts, max_new_tokens=16)

    rows = []

    def report(name, adapters=None, contexts=False, **extra):
        acc = score_mode(adapters, contexts)
        wrong = score_mode({d: adapters[swap[d]] for d in docs}) if adapters else None
        row = {"probe": name, "accuracy": round(acc, 3), "wrong_adapter": None if wrong is None else round(wrong, 3), **extra}
        rows.append(row)
        print(json.dumps(row), flush=True)

    report("context (document in the prompt)", contexts=True)
    report("none (question only)")
    report(f"shipped hypernetwork ({shipped.trained_steps} steps)", {d: shipped.generate([texts[d]])[0] for d in docs})
    for s in (0.03,):
        report("oracle-q keys", {d: write(held[d]["pairs"], lambda p, i: p[1][i], s) for d in docs}, s=s)
    for s in (0.03, 0.1):
        report("doc keys", {d: write(held[d]["pairs"], lambda p, i: p[0][i], s) for d in docs}, s=s)
    for s in (0.03, 0.06):
        report("mapped doc keys", {d: write(held[d]["pairs"], lambda p, i: p[0][i] @ key_map[i], s) for d in docs}, s=s)
    facts = sum(len(by_doc[d]) for d in docs) / len(docs)
    for s in (0.05, 0.1):
        report("doc keys, every answer position of every fact", {d: write(every[d]["pairs"], lambda p, i: p[0][i], s) for d in docs},
               s=s, facts_per_doc=round(facts, 1), rank_mean=round(sum(len(every[d]["pairs"]) for d in docs) / len(docs), 1))
    for m, keys in ((16, "mapped keys"), (16, "doc keys"), (40, "doc keys")):
        picked = {d: selected(d, m) for d in docs}
        precision = sum(p[1] for p in picked.values()) / len(docs)
        s = 0.03 if keys == "mapped keys" else 0.1
        key = (lambda p, i: p[0][i] @ key_map[i]) if keys == "mapped keys" else (lambda p, i: p[0][i])
        report(f"selected positions, {keys}", {d: write(picked[d][0], key, s) for d in docs},
               m=m, s=s, selection_precision=round(precision, 3))

    # -- encoder latency: fp32 vs int8 dynamic quantisation ------------------------------------------
    ids = [held[d]["ids"] for d in docs]
    batch = shipped.pad([(sum(ids, []) * 4)[i * 128 : (i + 1) * 128] for i in range(4)])
    inner = base.model.model
    quant = torch.ao.quantization.quantize_dynamic(copy.deepcopy(base.model), {torch.nn.Linear}, dtype=torch.qint8).model

    def timed(model):
        with torch.no_grad():
            model(input_ids=batch[0], attention_mask=batch[1], use_cache=False)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                model(input_ids=batch[0], attention_mask=batch[1], use_cache=False)
                times.append(time.perf_counter() - t0)
        return sorted(times)[2]

    t32, t8 = timed(inner), timed(quant)
    with torch.no_grad():
        h32 = inner(input_ids=batch[0], attention_mask=batch[1], use_cache=False, output_hidden_states=True).hidden_states
        h8 = quant(input_ids=batch[0], attention_mask=batch[1], use_cache=False, output_hidden_states=True).hidden_states
    drift = {i: round(float(torch.cosine_similarity(h32[i], h8[i], -1).mean()), 3) for i in (10, 20, 30)}
    print(json.dumps({"encoder_forward_4x128": {"fp32_s": round(t32, 3), "int8_dynamic_s": round(t8, 3), "int8_hidden_cosine": drift}}))

    print(f"\n{len(questions)} held-out questions ({args.docs} documents x {args.per_doc}), greedy, 16 new tokens; "
          f"maps fitted on {len(train_pairs)} pairs from {args.train_docs} training documents; {time.perf_counter() - t_start:.0f} s\n")
    print("| adapter keys | accuracy | wrong-adapter | notes |\n|---|---|---|---|")
    for r in rows:
        notes = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("probe", "accuracy", "wrong_adapter"))
        wrong = "–" if r["wrong_adapter"] is None else f"{r['wrong_adapter']:.3f}"
        print(f"| {r['probe']} | {r['accuracy']:.3f} | {wrong} | {notes} |")


if __name__ == "__main__":
    main()
