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
from texts whose answers are known (on first use: the synthetic training documents packaged in
`fit_corpus.json`) and written with `save`. On top of that closed form, `KVTransforms` are meta-trained (low-rank corrections of
the keys and values and a gain per layer, `training/memory_trainer.py`): the write stays the same, the
keys and values it stores are the transformed ones. Why this design and what it scores:
docs/training_log.md ("Probe", session 5).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ...base_model import BaseModel
from ...chunking import split_equal
from ...encoder import Encoder, target_inputs_from_parents
from ...errors import ConfigError, InputError, ModelMismatchError
from ...files import atomic_write
from ...lora import LoraWeights
from ...lora.manager import Lru
from ..protocol import Text, check_texts, token_pieces
from .compact import unpack
from .config import GENERATION_KEYS, TARGET, MemoryConfig, layout
from .files import FORMAT, cache_path, load_fit_corpus, packaged_stats_dir, packaged_transforms_dir, read_folder, stats_folder
from .fit import encode_batch, fit_statistics, scorer_features, with_bias
from .records import MemoryRecord, TokenRecord
from .transforms import KVTransforms
from .write import GRAM, associative_write, combine_adapters, half_or_float, regularised_c, solve_gram, transform_keys, transform_values

PREPARED = 32  # records whose keys `expand` keeps ready (~5.9 MB each on SmolLM2: 20 layers x 48 positions x 1536 x 2, fp16)
READ = 256  # token records kept read (`read_record`; ~1.1 MB each on SmolLM2 for a 2-chunk group, fp16)


