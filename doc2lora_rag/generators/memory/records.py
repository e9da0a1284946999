"""Memory records: what fixes a memory adapter, kept instead of the adapter.

A memory adapter is determined by the MLP inputs at its picked positions in every target layer
(down_proj's inputs follow from them through the MLP's first half) and the ids of the tokens that
follow those positions. A store of the memory generator keeps these records; `MemoryGenerator.expand`
rebuilds A, B and the key Gram when a question routes to them, for several records by one exact
joint write over all their keys.

On SmolLM2-135M at 24 positions per 128-token chunk a record is 20 layers x 24 x 576 in fp16 = 553 KB
per chunk; the adapter it replaces is A and B in fp16 plus the fp32 Gram, 2.1 MB per chunk.

File: one safetensors file, tensors "inputs" (L_read, n, D) fp16, "value_ids" (n,) int32 and, when the
generator predicts the keys of its upper layers, "hidden" (n, D) (the residual entering the last read
layer); the header carries the format name and version, the layers, the base model, the metadata and
the "sha256" of the tensors as written (a flipped bit is refused; files written before it read unchecked).

A `TokenRecord` is the smallest record: the token ids of the text's chunks, from which the frozen model
gives the rest (`MemoryGenerator.read_record`: the same forward pass ingest would make, done when a
question first routes to the record). File: "tokens" (total,) int32 and "chunk_lengths" (chunks,)
int32, header "form": "tokens" and "sha256" of the two (a flipped bit is refused, not read as other
tokens); ~4 bytes per token of text instead of ~4.3 kB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import CorruptFileError, InputError
from ...files import atomic_write

RECORD_FORMAT = "doc2lora-memory-record"
RECORD_VERSION = 1


@dataclass
class MemoryRecord:
    """The inputs of one memory adapter (module docstring); `n` positions over `layers`."""

    inputs: torch.Tensor  # (L_read, n, D) MLP inputs of the read target layers at the picked positions
    value_ids: torch.Tensor  # (n,) ids of the tokens that follow them
    layers: tuple[int, ...]  # every target layer of the adapter it stands for
    base_model: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    hidden: torch.Tensor | None = None  # (n, D) residual entering the last read layer, when keys above it are predicted

    def __post_init__(self) -> None:
        self.layers = tuple(int(x) for x in self.layers)
        n = self.value_ids.shape[0] if self.value_ids.dim() == 1 else -1
        if self.inputs.dim() != 3 or n < 0 or self.inputs.shape[1] != n or not 0 < self.inputs.shape[0] <= len(self.layers):
            raise InputError(f"a memory record needs inputs (L_read, n, D) with L_read <= {len(self.layers)} and value_ids (n,), "
                             f"got {tuple(self.inputs.shape)} and {tuple(self.value_ids.shape)}")
        predicted = self.inputs.shape[0] < len(self.layers)
        if predicted != (self.hidden is not None) or (self.hidden is not None and tuple(self.hidden.shape) != (n, self.inputs.shape[2])):
            raise InputError(f"a memory record reading {self.inputs.shape[0]} of {len(self.layers)} layers needs hidden (n, D) exactly "
                             "when some layers are predicted")

    @property
    def positions(self) -> int:
        return int(self.value_ids.shape[0])

    @property
    def nbytes(self) -> int:
        tensors = [self.inputs, self.value_ids] + ([self.hidden] if self.hidden is not None else [])
        return sum(t.numel() * t.element_size() for t in tensors)

    def float_tensors(self) -> dict[str, torch.Tensor]:
        return {"inputs": self.inputs} | ({"hidden": self.hidden} if self.hidden is not None else {})

    def with_meta(self, **meta: Any) -> MemoryRecord:
        return MemoryRecord(self.inputs, self.value_ids, self.layers, self.base_model, {**self.meta, **meta}, self.hidden)

    def save(self, path: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write the record (float tensors in `dtype`); atomic."""
        from safetensors.torch import save_file

        path = Path(path)
        floats = self.float_tensors()
        tensors = {k: v.detach().to(dtype or v.dtype).contiguous().cpu() for k, v in floats.items()}
        tensors["value_ids"] = self.value_ids.detach().to(torch.int32).contiguous().cpu()
        header = {"format": RECORD_FORMAT, "format_version": str(RECORD_VERSION), "sha256": _digest(tensors, RECORD_TENSORS),
                  "layers": json.dumps(list(self.layers)), "base_model": self.base_model, "meta": json.dumps(self.meta, ensure_ascii=False)}
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
        return path

    @classmethod
    def load(cls, path: str | Path) -> MemoryRecord | TokenRecord:
        """Read a record (either form); a truncated, foreign or newer file raises CorruptFileError naming it."""
        from safetensors import safe_open

        path = Path(path)
        fix = "delete its entry and add the document again (the store's other entries are unaffected)"
        try:
            with safe_open(str(path), framework="pt") as fh:
                header = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
        except FileNotFoundError:
            raise
        except Exception as exc:  # safetensors raises its own error types for damaged files
            raise CorruptFileError(f"{path} is not a readable memory record ({exc}); {fix}") from exc
        if header.get("format") != RECORD_FORMAT:
            raise CorruptFileError(f"{path} is not a memory record (format {header.get('format')!r}); {fix}")
        if int(header.get("format_version", "0")) > RECORD_VERSION:
            raise CorruptFileError(f"{path} has memory record version {header['format_version']}, newer than this library's "
                                   f"{RECORD_VERSION}; upgrade doc2lora-rag")
        try:
            if header.get("form") == "tokens":
                return TokenRecord.from_tensors(tensors, header)
            if "sha256" in header and header["sha256"] != _digest(tensors, RECORD_TENSORS):
                raise ValueError("its tensors do not match the checksum written with them")
            return cls(tensors["inputs"], tensors["value_ids"].long(), tuple(json.loads(header["layers"])), header.get("base_model", ""),
                       json.loads(header.get("meta") or "{}"), tensors.get("hidden"))
        except (KeyError, ValueError, InputError) as exc:
            raise CorruptFileError(f"{path} holds an inconsistent memory record ({exc}); {fix}") from exc


