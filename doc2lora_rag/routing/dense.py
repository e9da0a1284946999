"""Dense index: unit-length float32 keys searched by cosine similarity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .checks import as_matrix, check_ids, check_ids_loose, check_k, top_k


class EmbeddingIndex:
    """Unit-length float32 keys with string ids, searched by cosine similarity.

    ``add`` replaces the vector of an id that is already present.
    """

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
            raise InputError(f"dim must be an int >= 1 or None, got {dim!r}; pass e.g. dim=384.")
        self._dim = dim
        self._matrix = np.zeros((0, dim or 0), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: object) -> bool:
        return item in self._rows

    def __repr__(self) -> str:
        return f"EmbeddingIndex(n={len(self)}, dim={self._dim})"

    @property
    def dim(self) -> int | None:
        """Key dimension (``None`` until the first vectors are added)."""
        return self._dim

    @property
    def ids(self) -> list[str]:
        """Ids in insertion order (a copy)."""
        return list(self._ids)

    def get(self, id: str) -> np.ndarray:
        """The stored (unit-length) key of ``id``, as a copy."""
        if id not in self._rows:
            raise InputError(f"id {id!r:.80} is not in the index; add it first.")
        return self._matrix[self._rows[id]].copy()

    def add(self, ids: Sequence[str], vectors: Any) -> None:
        """Add or replace keys; vectors are normalised to unit length (zero vectors are rejected)."""
        id_list = check_ids(ids)
        matrix = as_matrix(vectors, len(id_list), self._dim)
        if not id_list:
            return
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        zero = np.flatnonzero(norms[:, 0] == 0)
        if zero.size:
            raise InputError(
                f"vector for id {id_list[int(zero[0])]!r} has zero length and no direction; "
                "check the embedder's output for that text."
            )
        # rows already of unit length (e.g. persisted keys) are kept bit-for-bit, so reloads score identically
        norms[np.abs(norms - 1.0) < 1e-6] = 1.0
        matrix = matrix / norms
        if self._dim is None:
            self._dim = matrix.shape[1]
            self._matrix = np.zeros((0, self._dim), dtype=np.float32)
        new = [i for i, item in enumerate(id_list) if item not in self._rows]
        old = [i for i, item in enumerate(id_list) if item in self._rows]
        if old:
            self._matrix[[self._rows[id_list[i]] for i in old]] = matrix[old]
        if new:
            start = len(self._ids)
            needed = start + len(new)
            if needed > self._matrix.shape[0]:
                grown = np.zeros((max(needed, 2 * self._matrix.shape[0], 16), self._dim), dtype=np.float32)
                grown[:start] = self._matrix[:start]
                self._matrix = grown
            self._matrix[start:needed] = matrix[new]
            for offset, i in enumerate(new):
                self._rows[id_list[i]] = start + offset
                self._ids.append(id_list[i])

    def remove(self, ids: Sequence[str]) -> int:
        """Remove keys; ids that are not present are ignored. Returns how many were removed."""
        gone = {item for item in check_ids_loose(ids) if item in self._rows}
        if not gone:
            return 0
        keep = [row for row, item in enumerate(self._ids) if item not in gone]
        self._matrix = self._matrix[keep].copy()
        self._ids = [self._ids[row] for row in keep]
        self._rows = {item: row for row, item in enumerate(self._ids)}
        return len(gone)

    def scores(self, query_vector: Any) -> np.ndarray:
        """Cosine similarity of the query with every key, in :attr:`ids` order."""
        query = np.asarray(query_vector, dtype=np.float32)
        if query.ndim != 1 or (self._dim is not None and query.shape[0] != self._dim):
            raise InputError(
                f"query vector must be 1-D with dimension {self._dim}, got shape {query.shape}; "
                "embed the query with the embedder that made the keys."
            )
        norm = float(np.linalg.norm(query))
        if not math.isfinite(norm) or norm == 0:
            raise InputError("query vector is zero or not finite; check the embedder's output for the query.")
        if not self._ids:
            return np.zeros(0, dtype=np.float32)
        return self._matrix[: len(self._ids)] @ (query / norm)

    def search(self, query_vector: Any, k: int) -> list[tuple[str, float]]:
        """The ``k`` ids with the highest cosine similarity, best first (ties: insertion order)."""
        k = check_k(k)
        scores = self.scores(query_vector)
        return top_k(self._ids, scores, k)
