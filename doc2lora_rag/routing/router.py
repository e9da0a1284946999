"""Router: dense, lexical or hybrid (min-max fused) routing of a query to entry ids."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, ModelMismatchError
from .checks import as_matrix, check_ids, check_ids_loose, check_k, check_texts, top_k
from .dense import EmbeddingIndex
from .embedders import MiniLMEmbedder
from .lexical import BM25Index
from .sqlite_index import SqliteIndex

logger = logging.getLogger(__name__)

ROUTING_MODES = ("dense", "bm25", "hybrid")
EXTERNAL = "external"  # the mode of a router whose searches run in an external index (`ExternalIndex`)


@runtime_checkable
class ExternalIndex(Protocol):
    """A search index outside the store that holds the routing texts (e.g. the user's vector database through
    `langchain_doc2lora.VectorStoreRouter`). The store commits first, then tells the index (`load` / `remove`);
    on open it adds what the index lacks (`missing`). A search may return ids the store no longer has: the
    store drops them."""

    name: str

    def search(self, query: str, k: int) -> list[tuple[str, float]]: ...

    def load(self, ids: Sequence[str], texts: Sequence[str]) -> None: ...

    def remove(self, ids: Sequence[str]) -> None: ...

    def missing(self, ids: Sequence[str]) -> list[str]: ...


class Router:
    """Route queries to ids (adapters) by their routing texts; see the module docstring for the modes.

    Args:
        embedder: any object with ``embed_documents`` / ``embed_query``
            (e.g. a LangChain ``Embeddings``); default :class:`MiniLMEmbedder`
            (loaded on first use). Unused in ``"bm25"`` mode.
        mode: ``"dense"``, ``"bm25"`` or ``"hybrid"``.
        alpha: weight of the dense score in ``"hybrid"`` mode, in ``[0, 1]``.
    """

    def __init__(self, embedder: Any = None, mode: str = "dense", alpha: float = 0.5, external: ExternalIndex | None = None) -> None:
        if external is not None:
            if not isinstance(external, ExternalIndex):
                raise InputError(f"external must have name, search, load, remove and missing (ExternalIndex), got {type(external).__name__}")
            mode = EXTERNAL
            embedder = embedder if embedder is not None else _NoEmbedder(external.name)
        elif mode not in ROUTING_MODES:
            raise InputError(f"unknown routing mode {mode!r}; use one of {', '.join(map(repr, ROUTING_MODES))}.")
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
            raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}; pass e.g. alpha=0.5.")
        if embedder is None:
            embedder = MiniLMEmbedder()
        elif not (callable(getattr(embedder, "embed_documents", None)) and callable(getattr(embedder, "embed_query", None))):
            raise InputError(
                f"embedder {type(embedder).__name__} lacks embed_documents/embed_query; pass an object "
                "with both (e.g. MiniLMEmbedder() or a LangChain Embeddings)."
            )
        self.embedder = embedder
        self.mode = mode
        self.alpha = float(alpha)
        self._texts: dict[str, str] = {}
        self._dense = EmbeddingIndex()
        self._bm25 = BM25Index()
        self.index: SqliteIndex | None = None  # set by `attach`: routing runs in the store's SQLite file
        self.external = external  # searches run here instead (the store keeps it in step)

    def attach(self, index: SqliteIndex) -> None:
        """Route through a store's SQLite tables from now on (`sqlite_index`): the entries live there, so
        `add` is refused (the store adds them), `load` and `remove` leave the data to the store's transactions,
        and every query sees what any process has committed."""
        if len(self._texts):
            raise InputError(f"attach an index to a fresh Router (this one holds {len(self._texts)} entries)")
        self.index = index

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else len(self._texts)

    def __contains__(self, item: object) -> bool:
        return item in self.index if self.index is not None else item in self._texts

    def __repr__(self) -> str:
        return f"Router(mode={self.mode!r}, embedder={self.embedder_name!r}, n={len(self)})"

    @property
    def embedder_name(self) -> str:
        """The embedder's ``name`` attribute, else its class name (stored with keys to detect mismatches)."""
        name = getattr(self.embedder, "name", None)
        return name if isinstance(name, str) and name else type(self.embedder).__name__

    @property
    def uses_keys(self) -> bool:
        """Whether this mode needs embedding keys in the store (``"dense"`` and ``"hybrid"``)."""
        return self.mode in ("dense", "hybrid")

    @property
    def ids(self) -> list[str]:
        """Routed ids in insertion order (a copy)."""
        return self.index.ids if self.index is not None else list(self._texts)

    def text(self, id: str) -> str:
        """The routing text of ``id``."""
        text = self.index.text(id) if self.index is not None else self._texts.get(id)
        if text is None:
            raise InputError(f"id {id!r:.80} is not routed; add it first.")
        return text

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[float]]:
        """Add (or replace) entries; returns ``{id: key}`` to persist (empty in ``"bm25"`` mode).

        Keys are the unit-length embeddings of the texts as plain float lists (JSON-serialisable).
        """
        id_list = check_ids(ids)
        text_list = check_texts(texts, len(id_list))
        if not id_list:
            return {}
        if self.index is not None:
            raise InputError("this router routes through a store's SQLite tables; add documents to the store instead")
        keys: dict[str, list[float]] = {}
        if self.uses_keys:
            vectors = self.embedder.embed_documents(text_list)
            matrix = as_matrix(vectors, len(id_list), self._dense.dim)
            self._dense.add(id_list, matrix)
            keys = {item: self._dense.get(item).tolist() for item in id_list}
        self._put_texts(id_list, text_list)
        return keys

    def load(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        keys: Mapping[str, Any] | Sequence[Any] | np.ndarray | None,
        key_model: str | None = None,
    ) -> None:
        """Rebuild entries from persisted keys without re-embedding.

        ``keys`` is a mapping ``{id: vector}`` or a sequence/2-D array aligned
        with ``ids``; it may be ``None`` in ``"bm25"`` mode. If ``key_model``
        (the :attr:`embedder_name` saved with the keys) is given and differs
        from this router's embedder, :class:`ModelMismatchError` is raised.
        """
        id_list = check_ids(ids)
        text_list = check_texts(texts, len(id_list))
        if self.external is not None and id_list:
            self.external.load(id_list, text_list)
        if self.index is not None:
            return
        if self.uses_keys:
            if key_model is not None and key_model != self.embedder_name:
                raise ModelMismatchError(
                    f"keys were made by embedder {key_model!r} but this router embeds queries with "
                    f"{self.embedder_name!r}; use the same embedder or re-add the texts to re-embed them."
                )
            if keys is None:
                raise InputError(
                    f"mode {self.mode!r} needs keys for load(); pass the dict returned by add(), "
                    "or call add() to embed the texts again."
                )
            if isinstance(keys, Mapping):
                missing = [item for item in id_list if item not in keys]
                if missing:
                    raise InputError(
                        f"keys lack vectors for ids {missing[:5]}; pass a vector for every id (the dict returned by add())."
                    )
                vectors: Any = [keys[item] for item in id_list]
            else:
                vectors = keys
            matrix = as_matrix(vectors, len(id_list), self._dense.dim)
            if id_list:
                self._dense.add(id_list, matrix)
        self._put_texts(id_list, text_list)

    def _put_texts(self, ids: list[str], texts: list[str]) -> None:
        for item, text in zip(ids, texts, strict=True):
            self._texts[item] = text
        if self.mode != "dense":
            self._bm25.add(ids, texts)

    def remove(self, ids: Sequence[str]) -> int:
        """Remove entries; ids that are not present are ignored. Returns how many were removed."""
        id_list = check_ids_loose(ids)
        if self.external is not None and id_list:
            self.external.remove(id_list)
        if self.index is not None:
            return 0
        self._dense.remove(id_list)
        self._bm25.remove(id_list)
        removed = 0
        for item in set(id_list):
            if self._texts.pop(item, None) is not None:
                removed += 1
        return removed

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The best ``k`` ids for ``query`` with their scores, best first."""
        k = check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise InputError(f"query must be a non-empty str, got {query!r:.80}; pass the question text.")
        if self.external is not None:
            return self.external.search(query, k)
        if self.index is not None:
            return self._search_index(query, k)
        if not self._texts:
            return []
        if self.mode == "bm25":
            return self._bm25.search(query, k)
        query_vector = self.embedder.embed_query(query)
        if self.mode == "dense":
            return self._dense.search(query_vector, k)
        ids = self._dense.ids
        dense = _min_max(self._dense.scores(query_vector).astype(np.float64))
        lexical_by_id = self._bm25.scores(query)
        lexical = _min_max(np.array([lexical_by_id.get(item, 0.0) for item in ids], dtype=np.float64))
        return top_k(ids, self.alpha * dense + (1.0 - self.alpha) * lexical, k)


    def _search_index(self, query: str, k: int) -> list[tuple[str, float]]:
        """`search` through the attached SQLite index. Hybrid fuses over the union of each side's best
        `FUSION_POOL` (or k) candidates, each candidate scored exactly on both sides, min-max within the pool."""
        index = self.index
        if self.mode == "bm25":
            return index.lexical(query, k)
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0:
            raise InputError(f"embedder {self.embedder_name!r} returned a zero or non-finite query vector")
        vector = vector / norm
        if self.mode == "dense":
            return index.dense(vector, k)
        pool = max(k, FUSION_POOL)
        ids = list(dict.fromkeys([i for i, _ in index.dense(vector, pool)] + [i for i, _ in index.lexical(query, pool)]))
        cosine, lexical = index.cosines(vector, ids), index.bm25(query, ids)
        dense = _min_max(np.array([cosine.get(i, -1.0) for i in ids], dtype=np.float64))
        words = _min_max(np.array([lexical.get(i, 0.0) for i in ids], dtype=np.float64))
        return top_k(ids, self.alpha * dense + (1.0 - self.alpha) * words, k)


class _NoEmbedder:
    """The embedder slot of a router whose external index embeds for itself: never called."""

    def __init__(self, name: str) -> None:
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise InputError(f"routing runs in the external index {self.name!r}, which embeds its own texts")

    embed_query = embed_documents


FUSION_POOL = 64  # hybrid routing through SQLite: candidates taken from each side before fusing


def _min_max(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)