@dataclass
class TokenRecord:
    """A memory record as the token ids of its chunks (module docstring): what the generator reads, not what it read."""

    chunks: list[list[int]]
    layers: tuple[int, ...]
    base_model: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = tuple(int(x) for x in self.layers)
        if not self.chunks or not all(len(c) >= 2 for c in self.chunks):
            raise InputError("a token record needs at least one chunk of two or more tokens")

    @property
    def nbytes(self) -> int:
        return 4 * (sum(len(c) for c in self.chunks) + len(self.chunks))

    def float_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def with_meta(self, **meta: Any) -> TokenRecord:
        return TokenRecord(self.chunks, self.layers, self.base_model, {**self.meta, **meta})

    def save(self, path: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write the record (token ids, int32; `dtype` is ignored: nothing here is a float); atomic."""
        from safetensors.torch import save_file

        del dtype
        path = Path(path)
        tensors = {"tokens": torch.tensor([t for c in self.chunks for t in c], dtype=torch.int32),
                   "chunk_lengths": torch.tensor([len(c) for c in self.chunks], dtype=torch.int32)}
        header = {"format": RECORD_FORMAT, "format_version": str(RECORD_VERSION), "form": "tokens", "sha256": _digest(tensors, TOKEN_TENSORS),
                  "layers": json.dumps(list(self.layers)), "base_model": self.base_model, "meta": json.dumps(self.meta, ensure_ascii=False)}
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
        return path

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], header: dict[str, str]) -> TokenRecord:
        if "sha256" in header and header["sha256"] != _digest(tensors, TOKEN_TENSORS):  # a flipped bit would read as other tokens
            raise ValueError("its token ids do not match the checksum written with them")
        tokens, lengths = tensors["tokens"].tolist(), tensors["chunk_lengths"].tolist()
        if sum(lengths) != len(tokens) or min(lengths, default=0) < 2:
            raise ValueError(f"chunk lengths {lengths[:4]}... do not split {len(tokens)} tokens")
        starts = [sum(lengths[:i]) for i in range(len(lengths))]
        return cls([tokens[a : a + n] for a, n in zip(starts, lengths)], tuple(json.loads(header["layers"])),
                   header.get("base_model", ""), json.loads(header.get("meta") or "{}"))


RECORD_TENSORS = ("inputs", "value_ids", "hidden")
TOKEN_TENSORS = ("tokens", "chunk_lengths")


def _digest(tensors: dict[str, torch.Tensor], names: tuple[str, ...]) -> str:
    """sha256 of the bytes of `names` (those present, in that order) as stored in the file."""
    import hashlib

    h = hashlib.sha256()
    for name in names:
        if name in tensors:
            h.update(tensors[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def is_record_file(path: str | Path) -> bool:
    """True when `path` is a memory record (by its header), False for any other safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return (fh.metadata() or {}).get("format") == RECORD_FORMAT
    except Exception:  # not a safetensors file at all
        return False
