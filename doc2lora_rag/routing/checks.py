"""Argument checks and top-k selection shared by the indexes and the router."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError


def check_k(k: object) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise InputError(f"k must be an int >= 1, got {k!r}; pass e.g. k=4.")
    return k


def check_ids(ids: object) -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InputError(f"ids must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap a single id as [id].")
    out = list(ids)
    for index, item in enumerate(out):
        if not isinstance(item, str) or not item:
            raise InputError(f"ids[{index}] must be a non-empty str, got {item!r:.60}; pass string ids.")
    if len(set(out)) != len(out):
        dupes = sorted({item for item in out if out.count(item) > 1})
        raise InputError(f"ids contain duplicates {dupes[:5]}; pass each id once.")
    return out


def check_texts(texts: object, n: int) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise InputError(f"texts must be a list of str, got {type(texts).__name__} {texts!r:.80}; wrap a single text as [text].")
    out = list(texts)
    if len(out) != n:
        raise InputError(f"got {n} ids but {len(out)} texts; pass one text per id.")
    for index, item in enumerate(out):
        if not isinstance(item, str):
            raise InputError(f"texts[{index}] is {type(item).__name__} {item!r:.60}, not str; pass strings.")
    return out


def as_matrix(vectors: object, n: int, dim: int | None) -> np.ndarray:
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"vectors could not be read as a float matrix ({exc}); pass one equal-length list of floats per id."
        ) from exc
    if n == 0 and matrix.size == 0:
        return matrix.reshape(0, dim or 0)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise InputError(f"vectors must have shape ({n}, dim) for {n} ids, got shape {matrix.shape}; pass one vector per id.")
    if dim is not None and matrix.shape[1] != dim:
        raise InputError(
            f"vectors have dimension {matrix.shape[1]} but the index holds dimension {dim}; "
            "use the same embedder for all keys (or a new index)."
        )
    if matrix.shape[1] == 0 or not np.isfinite(matrix).all():
        raise InputError("vectors must be non-empty and finite (no NaN or inf); check the embedder's output.")
    return matrix


def check_ids_loose(ids: object) -> list[str]:
    """Like check_ids but duplicates are allowed (for removal)."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InputError(f"ids must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap a single id as [id].")
    for index, item in enumerate(ids):
        if not isinstance(item, str):
            raise InputError(f"ids[{index}] must be a str, got {item!r:.60}; pass string ids.")
    return list(ids)


def top_k(ids: list[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    n = len(ids)
    if n == 0:
        return []
    k = min(k, n)
    if k < n:
        candidates = np.argpartition(-scores, k - 1)[:k]
        # argpartition may cut a tie arbitrarily: take every row tied with the k-th score
        kth = scores[candidates].min()
        candidates = np.flatnonzero(scores >= kth)
    else:
        candidates = np.arange(n)
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    return [(ids[row], float(scores[row])) for row in order]
