"""MemoryGenerator: a key/value write into down_proj, text in, `LoraWeights` out.

No gradient step at generation: one batched forward pass over the chunks of a text, then per target
layer l

    positions  the m tokens a linear scorer (on the residual entering the middle target layer) ranks
               most likely to precede an answer-like token
    keys K     down_proj inputs at those positions (d_in x m); optionally (`last_read_layer`, for
               speed) the forward pass stops early and the keys of the layers above it are
               predicted from the residual entering that layer by a fitted linear map
    values V   input embeddings of the tokens that follow them, unit norm, times value_scale * the
               layer's mean residual norm (the embedded models tie input and output embeddings)
    A_l = (K^T C_l^-1 K + eps)^-1 K^T C_l^-1      B_l = V

C_l is the second moment of down_proj inputs over a fitting corpus: a stored key maps to its own rank
direction and other inputs are damped. A text longer than one chunk is read chunk by chunk and written
once, jointly: the solve runs over the keys of every chunk (rank m * chunks), so a key stored from one
chunk does not read out the values of another (writing each chunk on its own and concatenating the
ranks lost most long-document answers: docs/training_log.md, session 4).

The statistics (C^-1 per layer, residual norms, the scorer, the key maps) are fitted once per base model by `fit`
from texts whose answers are known (the command line fits on synthetic training documents) and
written with `save`. On top of that closed form, `KVTransforms` are meta-trained (low-rank corrections of
the keys and values and a gain per layer, `training/memory_trainer.py`): the write stays the same, the
keys and values it stores are the transformed ones. Why this design and what it scores:
docs/training_log.md ("Probe", session 5).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from .base_model import BaseModel
from .encoder import Activations, Encoder
from .errors import ConfigError, CorruptFileError, InputError, ModelMismatchError
from .generator import _IDENTITY_KEYS, check_texts, split_equal
from .lora import LoraWeights, _atomic_write

FORMAT = "doc2lora-memory"
TARGET = "down_proj"
GENERATION_KEYS = ("positions_per_chunk", "value_scale")  # settings `load` does not take from the file
STATS_VERSION = 3  # bumped when the fitted statistics change meaning; part of the cache path
TRANSFORMS_FORMAT = "doc2lora-memory-transforms"


FIT_DOCS, FIT_SEED = 200, 11  # the synthetic documents `MemoryGenerator.default` fits statistics on


def packaged_transforms_dir(base_name: str) -> Path | None:
    """The meta-trained transforms shipped in the package for a base model, if any."""
    path = Path(str(resources.files("doc2lora_rag") / "weights" / base_name / "memory"))
    return path if (path / "transforms.json").is_file() else None


def cache_path(base_name: str) -> Path:
    """Where the command line keeps the statistics it fits for a base model."""
    from .base_model import cache_dir

    return cache_dir() / "memory" / f"v{STATS_VERSION}" / base_name


@dataclass
class MemoryConfig:
    first_layer: int = -1  # first target layer; -1 = num_layers // 3
    positions_per_chunk: int = 24  # rank per chunk
    value_scale: float = 0.05
    max_chunk_tokens: int = 128
    ridge: float = 0.01  # C + ridge * mean(diag C) * I before inverting
    scorer_ridge: float = 10.0
    last_read_layer: int = -1  # the forward pass stops here; keys of later layers are predicted. -1 = the last layer

    def __post_init__(self) -> None:
        if not isinstance(self.positions_per_chunk, int) or self.positions_per_chunk < 1:
            raise ConfigError(f"MemoryConfig.positions_per_chunk must be an int >= 1, got {self.positions_per_chunk!r}")
        if not isinstance(self.max_chunk_tokens, int) or self.max_chunk_tokens < 8:
            raise ConfigError(f"MemoryConfig.max_chunk_tokens must be an int >= 8, got {self.max_chunk_tokens!r}")
        if not isinstance(self.last_read_layer, int) or self.last_read_layer < -1:
            raise ConfigError(f"MemoryConfig.last_read_layer must be an int >= 0 or -1 (default), got {self.last_read_layer!r}")
        for name in ("value_scale", "ridge", "scorer_ridge"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"MemoryConfig.{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown MemoryConfig keys {unknown}; allowed {sorted(f.name for f in fields(cls))}")
        return cls(**data)


def _answer_positions(offsets: Sequence[tuple[int, int]], text: str, answers: Sequence[str]) -> list[int]:
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


def _layout(base: BaseModel, config: MemoryConfig) -> tuple[tuple[int, ...], int, int]:
    """(target layers, how many of them have their keys read, index of the layer the position scorer reads).

    The scorer reads the residual entering the middle target layer; the forward pass stops after
    `last_read_layer` and the keys of the target layers above it are predicted.
    """
    first = config.first_layer if config.first_layer >= 0 else base.num_layers // 3
    if first >= base.num_layers:
        raise ConfigError(f"MemoryConfig.first_layer {first} >= the base model's {base.num_layers} layers")
    layers = tuple(range(first, base.num_layers))
    score_index = len(layers) // 2
    last = config.last_read_layer if config.last_read_layer >= 0 else base.num_layers - 1
    last = min(last, base.num_layers - 1)
    if last < layers[score_index]:
        raise ConfigError(f"MemoryConfig.last_read_layer {last} is below layer {layers[score_index]}, the layer the position "
                          f"scorer reads; use a value >= {layers[score_index]}")
    return layers, last - first + 1, score_index


def _encode(encoder: Encoder, chunks: Sequence[Sequence[int]]) -> Activations:
    """Activations of token sequences, right-padded into one batch (a causal model ignores the padding)."""
    dev = encoder.base.device
    width = max(len(c) for c in chunks)
    ids = torch.zeros(len(chunks), width, dtype=torch.long)
    mask = torch.zeros(len(chunks), width, dtype=torch.long)
    for i, c in enumerate(chunks):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, : len(c)] = 1
    return encoder(ids.to(dev), mask.to(dev))


def _with_bias(hidden: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D + 1): the features the key maps read."""
    return torch.cat([hidden, torch.ones(*hidden.shape[:-1], 1)], -1)


