"""AdapterGenerator: text in, `LoraWeights` out, in one forward pass (encoder + hypernetwork).

Long texts are split into K near-equal chunks of at most `max_chunk_tokens` base-model tokens; each
chunk is encoded on its own and the chunk adapters are concatenated along the rank axis (rank r*K),
followed once by the hypernetwork's document-independent bias block if it has one.

The trained hypernetwork for the embedded model ships in `doc2lora_rag/weights/<base model>/hypernet/`.
A generator directory holds `config.json` (format version, base-model identity, hypernetwork config)
and `model.safetensors`; loading it onto another base model raises ModelMismatchError.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ...base_model import EMBEDDED_MODEL, IDENTITY_KEYS, BaseModel, load_base_model
from ...encoder import Activations, Encoder
from ...errors import ConfigError, CorruptFileError, InputError, ModelMismatchError
from ...files import atomic_write
from ...lora import LoraWeights
from ..protocol import Text, check_texts, token_pieces
from .net import HyperNet, HyperNetConfig

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def default_generator_dir() -> Path | None:
    """The trained generator shipped in the package for the embedded model, if present."""
    path = Path(str(resources.files("doc2lora_rag") / "weights" / EMBEDDED_MODEL / "hypernet"))
    return path if (path / "config.json").is_file() else None


class AdapterGenerator:
    """Encoder (frozen base model) + hypernetwork -> one LoRA per text."""

    reads_pieces = True  # `generate` takes a text as its pieces (protocol.token_pieces)

    def __init__(self, base: BaseModel, hypernet: HyperNet, max_chunk_tokens: int = 512, batch_size: int = 4) -> None:
        c = hypernet.config
        if c.d_model != base.config.hidden_size or max(c.layers) >= base.num_layers:
            raise ModelMismatchError(
                f"hypernetwork built for width {c.d_model} and layers up to {max(c.layers)} does not fit base model "
                f"{base.name!r} (width {base.config.hidden_size}, {base.num_layers} layers)"
            )
        for t, (d_in, d_out) in c.targets.items():
            if tuple(base.target_shape(t)) != (d_in, d_out):
                raise ModelMismatchError(f"target {t!r}: hypernetwork expects {(d_in, d_out)}, base model {base.name!r} has {base.target_shape(t)}")
        if max_chunk_tokens < 8:
            raise InputError(f"max_chunk_tokens must be >= 8, got {max_chunk_tokens}")
        self.base = base
        self.hypernet = hypernet.to(base.device)
        self.max_chunk_tokens = max_chunk_tokens
        self.batch_size = batch_size
        self.encoder = Encoder(base, c.layers, capture_targets=sorted(c.targets) if c.pooled else ())
        self.trained_steps = 0

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def untrained(cls, base: BaseModel, **config: Any) -> AdapterGenerator:
        """A fresh hypernetwork for `base` (all layers, down_proj, rank 8 unless overridden)."""
        targets = config.pop("targets", ["down_proj"])
        cfg = HyperNetConfig(
            d_model=int(base.config.hidden_size),
            layers=config.pop("layers", list(range(base.num_layers))),
            targets={t: list(base.target_shape(t)) for t in targets},
            **config,
        )
        return cls(base, HyperNet(cfg))

    @classmethod
    def from_pretrained(cls, path: str | Path, base: BaseModel | None = None, **kwargs: Any) -> AdapterGenerator:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise InputError(f"{path} is not a generator directory (no config.json); pass a folder written by save_pretrained")
        try:
            meta = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{cfg_path} is not valid JSON ({exc}); restore it or retrain the generator") from exc
        known = {"format", "format_version", "base_model", "hypernet", "max_chunk_tokens", "trained_steps", "training"}
        unknown = sorted(set(meta) - known)
        if unknown:
            raise ConfigError(f"{cfg_path}: unknown keys {unknown}; allowed {sorted(known)}")
        if meta.get("format") != "doc2lora-generator":
            raise ConfigError(f"{cfg_path} is not a doc2lora generator config (format={meta.get('format')!r})")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise ConfigError(f"{cfg_path} has format version {meta['format_version']}; upgrade doc2lora-rag")
        for key in ("base_model", "hypernet"):
            if key not in meta:
                raise ConfigError(f"{cfg_path} is missing the key {key!r}")
        if base is None:
            base = load_base_model(meta["base_model"]["name"])
        mine = {k: meta["base_model"].get(k) for k in IDENTITY_KEYS}
        theirs = {k: base.identity().get(k) for k in IDENTITY_KEYS}
        if mine != theirs:
            raise ModelMismatchError(
                f"generator {path} was trained for base model {mine['name']!r} ({mine}), but the loaded base model is "
                f"{theirs['name']!r} ({theirs}); load {mine['name']!r} or train a generator for {theirs['name']!r}"
            )
        hypernet = HyperNet(HyperNetConfig.from_dict(meta["hypernet"]))
        try:
            state = load_file(str(path / "model.safetensors"))
        except (SafetensorError, OSError, FileNotFoundError) as exc:
            raise CorruptFileError(f"{path / 'model.safetensors'} is missing or corrupt ({exc}); restore or retrain the generator") from exc
        try:
            hypernet.load_state_dict(state)
        except RuntimeError as exc:
            raise CorruptFileError(f"{path / 'model.safetensors'} does not match its config.json ({exc})") from exc
        kwargs.setdefault("max_chunk_tokens", int(meta.get("max_chunk_tokens", 512)))
        gen = cls(base, hypernet, **kwargs)
        gen.trained_steps = int(meta.get("trained_steps", 0))
        gen.source = "packaged" if path.resolve() == (default_generator_dir() or Path("/nonexistent")).resolve() else str(path)
        gen.weights_sha256 = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()[:16]
        return gen

    @classmethod
    def default(cls, base: BaseModel | None = None) -> AdapterGenerator:
        """The packaged trained generator for the embedded model (untrained if none is packaged)."""
        base = base or load_base_model()
        path = default_generator_dir()
        if path is not None and base.name == EMBEDDED_MODEL:
            return cls.from_pretrained(path, base)
        logger.warning("no trained generator is packaged for %r; using an untrained one (zero adapters)", base.name)
        return cls.untrained(base)

    @classmethod
    def from_identity(cls, base: BaseModel, ident: dict[str, Any]) -> AdapterGenerator:
        """The generator an `identity()` describes (how a store reloads the generator that built it)."""
        source = ident.get("source")
        if source == "untrained":
            # its adapters are on disk already; a fresh untrained generator of the same shape adds new ones
            logger.warning("the adapters were made by an untrained generator; loading a new untrained one")
            return cls.untrained(base, rank=ident["rank"], targets=ident["targets"], layers=ident["layers"])
        if source and source != "packaged" and Path(source).is_dir():
            return cls.from_pretrained(source, base)
        return cls.default(base)

    def save_pretrained(self, path: str | Path, training: dict[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        meta = {
            "format": "doc2lora-generator",
            "format_version": FORMAT_VERSION,
            "base_model": self.base.identity(),
            "hypernet": self.hypernet.config.to_dict(),
            "max_chunk_tokens": self.max_chunk_tokens,
            "trained_steps": self.trained_steps,
        }
        if training:
            meta["training"] = training
        state = {k: v.detach().cpu().contiguous() for k, v in self.hypernet.state_dict().items()}
        atomic_write(path / "model.safetensors", lambda tmp: save_file(state, tmp))
        atomic_write(path / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
        return path

    def identity(self) -> dict[str, Any]:
        """What a store records to refuse adapters from another generator."""
        c = self.hypernet.config
        return {"kind": "hypernet", "base_model": self.base.name, "trained_steps": self.trained_steps,
                "rank": c.rank, "targets": sorted(c.targets), "layers": list(c.layers),
                "weights": getattr(self, "weights_sha256", "untrained"),
                "source": getattr(self, "source", "untrained")}

    # -- generation --------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self.base.tokenizer(text, add_special_tokens=False)["input_ids"]

    def pad(self, chunks: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad token id lists into (input_ids, attention_mask) on the model's device."""
        T = max(len(c) for c in chunks)
        ids = torch.full((len(chunks), T), self.base.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(chunks), T, dtype=torch.long)
        for i, c in enumerate(chunks):
            ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
            mask[i, : len(c)] = 1
        return ids.to(self.base.device), mask.to(self.base.device)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Activations:
        return self.encoder(input_ids, attention_mask)

    def lora_tensors(self, acts: Activations) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Differentiable path: activations -> a[t] (B, L, r, d_in), b[t] (B, L, d_out, r)."""
        return self.hypernet(acts.hidden, acts.mask, acts.target_inputs, acts.next_embeddings)

    @torch.no_grad()
    def generate(self, texts: Sequence[Text]) -> list[LoraWeights]:
        """One adapter per text (or its pieces, `token_pieces`): rank r * number of chunks, plus the bias block if any."""
        texts = check_texts(texts)
        pieces: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            chunks = token_pieces(self.tokenize, text, self.max_chunk_tokens)
            if not chunks:
                raise InputError(f"texts[{i}] produced no tokens; pass real text")
            pieces.extend((i, chunk) for chunk in chunks)
        per_text: list[list[tuple[dict, dict]]] = [[] for _ in texts]
        order = sorted(range(len(pieces)), key=lambda j: len(pieces[j][1]))  # similar lengths share a batch
        results: dict[int, tuple[dict, dict]] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            a, b = self.lora_tensors(self.encode(*self.pad([pieces[j][1] for j in batch])))
            for row, j in enumerate(batch):
                results[j] = ({t: v[row] for t, v in a.items()}, {t: v[row] for t, v in b.items()})
        for j, (i, _) in enumerate(pieces):
            per_text[i].append(results[j])
        bias = self.hypernet.bias_lora()
        c = self.hypernet.config
        out = []
        for parts in per_text:
            if bias is not None:
                parts = parts + [bias]
            lora = LoraWeights(
                {t: torch.cat([p[0][t] for p in parts], dim=1).float().cpu() for t in c.targets},
                {t: torch.cat([p[1][t] for p in parts], dim=2).float().cpu() for t in c.targets},
                tuple(c.layers), 1.0, self.base.name, self.base.config.model_type,
                {"chunks": len(parts) - (bias is not None), "generator": "hypernet"},
            )
            out.append(lora)
        return out
