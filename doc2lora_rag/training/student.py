"""Student side of meta-training: batch building and the loss of base model + generated LoRA.

The student sees the question only (the engine's prompt format), never the document. Logits are
computed only at answer positions (the LM head over 49k tokens is the costly part otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..chunking import split_equal
from ..generators.hypernet import AdapterGenerator
from ..objective import AnswerBatch, answer_logprobs, build_answer_batch, per_answer_mean


@dataclass
class StudentBatch(AnswerBatch):
    row_doc: torch.Tensor | None = None  # (N,) document index of each row
    teacher_ids: torch.Tensor | None = None  # (P, 16) teacher top-k token ids
    teacher_logp: torch.Tensor | None = None  # (P, 16) teacher top-k log-probs


def build_student_batch(tokenizer, rows: Sequence[tuple[int, str, list[int]]], device: torch.device,
                        teacher: Sequence[tuple[torch.Tensor, torch.Tensor] | None] | None = None) -> StudentBatch:
    """rows: (doc index, question, answer token ids incl. the end-of-turn token)."""
    b = build_answer_batch(tokenizer, [r[1] for r in rows], [r[2] for r in rows], device)
    tid = tlp = None
    if teacher is not None:
        tid = torch.cat([t[0] for t in teacher]).long().to(device)
        tlp = torch.cat([t[1] for t in teacher]).float().to(device)
        assert tid.shape[0] == b.positions.shape[0], "teacher positions must match answer tokens"
    return StudentBatch(**vars(b), row_doc=torch.tensor([r[0] for r in rows], device=device), teacher_ids=tid, teacher_logp=tlp)


def doc_adapters(gen: AdapterGenerator, docs_ids: Sequence[Sequence[int]], chunks_per_doc: Sequence[int]):
    """Differentiable adapters for each document: chunks encoded separately, rank-concatenated.

    Returns a[t] (D, L, R, d_in), b[t] (D, L, d_out, R) with R = r * max(K) (+ bias rank), zero-padded.
    """
    pieces, owner = [], []
    for d, (ids, k) in enumerate(zip(docs_ids, chunks_per_doc)):
        for chunk in split_equal(list(ids), max(1, -(-len(ids) // k))):
            pieces.append(chunk)
            owner.append(d)
    acts = gen.encode(*gen.pad(pieces))
    a, b = gen.lora_tensors(acts)  # (C, L, r, d_in), (C, L, d_out, r)
    bias = gen.hypernet.bias_lora()
    D, r = len(docs_ids), gen.hypernet.config.rank
    kmax = max(owner.count(d) for d in range(D))
    a_doc, b_doc = {}, {}
    for t in a:
        L, d_in, d_out = a[t].shape[1], a[t].shape[3], b[t].shape[2]
        parts_a, parts_b = [], []
        for d in range(D):
            idx = [i for i, o in enumerate(owner) if o == d]
            pa = [a[t][i] for i in idx]  # each (L, r, d_in)
            pb = [b[t][i] for i in idx]
            pad = kmax - len(idx)
            if pad:
                pa.append(a[t].new_zeros(L, r * pad, d_in))
                pb.append(b[t].new_zeros(L, d_out, r * pad))
            if bias is not None:
                pa.append(bias[0][t])
                pb.append(bias[1][t])
            parts_a.append(torch.cat(pa, dim=1))
            parts_b.append(torch.cat(pb, dim=2))
        a_doc[t], b_doc[t] = torch.stack(parts_a), torch.stack(parts_b)
    return a_doc, b_doc


def student_logprobs(gen: AdapterGenerator, batch: StudentBatch, a_doc, b_doc, row_doc: torch.Tensor | None = None) -> torch.Tensor:
    """Log-probs (P, V) at answer positions with row i using the adapter of document row_doc[i]."""
    if a_doc is None:
        return answer_logprobs(gen.base, batch)
    row_doc = batch.row_doc if row_doc is None else row_doc
    live = ({t: v[row_doc] for t, v in a_doc.items()}, {t: v[row_doc] for t, v in b_doc.items()}, gen.hypernet.config.layers)
    return answer_logprobs(gen.base, batch, live)


def answer_losses(batch: StudentBatch, logp: torch.Tensor, use_teacher: bool) -> torch.Tensor:
    """Per-answer mean loss (N,): cross-entropy on gold tokens, or against the teacher's top-k probs."""
    if use_teacher and batch.teacher_ids is not None:
        tok_loss = -(batch.teacher_logp.exp() * logp.gather(1, batch.teacher_ids)).sum(-1)
    else:
        tok_loss = -logp.gather(1, batch.targets[:, None]).squeeze(1)
    return per_answer_mean(tok_loss, batch)


def per_doc_mean(values: torch.Tensor, row_doc: torch.Tensor) -> torch.Tensor:
    """Mean over answers within each document, then over documents."""
    D = int(row_doc.max()) + 1
    sums = torch.zeros(D, device=values.device).index_add(0, row_doc, values)
    counts = torch.zeros(D, device=values.device).index_add(0, row_doc, torch.ones_like(values))
    present = counts > 0
    return (sums[present] / counts[present]).mean()
