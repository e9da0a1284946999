"""Perceiver hypernetwork: per-layer activations of a document chunk -> rank-r LoRA A/B per layer.

Shapes (B chunks, L target layers, T tokens, D base width, W latent width, r rank):

  features (B, L, T, D) --LayerNorm (no params), Linear D->W, + layer embedding--> kv (B, L, T, W)
  queries  (L, r, W) = rank latents (r, W) + layer embedding (L, W), shared weights for every layer
  blocks   x num_blocks: q += CrossAttn(LN q, LN kv) over the T tokens of the same layer; q += MLP(LN q)
  head     L2-normalised latent -> Linear W -> d_in + d_out (one row of A and one row of B per rank);
           shared across layers or one per layer (`per_layer_heads`)
  pooled   optional "pointer" term: softmax attention of each latent over tokens pools the target's own
           input activations into a row of A and the next-token embeddings into a column of B, so the
           adapter is built from the document's own vectors (a key/value memory written into down_proj)
  scale    A = unit rows * s_A (init 1); B = unit columns * s_B * alpha (s_B init 0): an untrained
           hypernetwork emits exactly-zero adapters.
  bias     optional learned, document-independent LoRA block (rank `bias_rank`, B initialised to 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


@dataclass
class HyperNetConfig:
    d_model: int  # hidden size of the base model
    layers: list[int]  # target layers, in order
    targets: dict[str, list[int]]  # target name -> [d_in, d_out]
    rank: int = 8
    latent_dim: int = 256
    num_blocks: int = 2
    num_heads: int = 4
    mlp_ratio: int = 2
    per_layer_heads: bool = False
    pooled: bool = True
    bias_rank: int = 0
    alpha: float = field(default=-1.0)  # fixed multiplier on B; -1 means 2 * rank ** 1.5

    def __post_init__(self) -> None:
        if self.alpha == -1.0:
            self.alpha = 2.0 * self.rank**1.5
        for name in ("d_model", "rank", "latent_dim", "num_blocks", "num_heads", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"HyperNetConfig.{name} must be a positive int, got {value!r}")
        if self.latent_dim % self.num_heads:
            raise ConfigError(f"HyperNetConfig.latent_dim ({self.latent_dim}) must be divisible by num_heads ({self.num_heads})")
        if not self.layers or not all(isinstance(x, int) and x >= 0 for x in self.layers):
            raise ConfigError(f"HyperNetConfig.layers must be a non-empty list of layer indices, got {self.layers!r}")
        if not self.targets:
            raise ConfigError("HyperNetConfig.targets must name at least one target, e.g. {'down_proj': [1536, 576]}")
        for t, shape in self.targets.items():
            if len(shape) != 2 or not all(isinstance(x, int) and x > 0 for x in shape):
                raise ConfigError(f"HyperNetConfig.targets[{t!r}] must be [d_in, d_out], got {shape!r}")
            if self.pooled and shape[1] != self.d_model:
                raise ConfigError(
                    f"HyperNetConfig.pooled needs every target to write the residual stream (d_out == d_model "
                    f"{self.d_model}); target {t!r} has d_out {shape[1]}: set pooled=false or drop that target"
                )
        if self.bias_rank < 0:
            raise ConfigError(f"HyperNetConfig.bias_rank must be >= 0, got {self.bias_rank}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown HyperNetConfig keys {unknown}; allowed keys are {sorted(known)}")
        missing = sorted(k for k in ("d_model", "layers", "targets") if k not in data)
        if missing:
            raise ConfigError(f"HyperNetConfig is missing required keys {missing}")
        return cls(**data)


class _CrossBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.q, self.kv, self.out = nn.Linear(width, width), nn.Linear(width, 2 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # q (B, L, r, W), kv (B, L, T, W), bias (B, 1, 1, 1, T) additive mask
        B, L, r, W = q.shape
        T, h = kv.shape[2], self.heads
        qh = self.q(self.norm_q(q)).view(B, L, r, h, W // h).transpose(2, 3)  # (B, L, h, r, W/h)
        k, v = self.kv(self.norm_kv(kv)).view(B, L, T, 2, h, W // h).permute(3, 0, 1, 4, 2, 5)  # (B, L, h, T, W/h)
        att = F.scaled_dot_product_attention(qh, k, v, attn_mask=bias)  # (B, L, h, r, W/h)
        q = q + self.out(att.transpose(2, 3).reshape(B, L, r, W))
        return q + self.mlp(self.norm_mlp(q))


class HyperNet(nn.Module):
    """Maps per-layer document activations to per-layer LoRA factors (see module docstring)."""

    def __init__(self, config: HyperNetConfig) -> None:
        super().__init__()
        self.config = c = config
        L, W, r = len(c.layers), c.latent_dim, c.rank
        self.targets = sorted(c.targets)
        self.in_proj = nn.Linear(c.d_model, W)
        self.layer_embed = nn.Parameter(torch.randn(L, W) * 0.02)
        self.latents = nn.Parameter(torch.randn(len(self.targets), r, W) * 0.02)
        self.blocks = nn.ModuleList([_CrossBlock(W, c.num_heads, c.mlp_ratio) for _ in range(c.num_blocks)])
        self.norm_out = nn.LayerNorm(W)
        heads = {}
        for t in self.targets:
            d_in, d_out = c.targets[t]
            n = L if c.per_layer_heads else 1
            heads[t] = nn.Parameter(torch.randn(n, W, d_in + d_out) * (0.5 / math.sqrt(W + d_in + d_out)))
        self.heads = nn.ParameterDict(heads)
        if c.pooled:
            self.pointer_q = nn.Linear(W, W)
            self.pointer_k = nn.Linear(W, W)
            self.mix = nn.Parameter(torch.ones(len(self.targets), L, 2, 2))  # (target, layer, A/B, head/pool)
        self.scale_a = nn.Parameter(torch.ones(len(self.targets), L, r))
        self.scale_b = nn.Parameter(torch.zeros(len(self.targets), L, r))
        if c.bias_rank:
            self.bias_a = nn.ParameterDict(
                {t: nn.Parameter(torch.randn(L, c.bias_rank, c.targets[t][0]) * (0.2 / math.sqrt(c.targets[t][0] * c.bias_rank))) for t in self.targets}
            )
            self.bias_b = nn.ParameterDict({t: nn.Parameter(torch.zeros(L, c.targets[t][1], c.bias_rank)) for t in self.targets})

    def scale_parameters(self) -> list[nn.Parameter]:
        """Parameters that want a larger learning rate (the per-rank scales and pooling mix)."""
        out = [self.scale_a, self.scale_b]
        if self.config.pooled:
            out.append(self.mix)
        return out

    def forward(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor,
        target_inputs: dict[str, torch.Tensor] | None = None,
        next_embeddings: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """hidden (B, L, T, D), mask (B, T) -> a[t] (B, L, r, d_in), b[t] (B, L, d_out, r), alpha folded into b."""
        c = self.config
        B, L, T, _ = hidden.shape
        dt = self.in_proj.weight.dtype
        x = F.layer_norm(hidden.to(dt), hidden.shape[-1:])
        kv = self.in_proj(x) + self.layer_embed[None, :, None, :]  # (B, L, T, W)
        bias = torch.zeros(B, 1, 1, 1, T, dtype=dt, device=hidden.device)
        bias = bias.masked_fill(mask[:, None, None, None, :] == 0, float("-inf"))
        a_out, b_out = {}, {}
        for ti, t in enumerate(self.targets):
            q = (self.latents[ti][None, None] + self.layer_embed[None, :, None, :]).expand(B, L, c.rank, -1)
            for block in self.blocks:
                q = block(q, kv, bias)
            z = F.normalize(self.norm_out(q), dim=-1)  # (B, L, r, W)
            d_in, d_out = c.targets[t]
            rows = torch.einsum("blrw,lwo->blro", z, self.heads[t].expand(L, -1, -1))  # (B, L, r, d_in + d_out)
            a_vec, b_vec = F.normalize(rows[..., :d_in], dim=-1), F.normalize(rows[..., d_in:], dim=-1)
            if c.pooled:
                if target_inputs is None or next_embeddings is None:
                    raise ValueError("pooled hypernetwork needs target_inputs and next_embeddings")
                logits = torch.einsum("blrw,bltw->blrt", self.pointer_q(q), self.pointer_k(kv)) / math.sqrt(c.latent_dim)
                attn = torch.softmax(logits + bias.view(B, 1, 1, T), dim=-1)  # (B, L, r, T)
                pool_a = F.normalize(torch.einsum("blrt,blti->blri", attn, target_inputs[t].to(dt)), dim=-1)
                pool_b = F.normalize(torch.einsum("blrt,btd->blrd", attn, next_embeddings.to(dt)), dim=-1)
                m = self.mix[ti]  # (L, 2, 2)
                a_vec = F.normalize(m[None, :, None, 0, 0, None] * a_vec + m[None, :, None, 0, 1, None] * pool_a, dim=-1)
                b_vec = F.normalize(m[None, :, None, 1, 0, None] * b_vec + m[None, :, None, 1, 1, None] * pool_b, dim=-1)
            a_out[t] = a_vec * self.scale_a[ti][None, :, :, None]
            b_out[t] = (b_vec * (self.scale_b[ti][None, :, :, None] * c.alpha)).transpose(2, 3)  # (B, L, d_out, r)
        return a_out, b_out

    def bias_lora(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None:
        """The document-independent block: a[t] (L, rb, d_in), b[t] (L, d_out, rb), or None."""
        if not self.config.bias_rank:
            return None
        return {t: self.bias_a[t] for t in self.targets}, {t: self.bias_b[t] for t in self.targets}
