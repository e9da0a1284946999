"""MiniLMEmbeddings: doc2lora's routing embedder (all-MiniLM-L6-v2, offline) as LangChain `Embeddings`.

Lets an existing LangChain pipeline (e.g. `InMemoryVectorStore`) embed with the same model the
AdapterStore routes with, so a stuffed-RAG baseline and the adapter version retrieve alike.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

__all__ = ["MiniLMEmbeddings"]


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit length) from the packaged model, no hub access.

    Instantiate: ``MiniLMEmbeddings()`` or ``MiniLMEmbeddings(embedder)`` around a
    ``doc2lora_rag.routing.MiniLMEmbedder``. ``name`` matches the embedder's, so an AdapterStore
    routed with this object accepts keys made by the plain ``MiniLMEmbedder`` and vice versa.
    """

    def __init__(self, embedder: Any = None, **kwargs: Any) -> None:
        from doc2lora_rag.routing import MiniLMEmbedder

        self.embedder = embedder if embedder is not None else MiniLMEmbedder(**kwargs)
        self.name = getattr(self.embedder, "name", type(self.embedder).__name__)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text)
