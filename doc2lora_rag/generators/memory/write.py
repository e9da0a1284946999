"""The write math: keys and values -> A, B in closed form, and one joint write over several adapters.

    A_l = (K^T C_l^-1 K + eps)^-1 K^T C_l^-1      B_l = gain_l V

Shapes: L target layers, n stored positions, d_in down_proj input width, D model width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ...errors import InputError
from ...lora import LoraWeights
from .config import TARGET

if TYPE_CHECKING:
    from .transforms import KVTransforms


GRAM_EPS = 1e-4  # the write's ridge on K^T C^-1 K, relative to its mean diagonal


def _ridge(g: torch.Tensor) -> torch.Tensor:
    """(L, n, n) Gram matrices -> the same plus eps I, eps = GRAM_EPS x each layer's mean diagonal."""
    eps = GRAM_EPS * g.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None]
    return g + eps * torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)


def spd_solve(h: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """h^-1 rhs for batched symmetric positive definite h, through its Cholesky factor (differentiable).

    Not `torch.linalg.solve`: its batched LU fails inside oneMKL with 2 torch threads set ("Pivots given
    to lu_solve must all be greater or equal to 1"), as batched `linalg.inv` does (`second_moments`).
    A matrix that is not positive definite (a joint write over two copies of one text routed together
    holds the same keys twice; rounding) gets a growing ridge until it factors (SPD_JITTER), each matrix
    keeping the ridge it needed, and past the largest one its eigenvalues are clipped from below.
    """
    h = 0.5 * (h + h.transpose(-1, -2))
    if not bool(torch.isfinite(h).all()):
        raise FloatingPointError("a memory write's Gram matrix holds NaN or inf: its keys do; re-generate the adapters")
    factor, info = torch.linalg.cholesky_ex(h)
    if bool((info > 0).any()):
        scale = h.diagonal(dim1=-2, dim2=-1).abs().mean(-1)[..., None, None]
        eye = torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)
        ridge = torch.zeros_like(scale)  # per matrix: the ridge it needed, kept once it factors
        for jitter in SPD_JITTER:
            ridge = torch.where((info > 0)[..., None, None], jitter * scale, ridge)
            factor, info = torch.linalg.cholesky_ex(h + ridge * eye)
            if not bool((info > 0).any()):
                break
        else:  # far from positive definite: the nearest positive definite matrix (eigenvalues clipped from below)
            h = h + ridge * eye
            bad = info > 0
            ev, vecs = torch.linalg.eigh(h[bad])
            floor = SPD_JITTER[0] * ev.abs().amax(-1, keepdim=True)
            fixed = (vecs * ev.clamp(min=floor)[..., None, :]) @ vecs.transpose(-1, -2)
            h = h.clone()
            h[bad] = 0.5 * (fixed + fixed.transpose(-1, -2)) + floor[..., None] * eye
            factor = torch.linalg.cholesky(h)
    if rhs.shape[-1] >= h.shape[-1] // 4:  # many right-hand sides (the 576 value columns): the inverse and one matrix
        return torch.cholesky_inverse(factor) @ rhs  # product beat the triangular solves (~2x on 2 cores, same error)
    return torch.cholesky_solve(rhs, factor)


SPD_JITTER = (1e-4, 1e-3, 1e-2, 1e-1)  # ridges tried in turn, relative to the mean diagonal, on elements that fail


