"""Lexical index: BM25 (`rank_bm25`) over lower-cased word tokens."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError
from .checks import check_ids, check_ids_loose, check_k, check_texts, top_k

_WORD = re.compile(r"\w+")


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
                "BM25 scoring (BM25 routing, the selected write's sentence choice) needs rank_bm25, which is not installed; "
                "run pip install 'doc2lora-rag[routing]'."
            ) from exc

        class _PositiveIdfBM25(BM25Okapi):
            def _calc_idf(self, nd: dict[str, int]) -> None:
                n = self.corpus_size
                self.idf = {word: math.log(1.0 + (n - freq + 0.5) / (freq + 0.5)) for word, freq in nd.items()}
                self.average_idf = sum(self.idf.values()) / len(self.idf) if self.idf else 0.0

        _BM25_CLASS = _PositiveIdfBM25
    return _BM25_CLASS


def okapi_scores(token_lists: Sequence[Sequence[str]], query: Sequence[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """BM25 (Okapi, Lucene's always-positive idf, `rank_bm25`) of the word tokens `query` against each of
    `token_lists`; all 0.0 when the query or every list is empty."""
    if not token_lists or not query or not any(token_lists):
        return np.zeros(len(token_lists), dtype=np.float64)
    return np.asarray(_bm25_class()([list(t) for t in token_lists], k1=k1, b=b).get_scores(list(query)), dtype=np.float64)


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
        id_list = check_ids(ids)
        text_list = check_texts(texts, len(id_list))
        for item, text in zip(id_list, text_list, strict=True):
            self._tokens[item] = tokenize_words(text)
        if id_list:
            self._model = None

    def remove(self, ids: Sequence[str]) -> int:
        """Remove entries; ids that are not present are ignored. Returns how many were removed."""
        removed = 0
        for item in set(check_ids_loose(ids)):
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
        k = check_k(k)
        scores = self.scores(query_text)
        ids = [item for item, value in scores.items() if value > 0]
        return top_k(ids, np.array([scores[item] for item in ids], dtype=np.float64), k)