def _scorer_features(hidden: torch.Tensor, mu: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """(T, D) residuals -> (T, D + 1) standardised features with a bias column, for the position scorer."""
    return torch.cat([(hidden - mu) / sd, torch.ones(len(hidden), 1)], 1)


def _read_folder(path: Path, base: BaseModel, meta_name: str, tensors_name: str, fmt: str, what: str,
                 remedy: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, tensors) of a folder written for `base`: clear errors for a missing, corrupt, foreign or mismatched one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads((path / meta_name).read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path} holds no {what} (no {meta_name}); {remedy}") from exc
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path / meta_name} is not valid JSON ({exc}); {remedy}") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ConfigError(f"{path / meta_name} does not describe {what} (format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                          f"want {fmt!r})")
    mine = {k: meta.get("base_model", {}).get(k) for k in _IDENTITY_KEYS}
    theirs = {k: base.identity().get(k) for k in _IDENTITY_KEYS}
    if mine != theirs:
        raise ModelMismatchError(f"{what} in {path} were made for base model {mine['name']!r}, not {theirs['name']!r}; {remedy}")
    try:
        tensors = load_file(str(path / tensors_name))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"{path / tensors_name} is missing or corrupt ({exc}); {remedy}") from exc
    return meta, tensors


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

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(layers, d_in, width, rank)"""
        return (self.P.shape[0], self.P.shape[1], self.U.shape[1], self.P.shape[2])

    def save(self, path: str | Path, base: BaseModel, **meta: Any) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        info = {"format": TRANSFORMS_FORMAT, "base_model": base.identity(), "rank": self.shape[3],
                "stats_version": STATS_VERSION, "trained_steps": self.trained_steps, **meta}
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        _atomic_write(path / "transforms.safetensors", lambda tmp: save_file(tensors, tmp))
        _atomic_write(path / "transforms.json", lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2)))
        return path

    @classmethod
    def load(cls, path: str | Path, base: BaseModel) -> KVTransforms:
        path = Path(path)
        info, tensors = _read_folder(path, base, "transforms.json", "transforms.safetensors", TRANSFORMS_FORMAT,
                                     "memory transforms", "retrain them (doc2lora train) or restore the file")
        if info.get("stats_version") != STATS_VERSION:
            raise ModelMismatchError(f"memory transforms in {path} were trained on statistics version {info.get('stats_version')}, "
                                     f"this version fits version {STATS_VERSION}; retrain them")
        if "P" not in tensors or "U" not in tensors:
            raise CorruptFileError(f"{path / 'transforms.safetensors'} lacks the P/U tensors; retrain or restore it")
        n_layers, d_in, rank = tensors["P"].shape
        out = cls(n_layers, d_in, tensors["U"].shape[1], rank)
        try:
            out.load_state_dict(tensors)
        except RuntimeError as exc:
            raise CorruptFileError(f"{path / 'transforms.safetensors'} does not hold consistent transforms ({exc})") from exc
        out.trained_steps = int(info.get("trained_steps", 0))
        packaged = packaged_transforms_dir(base.name)
        out.source = "packaged" if packaged is not None and path.resolve() == packaged.resolve() else str(path.resolve())
        return out

    def fingerprint(self) -> str:
        """A short hash of the parameters: which transforms wrote an adapter, wherever their file lives."""
        h = hashlib.sha256()
        for name, value in sorted(self.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().float().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


GRAM_EPS = 1e-4  # the write's ridge on K^T C^-1 K, relative to its mean diagonal


def _ridge(g: torch.Tensor) -> torch.Tensor:
    """(L, n, n) Gram matrices -> the same plus eps I, eps = GRAM_EPS x each layer's mean diagonal."""
    eps = GRAM_EPS * g.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None]
    return g + eps * torch.eye(g.shape[-1])


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
    ck = c_inv @ k
    v = values[None].expand(len(k), -1, -1)  # (L, n, D)
    if transforms is not None:
        t = transforms
        qk = torch.einsum("lir,lin->lrn", t.Q, k)
        ck = ck + (c_inv @ t.P if c_inv_p is None else c_inv_p) @ qk
        k = k + t.P @ qk
        v = v + torch.einsum("lur,lnr->lnu", t.U, torch.einsum("lur,nu->lnr", t.V, values))
        gain = gain * t.log_gain.exp()
    h = _ridge(k.transpose(1, 2) @ ck)  # (L, n, n)
    a = torch.linalg.solve(h, ck.transpose(1, 2))
    b = gain[:, None, None] * v.transpose(1, 2)
    return (a, b, h) if return_gram else (a, b)


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
    a = torch.linalg.solve(h, ck)
    b = torch.cat([x.b[TARGET].float() for x in folded], 2)
    return LoraWeights({TARGET: a}, {TARGET: b}, first.layers, 1.0, first.base_model, first.model_type,
                       {"parts": [x.meta.get("id", "") for x in adapters], "generator": "memory", "joint": True}, {GRAM: h})


