"""A store directory's layout and format constants, and the small checks every part of the store uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..errors import InputError

FORMAT_VERSION = 1
MANIFEST = "manifest.sqlite"
ADAPTER_DIR = "adapters"
LOCK_FILE = ".lock"
SUFFIX = ".safetensors"
DEFAULT_CHUNKING = {"chunk_tokens": 128, "group_size": 2, "overlap_tokens": 16}
# what a store's files hold: a generator's records of adapters, the token ids its records are read from, or the adapters
ADAPTER_FORMATS = ("record", "tokens", "lora")
DTYPES = {"float16": torch.float16, "float32": torch.float32}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True))


def check_int(name: str, value: Any, low: int) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
        raise InputError(f"{name} must be an int >= {low}, got {value!r}")


def check_id_list(ids: Any, what: str = "ids") -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InputError(f"{what} must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap a single id as [id]")
    for i, item in enumerate(ids):
        if not isinstance(item, str) or not item:
            raise InputError(f"{what}[{i}] must be a non-empty str, got {item!r:.80}")
    return list(ids)


def new_chunking(chunk_tokens: int | None, group_size: int | None, overlap_tokens: int | None) -> dict[str, int]:
    """Chunking settings of a new store: defaults for what is None (overlap at most chunk_tokens / 8)."""
    chunk = chunk_tokens if chunk_tokens is not None else DEFAULT_CHUNKING["chunk_tokens"]
    overlap = overlap_tokens if overlap_tokens is not None else min(DEFAULT_CHUNKING["overlap_tokens"], chunk // 8)
    if 2 * overlap >= chunk:
        raise InputError(f"overlap_tokens must be < chunk_tokens / 2, got {overlap} with chunk_tokens={chunk}")
    group = group_size if group_size is not None else DEFAULT_CHUNKING["group_size"]
    return {"chunk_tokens": chunk, "group_size": group, "overlap_tokens": overlap}


def batches(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
