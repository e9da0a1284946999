"""MiniLMEmbedding: doc2lora's routing embedder (all-MiniLM-L6-v2, offline) as a LlamaIndex embedding.

Lets an existing `VectorStoreIndex` embed with the same model the AdapterStore routes with (no hub
access), so a stuffed-RAG baseline and the adapter version retrieve alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr

__all__ = ["MiniLMEmbedding"]


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 (384-d, unit length) from the packaged model; ``MiniLMEmbedding(embedder=None)``."""

    routing_name: ClassVar[str] = "all-MiniLM-L6-v2"  # what an AdapterStore records for this embedder
    model_name: str = "all-MiniLM-L6-v2"
    _embedder: Any = PrivateAttr(default=None)

    def __init__(self, embedder: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if embedder is None:
            from doc2lora_rag.routing import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(list(texts))
