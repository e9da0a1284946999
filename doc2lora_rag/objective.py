"""The student side of the answer objective, shared by meta-training and context distillation.

A batch holds prompts (question only, the engine's format) followed by answer tokens, right-padded;
log-probs are computed only at the positions that predict answer tokens (the LM head over the whole
vocabulary is the costly part otherwise), and token losses are averaged per answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base_model import BaseModel
from .prompts import prompt_ids


@dataclass
class AnswerBatch:
    input_ids: torch.Tensor  # (N, T) right-padded prompt + answer
    attention_mask: torch.Tensor  # (N, T)
    positions: torch.Tensor  # (P,) flat index into N*T of the position that predicts each answer token
    targets: torch.Tensor  # (P,) the answer tokens
    answer_of: torch.Tensor  # (P,) row of each answer token


def build_answer_batch(tokenizer, prompts: Sequence[str], answers: Sequence[Sequence[int]], device: torch.device) -> AnswerBatch:
    """prompts[i] (without any document) followed by answers[i] (token ids) in row i."""
    seqs, starts = [], []
    for prompt, answer in zip(prompts, answers):
        p = prompt_ids(tokenizer, prompt)
        seqs.append(p + list(answer))
        starts.append(len(p))
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    positions, targets, answer_of = [], [], []
    for i, (s, st) in enumerate(zip(seqs, starts)):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
        positions.extend(i * T + j - 1 for j in range(st, len(s)))
        targets.extend(s[st:])
        answer_of.extend([i] * (len(s) - st))
    return AnswerBatch(ids.to(device), mask.to(device), torch.tensor(positions, device=device),
                       torch.tensor(targets, device=device), torch.tensor(answer_of, device=device))


def answer_logprobs(base: BaseModel, batch: AnswerBatch, live: tuple[dict, dict, Sequence[int]] | None = None) -> torch.Tensor:
    """Log-probs (P, V) at the answer positions; `live` = per-row (a, b, layers) adapters, None = base model."""
    inner = base.model.model if hasattr(base.model, "model") else base.model
    ctx = base.slots.use_live(*live) if live is not None else base.slots.use(None)
    with ctx:
        hidden = inner(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).last_hidden_state
    flat = hidden.reshape(-1, hidden.shape[-1])[batch.positions]  # (P, D)
    return F.log_softmax(base.model.get_output_embeddings()(flat).float(), dim=-1)


def per_answer_mean(token_loss: torch.Tensor, batch: AnswerBatch) -> torch.Tensor:
    """(N,) mean of the token losses of each answer."""
    N = batch.input_ids.shape[0]
    sums = torch.zeros(N, device=token_loss.device).index_add(0, batch.answer_of, token_loss)
    counts = torch.zeros(N, device=token_loss.device).index_add(0, batch.answer_of, torch.ones_like(token_loss))
    return sums / counts.clamp(min=1)