class MemoryGenerator:
    """Closed-form key/value adapters (see the module docstring)."""

    reads_pieces = True  # `generate` takes a text as its pieces (protocol.token_pieces)

    def __init__(self, base: BaseModel, stats: dict[str, torch.Tensor], config: MemoryConfig | None = None,
                 transforms: KVTransforms | None = None) -> None:
        self.base = base
        self.config = config = config or MemoryConfig()
        self.layers, self.n_read, self.score_index = layout(base, config)
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
        if transforms is not None and transforms.scorer:  # they pick positions with the scorer they were trained with
            for k, v in transforms.scorer.items():
                if tuple(v.shape) != want[k]:
                    raise ModelMismatchError(f"the position scorer packaged with the memory transforms has {k!r} of shape "
                                             f"{tuple(v.shape)}, this generator needs {want[k]}; retrain the transforms")
            self.stats.update({k: v.float() for k, v in transforms.scorer.items()})
        self.transforms = transforms
        self._c_reg: torch.Tensor | None = None  # C per layer, derived from c_inv on the first `combine`
        self._factors: dict[str, torch.Tensor] | None = None  # the compact statistics' factors, when loaded from them
        self._c_inv_p: torch.Tensor | None = None  # C^-1 P, once, for `expand`
        self._prep = Lru(PREPARED)  # `prepared`, by record id
        self._read_cache = Lru(READ)  # `read_record`, by record id
        self._prep_lock = threading.Lock()  # both caches
        self._read_lock = threading.RLock()  # one forward pass at a time through the encoder's hooks
        # the MLP inputs only: down_proj's inputs are rebuilt from them at the picked positions (`keys`)
        self.encoder = Encoder(base, self.layers[: self.n_read], capture_parents=[TARGET])
        self.max_chunk_tokens = config.max_chunk_tokens
        self.emb = base.model.get_input_embeddings().weight

    # -- fitting -----------------------------------------------------------------------------

    @classmethod
    def fit(cls, base: BaseModel, texts: Sequence[str], answers: Sequence[Sequence[str]], config: MemoryConfig | None = None,
            progress: bool = False) -> MemoryGenerator:
        """Fit the statistics on `texts`; answers[i] are strings that occur verbatim in texts[i] (`fit.fit_statistics`)."""
        config = config or MemoryConfig()
        stats, info = fit_statistics(base, texts, answers, config, progress)
        gen = cls(base, stats, config)
        gen.fit_info = info
        return gen

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        # the fitted maps belong to one last_read_layer: write it resolved, so a later default cannot change it
        config = {**asdict(self.config), "last_read_layer": self.last_read}
        meta = {"format": FORMAT, "base_model": self.base.identity(), "config": config,
                "fit": getattr(self, "fit_info", {})}
        atomic_write(path / "stats.safetensors", lambda tmp: save_file({k: v.contiguous() for k, v in self.stats.items()}, tmp))
        atomic_write(path / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2)))
        return path

    @classmethod
    def load(cls, path: str | Path, base: BaseModel, transforms: KVTransforms | None = None, **generation: Any) -> MemoryGenerator:
        """Statistics fitted by `fit` and written by `save`.

        The fit-time settings come from the file; the generation-time ones (`GENERATION_KEYS`) are the
        current defaults unless given here: changing one of those needs no refit.
        """
        meta, stats = read_folder(Path(path), base, "config.json", "stats.safetensors", FORMAT, "memory statistics",
                                   "delete the folder and refit them (MemoryGenerator.fit)")
        stats, factors = unpack(stats)
        unknown = sorted(set(generation) - set(GENERATION_KEYS))
        if unknown:
            raise ConfigError(f"load takes only generation-time settings {list(GENERATION_KEYS)}, got {unknown}")
        saved = {k: v for k, v in meta.get("config", {}).items() if k not in GENERATION_KEYS}
        gen = cls(base, stats, MemoryConfig.from_dict({**saved, **generation}), transforms)
        gen.fit_info = meta.get("fit", {})
        gen._factors = factors
        packaged = packaged_stats_dir(base.name)
        gen.stats_source = "packaged" if packaged is not None and Path(path).resolve() == packaged.resolve() else str(Path(path).resolve())
        return gen

    @classmethod
    def default(cls, base: BaseModel, path: str | Path | None = None, trained: bool = True, progress: bool = True,
                **generation: Any) -> MemoryGenerator:
        """The memory generator a user gets by name.

        Statistics: from `path` if it holds them, else the ones packaged for this base model (compact form,
        `compact`), else from the cache (`cache_path`), fitted there on first use on FIT_DOCS synthetic
        training documents (~3 minutes on 2 CPU cores). Transforms
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
            if transforms is None:
                warnings.warn(f"no meta-trained memory transforms are packaged for base model {base.name!r}: using the closed-form "
                              "write (it carries documents without training, less accurately); train transforms with "
                              "`doc2lora train --config <a memory config>` and pass their folder", UserWarning, stacklevel=2)
        if transforms is not None:  # the settings they were trained with, unless the caller overrides them
            generation = {**{k: v for k, v in transforms.generation.items() if k in GENERATION_KEYS}, **generation}
        if path is not None and (path / "config.json").is_file():
            return cls.load(path, base, transforms, **generation)
        packaged = packaged_stats_dir(base.name)
        if packaged is not None:
            return cls.load(packaged, base, transforms, **generation)
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
        folder = stats_folder(source.get("statistics"), base.name)
        if (folder / "config.json").is_file():
            return cls.load(folder, base, transforms, **generation)
        return cls._cached(base, transforms, progress, generation)

    @classmethod
    def _cached(cls, base: BaseModel, transforms: KVTransforms | None, progress: bool, generation: dict[str, Any]) -> MemoryGenerator:
        """Statistics from the cache, fitted there first when missing."""
        where = cache_path(base.name)
        if (where / "config.json").is_file():
            return cls.load(where, base, transforms, **generation)
        texts, answers = load_fit_corpus()
        if progress:
            print(f"fitting memory statistics for {base.name} on {len(texts)} synthetic training documents (once; cached in {where})",
                  file=sys.stderr)
        fitted = cls.fit(base, texts, answers, progress=progress)
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
        record, picks = self._read(chunks)
        return self.keys(record), record.value_ids, picks

    @torch.no_grad()
    def _read(self, chunks: Sequence[Sequence[int]],
              chosen: Sequence[torch.Tensor] | None = None) -> tuple[MemoryRecord, list[torch.Tensor]]:
        """The record of a text's chunks (MLP inputs at the picked positions, next-token ids) and the picks per chunk.
        `chosen`: the positions of each chunk to store (sorted, each before the chunk's last token) instead of the scorer's."""
        if chosen is not None:  # chunks are read independently: those that store nothing need no forward pass
            read = [i for i, c in enumerate(chosen) if len(c)] or [0]
            record, picks = self._read_all([chunks[i] for i in read], [chosen[i] for i in read])
            out = [torch.zeros(0, dtype=torch.long) for _ in chunks]
            for i, p in zip(read, picks):
                out[i] = p
            record.meta["chunks"] = len(chunks)
            return record, out
        return self._read_all(chunks, None)

    def _read_all(self, chunks: Sequence[Sequence[int]],
                  chosen: Sequence[torch.Tensor] | None) -> tuple[MemoryRecord, list[torch.Tensor]]:
        acts = encode_batch(self.encoder, chunks)
        inputs, hidden_last, value_ids, picks = [], [], [], []
        for i, chunk in enumerate(chunks):
            n = len(chunk)
            hidden = acts.hidden[i, [self.score_index, -1], :n].float().cpu()  # (2, T, D): scorer layer, last read layer
            if chosen is not None:
                top = chosen[i].long()
            else:
                score = scorer_features(hidden[0], self.stats["mu"], self.stats["sd"]) @ self.stats["w"]
                top = score[:-1].topk(min(self.config.positions_per_chunk, n - 1)).indices.sort().values  # the last token has no successor here
            inputs.append(acts.parent_inputs[TARGET][i, :, top].float().cpu())  # (L_read, m, D)
            hidden_last.append(hidden[-1, top])
            value_ids.append(torch.tensor(chunk)[top + 1])
            picks.append(top)
        predicted = self.n_read < len(self.layers)
        record = MemoryRecord(torch.cat(inputs, dim=1), torch.cat(value_ids), self.layers, self.base.name,
                              {"chunks": len(chunks), "generator": "memory"}, torch.cat(hidden_last) if predicted else None)
        return record, picks

    @torch.no_grad()
    def keys(self, record: MemoryRecord) -> torch.Tensor:
        """(L, n, d_in) down_proj inputs of a record's positions: the read layers' through the MLP from their inputs,
        the layers above `last_read` predicted from the residual entering it."""
        if record.layers != self.layers or record.inputs.shape[0] != self.n_read or record.inputs.shape[2] != self.emb.shape[1]:
            raise ModelMismatchError(f"a memory record over layers {record.layers[:1]}..{record.layers[-1:]} reading "
                                     f"{record.inputs.shape[0]} of them (width {record.inputs.shape[2]}) does not fit this generator "
                                     f"({len(self.layers)} layers from {self.layers[0]}, {self.n_read} read, width {self.emb.shape[1]}); "
                                     "open the store with the generator that built it")
        read = target_inputs_from_parents(self.base, self.layers[: self.n_read], TARGET, record.inputs).float().cpu()
        if record.hidden is None:
            return read
        predicted = torch.einsum("mi,lij->lmj", with_bias(record.hidden.float()), self.stats["maps"])
        return torch.cat([read, predicted])

    @torch.no_grad()
    def write(self, keys: torch.Tensor, value_ids: torch.Tensor,
              value_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A (L, n, d_in), B (L, D, n), H (L, n, n) storing keys[:, j] (L, n, d_in) -> the embedding of token
        value_ids[j] (through the meta-trained transforms when the generator has them); H as in `associative_write`.
        `value_scale`: instead of the config's (`value_gain`)."""
        L, n, d_in = keys.shape
        if n == 0:
            return torch.zeros(L, n, d_in), torch.zeros(L, self.emb.shape[1], n), torch.zeros(L, n, n)
        return associative_write(keys, self.values(value_ids), self.stats["c_inv"], self.value_gain(value_scale), self.transforms,
                                 return_gram=True)

    def combine(self, adapters: Sequence[LoraWeights]) -> LoraWeights:
        """Several of this generator's adapters as one, by a joint write over their keys (`combine_adapters`)."""
        if len(adapters) > 1 and self._c_reg is None:  # once; from the compact factors without a solve when loaded so
            self._c_reg = regularised_c(self._factors or self.stats)
        return combine_adapters(adapters, self._c_reg)

    def values(self, value_ids: torch.Tensor) -> torch.Tensor:
        """(n, D) unit-norm input embeddings of the tokens to store."""
        values = self.emb[value_ids].detach().float().cpu()
        return values / values.norm(dim=-1, keepdim=True)

    def value_gain(self, value_scale: float | None = None) -> torch.Tensor:
        """(L,) length of a written value at each target layer: value_scale (default the config's) x the layer's mean
        residual norm."""
        return (self.config.value_scale if value_scale is None else value_scale) * self.stats["resid"]

    def generate(self, texts: Sequence[Text]) -> list[LoraWeights]:
        """One adapter per text (or its pieces, `token_pieces`): rank positions_per_chunk * number of chunks (fewer
        for chunks too short to fill it)."""
        out = []
        for i, text in enumerate(check_texts(texts)):
            chunks = token_pieces(self.tokenize, text, self.max_chunk_tokens)
            if not chunks:
                raise InputError(f"texts[{i}] produced no tokens; pass real text")
            keys, value_ids, _ = self.read(chunks)
            a, b, h = self.write(keys, value_ids)
            out.append(self._lora(a, b, {"chunks": len(chunks)}, {GRAM: h}))
        return out

    def generate_for(self, text: str, question: str, embedder: Any, sentences: int = 1,
                     spans: Sequence[tuple[int, int]] | None = None, titles: Sequence[str | None] | None = None) -> LoraWeights:
        """An adapter of `text` for one question: the write holds every position of the `sentences` sentences of the
        text closest to the question (`select.closest_sentences`, `embedder` e.g. the store's MiniLM) and no other key,
        its values at `config.selected_value_scale`. `spans`, `titles`: the text's sentences and the title each is
        scored after (`select.joined` for several texts; default `select.sentence_spans` and the text's first line).
        One forward pass over the chunks that hold the chosen sentences; the selection costs one embedding per sentence."""
        from .select import closest_sentences

        if not isinstance(text, str) or not text.strip():
            raise InputError("generate_for needs the text as a non-empty string")
        if not isinstance(sentences, int) or sentences < 1:
            raise InputError(f"sentences must be an int >= 1, got {sentences!r}")
        record = self.selected_record(text, closest_sentences(text, question, embedder, sentences, spans, titles=titles))
        a, b, h = self.write(self.keys(record), record.value_ids, self.config.selected_value_scale)
        return self._lora(a, b, {"chunks": record.meta["chunks"], "selected_for": question, "sentences": sentences}, {GRAM: h})

    def selected_record(self, text: str, spans: Sequence[tuple[int, int]]) -> MemoryRecord:
        """The record of `text` read in one forward pass with every position whose next token starts inside one of
        the character `spans` stored, and no other (what `generate_for` writes; the trainer's selected regime)."""
        from .select import positions_in

        enc = self.base.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        chunks = split_equal(enc["input_ids"], self.max_chunk_tokens)
        if not chunks:
            raise InputError("the text produced no tokens; pass real text")
        wanted = set(positions_in(enc["offset_mapping"], spans))
        chosen, start = [], 0
        for c in chunks:  # a chunk's last token has no successor inside it: not stored
            chosen.append(torch.tensor([p - start for p in range(start, start + len(c) - 1) if p in wanted], dtype=torch.long))
            start += len(c)
        return self._read(chunks, chosen)[0]

    def records(self, texts: Sequence[Text]) -> list[MemoryRecord]:
        """One record per text (`records.MemoryRecord`): what `generate` would write, before the write.
        `expand([record])` gives the adapter `generate` gives (up to the record's fp16 rounding on disk)."""
        out = []
        for i, text in enumerate(check_texts(texts)):
            chunks = token_pieces(self.tokenize, text, self.max_chunk_tokens)
            if not chunks:
                raise InputError(f"texts[{i}] produced no tokens; pass real text")
            out.append(self._read(chunks)[0])
        return out

    def token_records(self, texts: Sequence[Text]) -> list[TokenRecord]:
        """One token record per text (`records.TokenRecord`): its chunks' token ids, no forward pass. `expand`
        reads it when first asked (`read_record`) and writes what `records` would have given."""
        out = []
        for i, text in enumerate(check_texts(texts)):
            chunks = [list(c) for c in token_pieces(self.tokenize, text, self.max_chunk_tokens) if len(c) >= 2]
            if not chunks:
                raise InputError(f"texts[{i}] produced fewer than two tokens; pass real text")
            out.append(TokenRecord(chunks, self.layers, self.base.name, {"chunks": len(chunks), "generator": "memory"}))
        return out

    def read_record(self, record: MemoryRecord | TokenRecord) -> MemoryRecord:
        """A token record read by the frozen model (the forward pass `records` makes; inputs rounded to fp16 as a
        stored record's are), kept for the last READ records that carry an id; a MemoryRecord as it is."""
        if isinstance(record, MemoryRecord):
            return record
        if record.layers != self.layers:
            raise ModelMismatchError(f"a token record over layers {record.layers[:1]}..{record.layers[-1:]} does not fit this generator "
                                     f"({len(self.layers)} layers from {self.layers[0]}); open the store with the generator that built it")
        return self._kept(self._read_cache, record.meta.get("id"), lambda: self._read_now(record))

    def _read_now(self, record: TokenRecord) -> MemoryRecord:
        slots = getattr(self.base, "slots", None)  # the base model without adapters, not mid-generate elsewhere
        with self._read_lock, slots.lock if slots is not None else contextlib.nullcontext(), \
                slots.use(None) if slots is not None else contextlib.nullcontext():
            full = self._read(record.chunks)[0]
        return MemoryRecord(full.inputs.half(), full.value_ids, full.layers, full.base_model, {**full.meta, **record.meta},
                            None if full.hidden is None else full.hidden.half())

    def _kept(self, cache: Lru, key: str | None, build: Callable[[], Any]) -> Any:
        """cache[key], else build() kept there (a record without an id: built, not kept)."""
        with self._prep_lock:
            hit = cache.get(key) if key else None
        if hit is not None:
            return hit
        out = build()
        if key:
            with self._prep_lock:
                cache.put(key, out)
        return out

    @torch.no_grad()
    def expand(self, records: Sequence[MemoryRecord | TokenRecord], weights: Sequence[float] | None = None) -> LoraWeights:
        """The adapter of one or several records: one write over all their keys (for several, the exact joint write).

        Returned in the factored form of `write.factored_write` (A' = (C^-1 K')^T, B' = gain V'^T H^-1: the same
        B'A' = BA): each record's keys and whitened keys are computed once and kept (`prepared`, LRU), so a new
        combination of records seen before costs only the Gram matrix and a solve against the value columns.
        """
        if not records:
            raise InputError("expand needs at least one memory record")
        records = [self.read_record(r) for r in records]
        parts = [self.prepared(r) for r in records]
        c_keys = torch.cat([x[1] for x in parts], dim=1).float()
        gram = _joint_gram(parts, c_keys)
        value_ids = torch.cat([r.value_ids.long() for r in records])
        v, gain = transform_values(self.values(value_ids), self.value_gain(), len(self.layers), self.transforms)
        if weights is not None:  # each record's values scaled by its weight (e.g. by routing rank)
            if len(weights) != len(records):
                raise InputError(f"expand got {len(weights)} weights for {len(records)} records; pass one per record")
            w = torch.cat([torch.full((len(r.value_ids),), float(x)) for r, x in zip(records, weights)])
            v = v * w[None, :, None]
        a, b = solve_gram(gram, c_keys, v, gain)
        meta = {"chunks": sum(int(r.meta.get("chunks", 0)) for r in records), "factored": True}
        if len(records) > 1:
            meta.update(parts=[r.meta.get("id", "") for r in records], joint=True)
        return self._lora(a, b, meta)

    def forget(self) -> None:
        """Drop the read token records and prepared keys kept for `expand`: the next expansions start cold (benchmarks)."""
        with self._prep_lock:
            self._prep.clear()
            self._read_cache.clear()

    def prepared(self, record: MemoryRecord) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(K', C^-1 K'), each (L, n, d_in) fp16, and their Gram block K'^T C^-1 K' (L, n, n) fp32: a record's keys
        through the key transform, whitened (what `expand` writes from; a key's transform does not depend on the
        keys written with it), and what they give each other in a joint write. Kept for the last PREPARED records
        that carry an id."""
        return self._kept(self._prep, record.meta.get("id"), lambda: self._prepare(record))

    def _prepare(self, record: MemoryRecord) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = self.keys(record).transpose(1, 2)  # (L, d_in, n)
        if self.transforms is not None and self._c_inv_p is None:
            self._c_inv_p = self.stats["c_inv"] @ self.transforms.P
        k, ck = transform_keys(k, self.stats["c_inv"] @ k, self.transforms, self._c_inv_p)
        k, ck = half_or_float(k.transpose(1, 2)), half_or_float(ck.transpose(1, 2))
        return k, ck, k.float() @ ck.float().transpose(1, 2)

    def _lora(self, a: torch.Tensor, b: torch.Tensor, meta: dict[str, Any], extras: dict[str, torch.Tensor] | None = None) -> LoraWeights:
        """A and B of this generator's target layers as `LoraWeights` with its metadata."""
        return LoraWeights({TARGET: a}, {TARGET: b}, self.layers, 1.0, self.base.name, self.base.config.model_type,
                           {**meta, "generator": "memory", "trained": self.transforms is not None}, extras or {})


def _joint_gram(parts: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], c_keys: torch.Tensor) -> torch.Tensor:
    """K'^T C^-1 K' (L, n, n) over the keys of several prepared records (`c_keys`: their C^-1 K' concatenated, fp32):
    each record's own block as kept, each record's keys against all later records' in one product, mirrored (the
    matrix is symmetric)."""
    if len(parts) == 1:
        return parts[0][2]
    sizes = [p[0].shape[1] for p in parts]
    starts = [sum(sizes[:i]) for i in range(len(parts))]
    gram = torch.empty(parts[0][0].shape[0], sum(sizes), sum(sizes))
    for i, (p, a, n) in enumerate(zip(parts, starts, sizes)):
        gram[:, a : a + n, a : a + n] = p[2]
        if i + 1 == len(parts):
            break
        keys = p[0].float()  # (L, n_i, d_in) against the later records' whitened keys, all at once
        block = keys @ c_keys[:, a + n :].transpose(1, 2)  # (L, n_i, n_later)
        gram[:, a : a + n, a + n :] = block
        gram[:, a + n :, a : a + n] = block.transpose(1, 2)
    return gram
