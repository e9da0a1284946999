"""`LoraWeights` holds one adapter: for every target module name, A [L, r, d_in] and B [L, d_out, r]
stacked over the covered layers, with a scaling (delta W = scaling * B @ A), plus optional named
extra tensors a generator keeps with it (the memory generator's key Gram matrices, which let
several of its adapters be combined by one joint write). It saves to a single safetensors file
whose header carries the JSON metadata, and exports to a standard PEFT directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CorruptFileError, InputError, ModelMismatchError
from ..files import atomic_write
from ..model_specs import MODEL_SPECS

FORMAT_VERSION = 2  # 2: optional extra tensors ("extra.<name>"); files without extras are still written as 1
EXTRA_PREFIX = "extra."


@dataclass
class LoraWeights:
    """One LoRA adapter: per target, A [L, r, d_in] and B [L, d_out, r] over `layers`.

    delta W for layer `layers[i]` and target t is `scaling * b[t][i] @ a[t][i]`. `extras`: named
    tensors that travel with the adapter (saved in its file, not part of the weight update).
    """

    a: dict[str, torch.Tensor]
    b: dict[str, torch.Tensor]
    layers: tuple[int, ...]
    scaling: float = 1.0
    base_model: str = ""
    model_type: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = tuple(int(x) for x in self.layers)
        if set(self.a) != set(self.b) or not self.a:
            raise InputError(f"LoraWeights needs the same non-empty targets in a and b, got {sorted(self.a)} and {sorted(self.b)}")
        ranks = set()
        for t in self.a:
            a, b = self.a[t], self.b[t]
            if a.dim() != 3 or b.dim() != 3 or a.shape[0] != len(self.layers) or b.shape[0] != len(self.layers):
                raise InputError(
                    f"target {t!r}: expected a [L, r, d_in] and b [L, d_out, r] with L={len(self.layers)}, "
                    f"got {tuple(a.shape)} and {tuple(b.shape)}"
                )
            if a.shape[1] != b.shape[2]:
                raise InputError(f"target {t!r}: rank of a ({a.shape[1]}) differs from rank of b ({b.shape[2]})")
            ranks.add(a.shape[1])
        if len(ranks) != 1:
            raise InputError(f"all targets must share one rank, got {sorted(ranks)}")

    def with_meta(self, **meta: Any) -> LoraWeights:
        """The same tensors with `meta` updated (a new object; tensors shared)."""
        return LoraWeights(self.a, self.b, self.layers, self.scaling, self.base_model, self.model_type,
                           {**self.meta, **meta}, dict(self.extras))

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted(self.a))

    @property
    def rank(self) -> int:
        return int(next(iter(self.a.values())).shape[1])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for d in (self.a, self.b) for t in d.values())

    def delta(self, target: str, layer: int) -> torch.Tensor:
        """The dense weight update [d_out, d_in] of one layer (for tests and inspection)."""
        i = self.layers.index(layer)
        return self.scaling * self.b[target][i].float() @ self.a[target][i].float()

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> LoraWeights:
        conv = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        return LoraWeights(
            {k: conv(v) for k, v in self.a.items()}, {k: conv(v) for k, v in self.b.items()},
            self.layers, self.scaling, self.base_model, self.model_type, dict(self.meta),
            {k: conv(v) for k, v in self.extras.items()},
        )

    def scaled(self, factor: float) -> LoraWeights:
        """The same adapter with its scaling multiplied by `factor` (a distinct id, so slots cache it apart)."""
        meta = dict(self.meta)
        if meta.get("id"):
            meta["id"] = f"{meta['id']}*{factor:g}"
        return LoraWeights(self.a, self.b, self.layers, self.scaling * factor, self.base_model, self.model_type, meta,
                           dict(self.extras))

    def folded(self) -> LoraWeights:
        """The same adapter with the scaling folded into B (scaling 1)."""
        if self.scaling == 1.0:
            return self
        return LoraWeights(
            dict(self.a), {k: v * self.scaling for k, v in self.b.items()},
            self.layers, 1.0, self.base_model, self.model_type, dict(self.meta), dict(self.extras),
        )

    @staticmethod
    def concat(adapters: Sequence[LoraWeights]) -> LoraWeights:
        """Rank concatenation: the result's delta is the sum of the inputs' deltas (extras are dropped)."""
        if not adapters:
            raise InputError("concat needs at least one adapter, got an empty list")
        first = adapters[0]
        for other in adapters[1:]:
            if other.layers != first.layers or other.targets != first.targets:
                raise InputError(
                    f"cannot concatenate adapters over different layers/targets: "
                    f"{first.targets}@{len(first.layers)} layers vs {other.targets}@{len(other.layers)} layers"
                )
            if other.base_model != first.base_model:
                raise ModelMismatchError(
                    f"cannot concatenate adapters of base model {first.base_model!r} and {other.base_model!r}"
                )
        if len(adapters) == 1:
            return first
        folded = [x.folded() for x in adapters]
        return LoraWeights(
            {t: torch.cat([x.a[t] for x in folded], dim=1) for t in first.targets},
            {t: torch.cat([x.b[t] for x in folded], dim=2) for t in first.targets},
            first.layers, 1.0, first.base_model, first.model_type,
            {"parts": [x.meta.get("id", "") for x in adapters]},
        )

    # -- files -------------------------------------------------------------------------------

    def _header(self) -> dict[str, str]:
        return {
            "format": "doc2lora-lora",
            "format_version": str(FORMAT_VERSION if self.extras else 1),
            "layers": json.dumps(list(self.layers)),
            "scaling": repr(float(self.scaling)),
            "base_model": self.base_model,
            "model_type": self.model_type,
            "meta": json.dumps(self.meta),
        }

    def save(self, path: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write one safetensors file (atomic: temporary file + rename)."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {}
        for t in self.targets:
            tensors[f"{t}.lora_A"] = self.a[t].detach().to("cpu", dtype or self.a[t].dtype).contiguous()
            tensors[f"{t}.lora_B"] = self.b[t].detach().to("cpu", dtype or self.b[t].dtype).contiguous()
        for name, x in self.extras.items():  # kept in fp32: they are small and feed a linear solve
            tensors[f"{EXTRA_PREFIX}{name}"] = x.detach().to("cpu", torch.float32).contiguous()
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=self._header()))
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> LoraWeights:
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise InputError(f"no adapter file at {path}; check the path or re-create the adapter")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as fh:
                header = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CorruptFileError(f"{path} is not a readable safetensors adapter ({exc}); delete it and generate the adapter again") from exc
        if header.get("format") != "doc2lora-lora":
            raise CorruptFileError(f"{path} is a safetensors file but not a doc2lora adapter (header {sorted(header)})")
        if int(header.get("format_version", "0")) > FORMAT_VERSION:
            raise CorruptFileError(
                f"{path} has adapter format version {header['format_version']}, newer than this library's "
                f"{FORMAT_VERSION}; upgrade doc2lora-rag"
            )
        try:
            extras = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
            targets = sorted({k.rsplit(".", 1)[0] for k in tensors if not k.startswith(EXTRA_PREFIX)})
            a = {t: tensors[f"{t}.lora_A"] for t in targets}
            b = {t: tensors[f"{t}.lora_B"] for t in targets}
            out = cls(
                a, b, tuple(json.loads(header["layers"])), float(header["scaling"]),
                header.get("base_model", ""), header.get("model_type", ""), json.loads(header.get("meta", "{}")), extras,
            )
        except (KeyError, json.JSONDecodeError, InputError) as exc:
            raise CorruptFileError(f"{path}: adapter header or tensors are inconsistent ({exc}); generate it again") from exc
        return out.to(device=device, dtype=dtype)

    def to_peft(self, out_dir: str | Path, base_model_name_or_path: str | None = None) -> Path:
        """Write a standard PEFT LoRA directory (adapter_config.json + adapter_model.safetensors).

        `peft.PeftModel.from_pretrained(model, out_dir)` loads it; the scaling is exact
        (lora_alpha = scaling * r, no rsLoRA).
        """
        from safetensors.torch import save_file

        if self.model_type not in MODEL_SPECS:
            raise InputError(f"cannot export: model_type {self.model_type!r} has no ModelSpec; known {sorted(MODEL_SPECS)}")
        spec = MODEL_SPECS[self.model_type]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for t in self.targets:
            for i, layer in enumerate(self.layers):
                key = f"base_model.model.{spec.layers_path}.{layer}.{spec.targets[t]}"
                tensors[f"{key}.lora_A.weight"] = self.a[t][i].detach().float().cpu().contiguous()
                tensors[f"{key}.lora_B.weight"] = self.b[t][i].detach().float().cpu().contiguous()
        config = {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model_name_or_path or self.base_model,
            "r": self.rank,
            "lora_alpha": float(self.scaling * self.rank),
            "lora_dropout": 0.0,
            "bias": "none",
            "use_rslora": False,
            "target_modules": list(self.targets),
            "layers_to_transform": list(self.layers),
            "layers_pattern": spec.layers_path.rsplit(".", 1)[-1],
            "fan_in_fan_out": False,
            "inference_mode": True,
        }
        header = {"format": "pt", "doc2lora_base_model": self.base_model, "doc2lora_model_type": self.model_type}
        atomic_write(out / "adapter_model.safetensors", lambda tmp: save_file(tensors, tmp, metadata=header))
        atomic_write(out / "adapter_config.json", lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
        return out


PEFT_FIX = "export it again from a store built on that model (doc2lora export --store STORE --ids ... OUT_DIR)"


def check_peft_folder(folder: str | Path, base: Any) -> int:
    """Refuse a PEFT folder (as `LoraWeights.to_peft` writes) made for another base model than `base`: the base
    model it records, and every LoRA matrix against the module it targets (present, same in/out width). Raises
    ModelMismatchError naming the fix, CorruptFileError for an unreadable folder; returns how many modules it targets."""
    from safetensors import safe_open

    folder = Path(folder)
    try:
        with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as fh:
            header = fh.metadata() or {}
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
        json.loads((folder / "adapter_config.json").read_text())
    except Exception as exc:  # missing files, damaged safetensors or JSON
        raise CorruptFileError(f"{folder} is not a readable PEFT adapter folder ({exc}); export it again") from exc
    made_for = header.get("doc2lora_base_model", "")
    if made_for and made_for != base.name:
        raise ModelMismatchError(f"{folder} was exported for base model {made_for!r}, not {base.name!r}; {PEFT_FIX}")
    modules = 0
    for key, shape in shapes.items():
        if not key.endswith((".lora_A.weight", ".lora_B.weight")):
            continue
        path = key.removeprefix("base_model.model.").rsplit(".lora_", 1)[0]
        try:
            module = base.model.get_submodule(path)
        except AttributeError:
            raise ModelMismatchError(f"{folder} adapts {path}, which {base.name!r} does not have; {PEFT_FIX}") from None
        width = module.in_features if ".lora_A." in key else module.out_features
        if len(shape) != 2 or shape[1 if ".lora_A." in key else 0] != width:
            raise ModelMismatchError(f"{folder}: {key} has shape {list(shape)}, but {path} of {base.name!r} is "
                                     f"{module.in_features} -> {module.out_features}; {PEFT_FIX}")
        modules += ".lora_A." in key
    if not modules:
        raise CorruptFileError(f"{folder} holds no LoRA matrices; export it again")
    return modules
