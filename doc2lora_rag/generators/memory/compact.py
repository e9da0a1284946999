"""The statistics in a form small enough to ship: C^-1 per layer as an isotropic part plus r eigenpairs.

    C_l^-1 ~= tau_l I + U_l diag(ev_l - tau_l) U_l^T        U_l: d_in x r, orthonormal

U keeps the r eigenvectors of C_l^-1 whose eigenvalues lie farthest from the mean of the others (tau).
Both C^-1 (the write) and C (the joint write) follow from the factors without a solve. At r = 512 of
1536 on SmolLM2 the relative error of C^-1 is ~0.2 and the adapters answer the natural-prose
development set as the exact statistics do; r = 256 (error ~0.36) loses it (docs/training_log.md,
session 8). 20 layers x 1536 x 512 in fp16 are 31.5 MB instead of 189 MB in fp32.

    python -m doc2lora_rag.training.pack_stats --rank 512   # cache -> weights/<base>/memory/
"""

from __future__ import annotations

import torch

COMPACT_KEYS = ("c_inv_u", "c_inv_ev", "c_inv_tau")


@torch.no_grad()
def compress(c_inv: torch.Tensor, rank: int) -> dict[str, torch.Tensor]:
    """(L, d, d) symmetric positive definite -> the factors (U in fp16)."""
    us, evs, taus = [], [], []
    for m in c_inv.double():
        ev, vecs = torch.linalg.eigh(0.5 * (m + m.T))
        tau = ev.median()
        order = torch.arange(len(ev))
        for _ in range(3 if rank < len(ev) else 0):  # the rest's mean moves as the kept set changes; three rounds settle it
            order = (ev - tau).abs().argsort(descending=True)
            tau = ev[order[rank:]].mean()
        us.append(vecs[:, order[:rank]].half())
        evs.append(ev[order[:rank]].float())
        taus.append(tau.float())
    return {"c_inv_u": torch.stack(us).contiguous(), "c_inv_ev": torch.stack(evs), "c_inv_tau": torch.stack(taus)}


def _rebuild(t: dict[str, torch.Tensor], inverse: bool) -> torch.Tensor:
    # fp16 leaves U orthonormal only to ~1e-3; re-orthonormalised, C and C^-1 rebuilt from it are exact inverses
    u = torch.linalg.qr(t["c_inv_u"].float()).Q
    ev, tau = t["c_inv_ev"].float(), t["c_inv_tau"].float()
    if inverse:  # C = (1/tau) I + U diag(1/ev - 1/tau) U^T: U orthonormal, so the inverse keeps the form
        ev, tau = 1.0 / ev, 1.0 / tau
    eye = torch.eye(u.shape[1])
    return tau[:, None, None] * eye + (u * (ev - tau[:, None])[:, None, :]) @ u.transpose(1, 2)


def expand(t: dict[str, torch.Tensor]) -> torch.Tensor:
    """The factors -> C^-1 (L, d, d) fp32."""
    return _rebuild(t, inverse=False)


def second_moments_from(t: dict[str, torch.Tensor]) -> torch.Tensor:
    """The factors -> C (L, d, d) fp32, the matrices the joint write needs, without a solve."""
    return _rebuild(t, inverse=True)


def unpack(stats: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """Statistics as read from a folder -> (statistics with a dense "c_inv", the factors or None)."""
    if "c_inv" in stats or not all(k in stats for k in COMPACT_KEYS):
        return stats, None
    factors = {k: stats[k] for k in COMPACT_KEYS}
    out = {k: v for k, v in stats.items() if k not in COMPACT_KEYS}
    out["c_inv"] = expand(factors)
    return out, factors
