"""The classic text-RAG baseline: k chunk texts by cosine similarity, pasted into the prompt.

What LangChain's `InMemoryVectorStore` does (the embedder's document vectors, cosine similarity to the
query vector, the best k), on the same MiniLM embedder and the store's chunk-group texts, with the
library's own dense index: the benchmark imports no framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..routing import EmbeddingIndex


@dataclass
class Hit:
    """One retrieved chunk: its text and the metadata it was added with."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


class ClassicRAG:
    """An in-memory vector store of chunk texts (embedder: `embed_documents` / `embed_query`)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.index = EmbeddingIndex()
        self.hits: dict[str, Hit] = {}

    def add(self, ids: Sequence[str], texts: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        self.index.add(list(ids), self.embedder.embed_documents(list(texts)))
        self.hits.update({i: Hit(t, dict(m)) for i, t, m in zip(ids, texts, metadatas, strict=True)})

    def similarity_search(self, query: str, k: int) -> list[Hit]:
        """The k chunks most similar to `query`, best first."""
        return [self.hits[i] for i, _ in self.index.search(self.embedder.embed_query(query), k)]
