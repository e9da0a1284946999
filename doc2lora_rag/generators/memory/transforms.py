"""KVTransforms: the meta-trained low-rank corrections of the memory write's keys and values."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ...base_model import BaseModel
from ...errors import ConfigError, CorruptFileError, ModelMismatchError
from ...files import atomic_write
from .files import STATS_VERSION, TRANSFORMS_FORMAT, packaged_transforms_dir, read_folder

SCORER = "scorer."  # prefix of the position scorer's tensors in transforms.safetensors
SCORER_KEYS = ("mu", "sd", "w")


class KVTransforms(torch.nn.Module):
    """Meta-trained corrections of the write (`doc2lora train` with a "kind": "memory" config).

    Per target layer l, rank r:
        stored key  k -> k + P_l (Q_l^T k)            a document activation moved toward what a question produces
        value       e -> exp(s_l) (e + U_l (V_l^T e))  the direction that makes layer l emit the token
    P, U and s start at zero, so an untrained instance writes exactly the closed form.
    """

    def __init__(self, n_layers: int, d_in: int, width: int, rank: int = 32, seed: int = 0) -> None:
        super().__init__()
        if rank < 1:
            raise ConfigError(f"KVTransforms rank must be >= 1, got {rank}")
        g = torch.Generator().manual_seed(seed)
        self.P = torch.nn.Parameter(torch.zeros(n_layers, d_in, rank))
        self.Q = torch.nn.Parameter(torch.randn(n_layers, d_in, rank, generator=g) / d_in**0.5)
        self.U = torch.nn.Parameter(torch.zeros(n_layers, width, rank))
        self.V = torch.nn.Parameter(torch.randn(n_layers, width, rank, generator=g) / width**0.5)
        self.log_gain = torch.nn.Parameter(torch.zeros(n_layers))
        self.trained_steps = 0
        self.generation: dict[str, Any] = {}  # generation-time settings they were trained with (e.g. positions_per_chunk)
        # the position scorer they were trained with ("mu", "sd", "w"), when it is not the one fitted with the statistics
        self.scorer: dict[str, torch.Tensor] | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(layers, d_in, width, rank)"""
        return (self.P.shape[0], self.P.shape[1], self.U.shape[1], self.P.shape[2])

    def save(self, path: str | Path, base: BaseModel, **meta: Any) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        info = {"format": TRANSFORMS_FORMAT, "base_model": base.identity(), "rank": self.shape[3],
                "stats_version": STATS_VERSION, "trained_steps": self.trained_steps, "generation": self.generation, **meta}
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        tensors.update({f"{SCORER}{k}": v.detach().float().cpu().contiguous() for k, v in (self.scorer or {}).items()})
        atomic_write(path / "transforms.safetensors", lambda tmp: save_file(tensors, tmp))
        atomic_write(path / "transforms.json", lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2)))
        return path

    @classmethod
    def load(cls, path: str | Path, base: BaseModel) -> KVTransforms:
        path = Path(path)
        info, tensors = read_folder(path, base, "transforms.json", "transforms.safetensors", TRANSFORMS_FORMAT,
                                     "memory transforms", "retrain them (doc2lora train) or restore the file")
        if info.get("stats_version") != STATS_VERSION:
            raise ModelMismatchError(f"memory transforms in {path} were trained on statistics version {info.get('stats_version')}, "
                                     f"this version fits version {STATS_VERSION}; retrain them")
        if "P" not in tensors or "U" not in tensors:
            raise CorruptFileError(f"{path / 'transforms.safetensors'} lacks the P/U tensors; retrain or restore it")
        scorer = {k[len(SCORER):]: v.float() for k, v in tensors.items() if k.startswith(SCORER)}
        if scorer and set(scorer) != set(SCORER_KEYS):
            raise CorruptFileError(f"{path / 'transforms.safetensors'} holds a partial position scorer {sorted(scorer)}; retrain or restore it")
        tensors = {k: v for k, v in tensors.items() if not k.startswith(SCORER)}
        n_layers, d_in, rank = tensors["P"].shape
        out = cls(n_layers, d_in, tensors["U"].shape[1], rank)
        out.scorer = scorer or None
        try:
            out.load_state_dict(tensors)
        except RuntimeError as exc:
            raise CorruptFileError(f"{path / 'transforms.safetensors'} does not hold consistent transforms ({exc})") from exc
        out.trained_steps = int(info.get("trained_steps", 0))
        generation = info.get("generation") or {}
        if not isinstance(generation, dict):
            raise CorruptFileError(f"{path / 'transforms.json'}: 'generation' must be an object, got {generation!r}")
        out.generation = generation
        packaged = packaged_transforms_dir(base.name)
        out.source = "packaged" if packaged is not None and path.resolve() == packaged.resolve() else str(path.resolve())
        return out

    def fingerprint(self) -> str:
        """A short hash of the parameters: which transforms wrote an adapter, wherever their file lives."""
        h = hashlib.sha256()
        scorer = {f"{SCORER}{k}": v for k, v in (self.scorer or {}).items()}
        for name, value in sorted({**self.state_dict(), **scorer}.items()):
            h.update(name.encode())
            h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]
