"""Fitting the memory generator's statistics, and the features reading and fitting share.

From texts whose answers are known: per target layer the second moment C of down_proj inputs (kept
as C^-1, ridge-regularised), the mean residual norm; the position scorer (ridge regression from the
residual entering the middle target layer to "the next token starts an answer"); and the linear maps
that predict the keys of the layers above `last_read_layer` from the residual entering it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...base_model import BaseModel
from ...encoder import Activations, Encoder
from ...errors import InputError
from ..protocol import check_texts
from .config import TARGET, MemoryConfig, layout


def answer_positions(offsets: Sequence[tuple[int, int]], text: str, answers: Sequence[str]) -> list[int]:
    """Token positions t whose next token starts or continues one of `answers` (first occurrence).

    `offsets` may cover only the start of `text`: answers beyond them are skipped.
    """
    out = []
    for answer in answers:
        c = text.find(answer)
        if c <= 0:
            continue
        end = c + len(answer)
        first = next((i for i, (_, e) in enumerate(offsets) if e > c), None)
        if first is None:
            continue
        out.extend(t - 1 for t in range(max(first, 1), len(offsets)) if offsets[t][0] < end)
    return sorted(set(out))


def encode_batch(encoder: Encoder, chunks: Sequence[Sequence[int]]) -> Activations:
    """Activations of token sequences, right-padded into one batch (a causal model ignores the padding)."""
    dev = encoder.base.device
    width = max(len(c) for c in chunks)
    ids = torch.zeros(len(chunks), width, dtype=torch.long)
    mask = torch.zeros(len(chunks), width, dtype=torch.long)
    for i, c in enumerate(chunks):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, : len(c)] = 1
    return encoder(ids.to(dev), mask.to(dev))


def with_bias(hidden: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D + 1): the features the key maps read."""
    return torch.cat([hidden, torch.ones(*hidden.shape[:-1], 1)], -1)


def scorer_features(hidden: torch.Tensor, mu: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """(T, D) residuals -> (T, D + 1) standardised features with a bias column, for the position scorer."""
    return torch.cat([(hidden - mu) / sd, torch.ones(len(hidden), 1)], 1)


@torch.no_grad()
def fit_statistics(base: BaseModel, texts: Sequence[str], answers: Sequence[Sequence[str]], config: MemoryConfig,
                   progress: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(statistics, what they were fitted on) from `texts`; answers[i] are strings that occur verbatim in texts[i]."""
    from tqdm.auto import tqdm

    texts = check_texts(texts)
    if len(answers) != len(texts):
        raise InputError(f"fit needs one answer list per text, got {len(texts)} texts and {len(answers)} answer lists")
    layers, n_read, score_index = layout(base, config)
    encoder = Encoder(base, layers, capture_targets=[TARGET])
    d_in, width = base.target_shape(TARGET)
    second = torch.zeros(len(layers), d_in, d_in)
    resid = torch.zeros(len(layers))
    # least squares from the residual entering the last read layer to the keys of the layers above it
    hh, hk = torch.zeros(width + 1, width + 1), torch.zeros(len(layers) - n_read, width + 1, d_in)
    xs, ys, n_tok = [], [], 0
    for text, ans in tqdm(list(zip(texts, answers)), disable=not progress, desc="fitting memory statistics"):
        enc = base.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"][: config.max_chunk_tokens * 4]
        acts = encode_batch(encoder, [ids])
        keys = acts.target_inputs[TARGET][0].float().cpu()  # (L, T, d_in)
        hidden = acts.hidden[0].float().cpu()  # (L, T, D)
        second += torch.einsum("lti,ltj->lij", keys, keys)
        resid += hidden.norm(dim=-1).sum(-1)
        h = with_bias(hidden[n_read - 1])
        hh += h.T @ h
        hk += torch.einsum("ti,ltj->lij", h, keys[n_read:])
        n_tok += len(ids)
        label = torch.zeros(len(ids))
        label[answer_positions(enc["offset_mapping"][: len(ids)], text, ans)] = 1
        xs.append(hidden[score_index])
        ys.append(label)
    y = torch.cat(ys)
    if not y.any():
        raise InputError("none of the answers occur in their texts; fit needs answers that appear verbatim in the text")
    second /= n_tok
    eye = torch.eye(d_in)
    c_inv = torch.stack([torch.linalg.inv(c + config.ridge * c.diagonal().mean() * eye) for c in second])
    maps = torch.linalg.solve(hh + config.ridge * hh.diagonal().mean() * torch.eye(width + 1), hk)
    stats = {"c_inv": c_inv, "resid": resid / n_tok, **_scorer(torch.cat(xs), y, config), "maps": maps}
    return stats, {"texts": len(texts), "tokens": n_tok, "answer_positions": int(y.sum())}


@torch.no_grad()
def fit_scorer(base: BaseModel, texts: Sequence[str], answers: Sequence[Sequence[str]], config: MemoryConfig,
               progress: bool = False) -> dict[str, torch.Tensor]:
    """Only the position scorer ("mu", "sd", "w"), refitted on other texts (e.g. natural text with programmatic
    answers); the rest of the statistics stays as fitted. The forward pass stops at the scorer's layer."""
    from tqdm.auto import tqdm

    texts = check_texts(texts)
    if len(answers) != len(texts):
        raise InputError(f"fit_scorer needs one answer list per text, got {len(texts)} texts and {len(answers)} answer lists")
    layers, _, score_index = layout(base, config)
    encoder = Encoder(base, layers[: score_index + 1])
    xs, ys = [], []
    for text, ans in tqdm(list(zip(texts, answers)), disable=not progress, desc="fitting the position scorer"):
        enc = base.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"][: config.max_chunk_tokens * 4]
        hidden = encode_batch(encoder, [ids]).hidden[0, score_index].float().cpu()  # (T, D)
        label = torch.zeros(len(ids))
        label[answer_positions(enc["offset_mapping"][: len(ids)], text, ans)] = 1
        xs.append(hidden)
        ys.append(label)
    y = torch.cat(ys)
    if not y.any():
        raise InputError("none of the answers occur in their texts; fit_scorer needs answers that appear verbatim in the text")
    return _scorer(torch.cat(xs), y, config)


def _scorer(x: torch.Tensor, y: torch.Tensor, config: MemoryConfig) -> dict[str, torch.Tensor]:
    """The position scorer: ridge regression from standardised residuals x (T, D) to y (T,) in {0, 1} ("next token
    starts or continues an answer"), as "mu", "sd", "w"."""
    mu, sd = x.mean(0), x.std(0) + 1e-3
    design = scorer_features(x, mu, sd)
    w = torch.linalg.solve(design.T @ design + config.scorer_ridge * torch.eye(design.shape[1]), design.T @ (2 * y - 1))
    return {"mu": mu, "sd": sd, "w": w}