def transform_keys(k: torch.Tensor, ck: torch.Tensor, transforms: KVTransforms | None,
                   c_inv_p: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys k (L, d_in, n) and C^-1 k through the key transform: k + P Q^T k and C^-1 (k + P Q^T k) (c_inv_p = C^-1 P).
    Column by column: a key's transformed form does not depend on the other keys written with it."""
    if transforms is None:
        return k, ck
    qk = torch.einsum("lir,lin->lrn", transforms.Q, k)
    return k + transforms.P @ qk, ck + c_inv_p @ qk


def transform_values(values: torch.Tensor, gain: torch.Tensor, n_layers: int,
                     transforms: KVTransforms | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Values (n, D) and gains (L,) through the value transform: per layer (L, n, D) and gains times exp(log_gain)."""
    v = values[None].expand(n_layers, -1, -1)
    if transforms is None:
        return v, gain
    t = transforms
    v = v + torch.einsum("lur,lnr->lnu", t.U, torch.einsum("lur,nu->lnr", t.V, values))
    return v, gain * t.log_gain.exp()


def _transformed(k: torch.Tensor, ck: torch.Tensor, values: torch.Tensor, gain: torch.Tensor, transforms: KVTransforms | None,
                 c_inv_p: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keys k (L, d_in, n), C^-1 k, values (n, D) and gains (L,) through the transforms (unchanged without them)."""
    k, ck = transform_keys(k, ck, transforms, c_inv_p)
    v, gain = transform_values(values, gain, len(k), transforms)
    return k, ck, v, gain


def associative_write(keys: torch.Tensor, values: torch.Tensor, c_inv: torch.Tensor, gain: torch.Tensor,
                      transforms: KVTransforms | None = None, c_inv_p: torch.Tensor | None = None,
                      return_gram: bool = False) -> tuple[torch.Tensor, ...]:
    """The write of every target layer at once, differentiable in `transforms`.

    keys (L, n, d_in), values (n, D) unit norm, c_inv (L, d_in, d_in), gain (L,) -> A (L, n, d_in), B (L, D, n) with
    A_l = (K^T C_l^-1 K + eps)^-1 K^T C_l^-1 and B_l = gain_l V (K, V through `transforms` when given).
    `c_inv_p`: c_inv @ transforms.P, when the caller writes several documents with the same transforms.
    `return_gram`: also return H = K^T C^-1 K + eps (L, n, n), which `combine_adapters` needs.
    """
    k = keys.float().transpose(1, 2)  # (L, d_in, n)
    if transforms is not None and c_inv_p is None:
        c_inv_p = c_inv @ transforms.P
    k, ck, v, gain = _transformed(k, c_inv @ k, values, gain, transforms, c_inv_p)
    h = _ridge(k.transpose(1, 2) @ ck)  # (L, n, n)
    a = spd_solve(h, ck.transpose(1, 2))
    b = gain[:, None, None] * v.transpose(1, 2)
    return (a, b, h) if return_gram else (a, b)


def factored_write(keys: torch.Tensor, c_keys: torch.Tensor, values: torch.Tensor, c_inv_p: torch.Tensor | None,
                   gain: torch.Tensor, transforms: KVTransforms | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same LoRA as `associative_write` (B' A' = B A), cheaper to train through.

    keys (L, n, d_in) and c_keys = C^-1 keys (L, n, d_in), both computed once per document, so a step never
    multiplies by the d_in x d_in matrices C^-1; c_inv_p = C^-1 P (once per step). Returns A' = (C^-1 K')^T
    (L, n, d_in) and B' = gain V^T H^-1 (L, D, n): the solve runs against the D value columns instead of
    the d_in key columns. Not for storing: `combine_adapters` needs the A and H that `associative_write` gives.
    """
    k, ck, v, gain = _transformed(keys.float().transpose(1, 2), c_keys.float().transpose(1, 2), values, gain, transforms, c_inv_p)
    return solve_factored(k.transpose(1, 2), ck.transpose(1, 2), v, gain)


def solve_factored(k: torch.Tensor, ck: torch.Tensor, v: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The solve of `factored_write` on transformed keys k, C^-1 k (L, n, d_in) and values v (L, n, D):
    A' = C^-1 k (L, n, d_in), B' = gain V^T H^-1 (L, D, n) with H = k^T C^-1 k + eps."""
    return solve_gram(k @ ck.transpose(1, 2), ck, v, gain)


def solve_gram(gram: torch.Tensor, ck: torch.Tensor, v: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`solve_factored` from the keys' Gram matrix k^T C^-1 k (L, n, n) instead of the keys."""
    b = gain[:, None, None] * spd_solve(_ridge(gram), v).transpose(1, 2)  # (L, D, n); H symmetric
    return ck, b


def half_or_float(x: torch.Tensor) -> torch.Tensor:
    """fp16 where it holds x (|C^-1 k| stays near 2e3 on SmolLM2; write error 4e-4 relative), else fp32."""
    half = x.half()
    return half if bool(torch.isfinite(half).all()) else x.float()


GRAM = "gram"  # the extra tensor of a memory adapter: H = K^T C^-1 K + eps per layer (L, n, n)


@torch.no_grad()
def combine_adapters(adapters: Sequence[LoraWeights], c_reg: torch.Tensor) -> LoraWeights:
    """One joint write over the keys of several memory adapters (c_reg: the C_l the write whitened with).

    Each adapter i stores A_i = H_i^-1 (C^-1 K_i)^T and H_i, so (C^-1 K_i)^T = H_i A_i and K_i^T = H_i A_i C.
    The joint adapter solves over all keys at once, A = (K^T C^-1 K + eps)^-1 (C^-1 K)^T, B = [B_1 ... B_n]:
    a key stored by one adapter reads its own value and (nearly) nothing of the others'. Adding the
    adapters instead (rank concatenation) lets every key read every adapter's values.
    """
    if len(adapters) == 1:
        return adapters[0]
    first = adapters[0]
    for x in adapters:
        if GRAM not in x.extras or x.targets != (TARGET,) or x.layers != first.layers or x.base_model != first.base_model:
            raise InputError("combine_adapters takes memory adapters (with their key Gram matrices) of one base model and layers; "
                             "use LoraWeights.concat for other adapters")
    folded = [x.folded() for x in adapters]
    ck = torch.cat([x.extras[GRAM].float() @ x.a[TARGET].float() for x in folded], 1)  # (L, n, d_in) = (C^-1 K)^T
    k = ck @ c_reg  # (L, n, d_in) = K^T (C symmetric)
    g = k @ ck.transpose(1, 2)
    start = 0
    for x in folded:  # the blocks of each adapter's own keys are known exactly: H_i minus its eps
        h = x.extras[GRAM].float()
        n = h.shape[-1]
        mean_diag = h.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None]
        g[:, start:start + n, start:start + n] = h - mean_diag * (GRAM_EPS / (1 + GRAM_EPS)) * torch.eye(n)
        start += n
    h = _ridge(0.5 * (g + g.transpose(1, 2)))
    a = spd_solve(h, ck)
    b = torch.cat([x.b[TARGET].float() for x in folded], 2)
    return LoraWeights({TARGET: a}, {TARGET: b}, first.layers, 1.0, first.base_model, first.model_type,
                       {"parts": [x.meta.get("id", "") for x in adapters], "generator": "memory", "joint": True}, {GRAM: h})


def regularised_c(stats: dict[str, torch.Tensor]) -> torch.Tensor:
    """C per layer from statistics as stored: from the compact factors without a solve (`compact`), else from C^-1."""
    from .compact import COMPACT_KEYS, second_moments_from

    if all(k in stats for k in COMPACT_KEYS):
        return second_moments_from({k: stats[k] for k in COMPACT_KEYS})
    return second_moments(stats["c_inv"].float())


@torch.no_grad()
def second_moments(c_inv: torch.Tensor) -> torch.Tensor:
    """(L, d_in, d_in) C per layer from the stored C^-1, the regularised second moments the write whitened with.

    C^-1 is symmetric positive definite: invert through its Cholesky factor (batched `linalg.inv`
    of these 1536 x 1536 matrices fails inside oneMKL with 2 torch threads set).
    """
    return torch.cholesky_inverse(torch.linalg.cholesky(0.5 * (c_inv + c_inv.transpose(1, 2))))