class MemoryGenerator:
    """Closed-form key/value adapters (see the module docstring)."""

    def __init__(self, base: BaseModel, stats: dict[str, torch.Tensor], config: MemoryConfig | None = None,
                 transforms: KVTransforms | None = None) -> None:
        self.base = base
        self.config = config = config or MemoryConfig()
        self.layers, self.n_read, self.score_index = _layout(base, config)
        self.last_read = self.layers[self.n_read - 1]
        d_in, width = base.target_shape(TARGET)[0], base.config.hidden_size
        want = {"c_inv": (len(self.layers), d_in, d_in), "resid": (len(self.layers),), "mu": (width,), "sd": (width,),
                "w": (width + 1,), "maps": (len(self.layers) - self.n_read, width + 1, d_in)}
        for k, shape in want.items():
            if k not in stats or tuple(stats[k].shape) != shape:
                got = tuple(stats[k].shape) if k in stats else None
                raise ModelMismatchError(f"memory statistics {k!r} have shape {got}, base model {base.name!r} with this config "
                                         f"needs {shape}; refit them")
        self.stats = {k: v.float() for k, v in stats.items()}
        if transforms is not None and transforms.shape[:3] != (len(self.layers), d_in, width):
            raise ModelMismatchError(f"memory transforms have shape {transforms.shape[:3]} (layers, d_in, width), this generator "
                                     f"writes {(len(self.layers), d_in, width)}; train transforms for this base model and config")
        self.transforms = transforms
        self._c_reg: torch.Tensor | None = None  # C per layer, derived from c_inv on the first `combine`
        self.encoder = Encoder(base, self.layers[: self.n_read], capture_targets=[TARGET])
        self.max_chunk_tokens = config.max_chunk_tokens
        self.emb = base.model.get_input_embeddings().weight

    # -- fitting -----------------------------------------------------------------------------

    @classmethod
    @torch.no_grad()
    def fit(cls, base: BaseModel, texts: Sequence[str], answers: Sequence[Sequence[str]], config: MemoryConfig | None = None,
            progress: bool = False) -> MemoryGenerator:
        """Fit the statistics on `texts`; answers[i] are strings that occur verbatim in texts[i]."""
        from tqdm.auto import tqdm

        config = config or MemoryConfig()
        texts = check_texts(texts)
        if len(answers) != len(texts):
            raise InputError(f"fit needs one answer list per text, got {len(texts)} texts and {len(answers)} answer lists")
        layers, n_read, score_index = _layout(base, config)
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
            acts = _encode(encoder, [ids])
            keys = acts.target_inputs[TARGET][0].float().cpu()  # (L, T, d_in)
            hidden = acts.hidden[0].float().cpu()  # (L, T, D)
            second += torch.einsum("lti,ltj->lij", keys, keys)
            resid += hidden.norm(dim=-1).sum(-1)
            h = _with_bias(hidden[n_read - 1])
            hh += h.T @ h
            hk += torch.einsum("ti,ltj->lij", h, keys[n_read:])
            n_tok += len(ids)
            label = torch.zeros(len(ids))
            label[_answer_positions(enc["offset_mapping"][: len(ids)], text, ans)] = 1
            xs.append(hidden[score_index])
            ys.append(label)
        y = torch.cat(ys)
        if not y.any():
            raise InputError("none of the answers occur in their texts; fit needs answers that appear verbatim in the text")
        second /= n_tok
        eye = torch.eye(d_in)
        c_inv = torch.stack([torch.linalg.inv(c + config.ridge * c.diagonal().mean() * eye) for c in second])
        x = torch.cat(xs)
        mu, sd = x.mean(0), x.std(0) + 1e-3
        design = _scorer_features(x, mu, sd)
        w = torch.linalg.solve(design.T @ design + config.scorer_ridge * torch.eye(design.shape[1]), design.T @ (2 * y - 1))
        maps = torch.linalg.solve(hh + config.ridge * hh.diagonal().mean() * torch.eye(width + 1), hk)
        stats = {"c_inv": c_inv, "resid": resid / n_tok, "mu": mu, "sd": sd, "w": w, "maps": maps}
        gen = cls(base, stats, config)
        gen.fit_info = {"texts": len(texts), "tokens": n_tok, "answer_positions": int(y.sum())}
        return gen

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        # the fitted maps belong to one last_read_layer: write it resolved, so a later default cannot change it
        config = {**asdict(self.config), "last_read_layer": self.last_read}
        meta = {"format": FORMAT, "base_model": self.base.identity(), "config": config,
                "fit": getattr(self, "fit_info", {})}
        _atomic_write(path / "stats.safetensors", lambda tmp: save_file({k: v.contiguous() for k, v in self.stats.items()}, tmp))
        _atomic_write(path / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
        return path

    @classmethod
    def load(cls, path: str | Path, base: BaseModel, transforms: KVTransforms | None = None, **generation: Any) -> MemoryGenerator:
        """Statistics fitted by `fit` and written by `save`.

        The fit-time settings come from the file; the generation-time ones (`GENERATION_KEYS`) are the
        current defaults unless given here: changing one of those needs no refit.
        """
        meta, stats = _read_folder(Path(path), base, "config.json", "stats.safetensors", FORMAT, "memory statistics",
                                   "delete the folder and refit them (MemoryGenerator.fit)")
        unknown = sorted(set(generation) - set(GENERATION_KEYS))
        if unknown:
            raise ConfigError(f"load takes only generation-time settings {list(GENERATION_KEYS)}, got {unknown}")
        saved = {k: v for k, v in meta.get("config", {}).items() if k not in GENERATION_KEYS}
        gen = cls(base, stats, MemoryConfig.from_dict({**saved, **generation}), transforms)
        gen.fit_info = meta.get("fit", {})
        gen.stats_source = str(Path(path).resolve())
        return gen

    @classmethod
    def default(cls, base: BaseModel, path: str | Path | None = None, trained: bool = True, progress: bool = True,
                **generation: Any) -> MemoryGenerator:
        """The memory generator a user gets by name.

        Statistics: from `path` if it holds them, else from the cache (`cache_path`), fitted there on
        first use on FIT_DOCS synthetic training documents (~3 minutes on 2 CPU cores). Transforms
        (`trained`): from `path` if it holds them, else the ones packaged for this base model, if any;
        `trained=False` gives the closed-form write. `generation`: as in `load`.
        """
        path = Path(path) if path is not None else None
        if path is not None and not path.is_dir():
            raise InputError(f"{path} is not a folder; pass a folder of memory statistics and/or transforms")
        transforms = None
        if trained:
            where = path if path is not None and (path / "transforms.json").is_file() else packaged_transforms_dir(base.name)
            transforms = KVTransforms.load(where, base) if where is not None else None
        if path is not None and (path / "config.json").is_file():
            return cls.load(path, base, transforms, **generation)
        return cls._cached(base, transforms, progress, generation)

    @classmethod
    def from_identity(cls, base: BaseModel, ident: dict[str, Any], progress: bool = True) -> MemoryGenerator:
        """The generator an `identity()` describes (how a store reloads the generator that built it).

        Statistics from the recorded folder when it still exists, else the cache (fitted on first
        use); transforms from the package or the recorded folder. The caller compares the result's
        identity with `ident` (a different statistics fit or other transforms are a mismatch).
        """
        source = ident.get("source") or {}
        transforms = None
        if ident.get("transforms"):
            where = source.get("transforms")
            folder = packaged_transforms_dir(base.name) if where == "packaged" else Path(where) if where else None
            if folder is None or not (folder / "transforms.json").is_file():
                raise ModelMismatchError(f"the memory transforms this generator used ({where}) are not available here; "
                                         "install the doc2lora-rag version that has them or restore the folder")
            transforms = KVTransforms.load(folder, base)
        generation = {k: ident[k] for k in GENERATION_KEYS if k in ident}
        stats = source.get("statistics")
        if stats and (Path(stats) / "config.json").is_file():
            return cls.load(stats, base, transforms, **generation)
        return cls._cached(base, transforms, progress, generation)

    @classmethod
    def _cached(cls, base: BaseModel, transforms: KVTransforms | None, progress: bool, generation: dict[str, Any]) -> MemoryGenerator:
        """Statistics from the cache, fitted there first when missing."""
        where = cache_path(base.name)
        if (where / "config.json").is_file():
            return cls.load(where, base, transforms, **generation)
        from .training.synth import make_corpus

        docs = make_corpus(FIT_DOCS, "train", seed=FIT_SEED, min_tokens=60, max_tokens=300)
        if progress:
            print(f"fitting memory statistics for {base.name} on {FIT_DOCS} synthetic training documents (once; cached in {where})",
                  file=sys.stderr)
        fitted = cls.fit(base, [d.text for d in docs], [[q.answers[0] for q in d.qas if q.answers] for d in docs], progress=progress)
        fitted.save(where)
        return cls.load(where, base, transforms, **generation)  # as a later load would: same settings, checked shapes

    def identity(self) -> dict[str, Any]:
        c = self.config
        return {"kind": "memory", "base_model": self.base.name, "layers": list(self.layers), "targets": [TARGET],
                "positions_per_chunk": c.positions_per_chunk, "value_scale": c.value_scale,
                "max_chunk_tokens": c.max_chunk_tokens, "last_read_layer": self.last_read, "fit": getattr(self, "fit_info", {}),
                "transforms": None if self.transforms is None else {"trained_steps": self.transforms.trained_steps,
                                                                    "fingerprint": self.transforms.fingerprint()},
                # where to reload from; not part of what the generator is (stores compare identities without it)
                "source": {"statistics": getattr(self, "stats_source", None),
                           "transforms": None if self.transforms is None else getattr(self.transforms, "source", None)}}

    # -- generation --------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self.base.tokenizer(text, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def read(self, chunks: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Read the chunks of one text in one batched forward pass that stops at `last_read`.

        Returns the keys of the positions the scorer picks in every chunk (L, n, d_in; target layers
        above `last_read` predicted from the residual entering it), the ids of the tokens that follow
        them (n,) and the picked positions of each chunk (sorted).
        """
        acts = _encode(self.encoder, chunks)
        keys, value_ids, picks = [], [], []
        for i, chunk in enumerate(chunks):
            n = len(chunk)
            hidden = acts.hidden[i, [self.score_index, -1], :n].float().cpu()  # (2, T, D): scorer layer, last read layer
            score = _scorer_features(hidden[0], self.stats["mu"], self.stats["sd"]) @ self.stats["w"]
            top = score[:-1].topk(min(self.config.positions_per_chunk, n - 1)).indices.sort().values  # the last token has no successor here
            read = acts.target_inputs[TARGET][i, :, top].float().cpu()  # (L_read, m, d_in)
            predicted = torch.einsum("mi,lij->lmj", _with_bias(hidden[-1, top]), self.stats["maps"])
            keys.append(torch.cat([read, predicted]))
            value_ids.append(torch.tensor(chunk)[top + 1])
            picks.append(top)
        return torch.cat(keys, dim=1), torch.cat(value_ids), picks

    @torch.no_grad()
    def write(self, keys: torch.Tensor, value_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A (L, n, d_in), B (L, D, n), H (L, n, n) storing keys[:, j] (L, n, d_in) -> the embedding of token
        value_ids[j] (through the meta-trained transforms when the generator has them); H as in `associative_write`."""
        L, n, d_in = keys.shape
        if n == 0:
            return torch.zeros(L, n, d_in), torch.zeros(L, self.emb.shape[1], n), torch.zeros(L, n, n)
        return associative_write(keys, self.values(value_ids), self.stats["c_inv"], self.value_gain(), self.transforms,
                                 return_gram=True)

    def combine(self, adapters: Sequence[LoraWeights]) -> LoraWeights:
        """Several of this generator's adapters as one, by a joint write over their keys (`combine_adapters`)."""
        if len(adapters) > 1 and self._c_reg is None:
            with torch.no_grad():  # the regularised second moments the write whitened with, once
                c_inv = self.stats["c_inv"]
                # C^-1 is symmetric positive definite: invert through its Cholesky factor (batched `linalg.inv`
                # of these 1536 x 1536 matrices fails inside oneMKL with 2 torch threads set)
                self._c_reg = torch.cholesky_inverse(torch.linalg.cholesky(0.5 * (c_inv + c_inv.transpose(1, 2))))
        return combine_adapters(adapters, self._c_reg)

    def values(self, value_ids: torch.Tensor) -> torch.Tensor:
        """(n, D) unit-norm input embeddings of the tokens to store."""
        values = self.emb[value_ids].detach().float().cpu()
        return values / values.norm(dim=-1, keepdim=True)

    def value_gain(self) -> torch.Tensor:
        """(L,) length of a written value at each target layer: value_scale x the layer's mean residual norm."""
        return self.config.value_scale * self.stats["resid"]

    def generate(self, texts: Sequence[str]) -> list[LoraWeights]:
        """One adapter per text: rank positions_per_chunk * number of chunks (fewer for chunks too short to fill it)."""
        out = []
        for i, text in enumerate(check_texts(texts)):
            ids = self.tokenize(text)
            if not ids:
                raise InputError(f"texts[{i}] produced no tokens; pass real text")
            chunks = split_equal(ids, self.max_chunk_tokens)
            keys, value_ids, _ = self.read(chunks)
            a, b, h = self.write(keys, value_ids)
            out.append(LoraWeights({TARGET: a}, {TARGET: b}, self.layers, 1.0, self.base.name, self.base.config.model_type,
                                   {"chunks": len(chunks), "generator": "memory", "trained": self.transforms is not None},
                                   {GRAM: h}))
        return out
