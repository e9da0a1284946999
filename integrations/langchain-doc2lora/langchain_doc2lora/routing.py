"""Routing through a LangChain `VectorStore` the user already runs (Qdrant, pgvector, Chroma, ...).

    from langchain_qdrant import QdrantVectorStore
    from langchain_doc2lora import VectorStoreRouter

    store = AdapterStore("my-store", router=VectorStoreRouter(QdrantVectorStore(client, "routing", embedding=emb)))

The vector store holds one document per chunk group: its text, metadata {"adapter_id": <entry id>},
and an id derived from the entry id (a UUID, which every LangChain vector store accepts). The
AdapterStore commits to its own manifest first, then adds to / deletes from the vector store; when it
opens, it adds the entries the vector store lacks (a write that failed half-way, a new collection).
Scores are LangChain's relevance scores (higher is better, in [0, 1]).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from doc2lora_rag import InputError, StoreError
from doc2lora_rag.routing import Router

logger = logging.getLogger(__name__)

__all__ = ["VectorStoreIndex", "VectorStoreRouter"]

_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-5e8f-9a0b-1c2d3e4f5a6b")  # entry id -> vector store id
_BATCH = 256


def point_id(adapter_id: str) -> str:
    """The vector store id of an entry: a UUID derived from its id."""
    return str(uuid.uuid5(_NAMESPACE, adapter_id))


class VectorStoreIndex:
    """`doc2lora_rag.routing.ExternalIndex` over a LangChain `VectorStore` (module docstring)."""

    def __init__(self, vectorstore: Any, name: str | None = None) -> None:
        for method in ("add_texts", "delete", "similarity_search_with_relevance_scores"):
            if not callable(getattr(vectorstore, method, None)):
                raise InputError(f"router needs a LangChain VectorStore (with {method}), got {type(vectorstore).__name__}")
        self.vectorstore = vectorstore
        collection = getattr(vectorstore, "collection_name", None)
        self.name = name or (f"{type(vectorstore).__name__}:{collection}" if collection else type(vectorstore).__name__)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (InputError, StoreError):
            raise
        except Exception as exc:  # the vector store's own error (connection, collection, schema)
            raise StoreError(
                f"the vector store {self.name} failed to {what} ({type(exc).__name__}: {exc}); check that it is reachable "
                "and its collection exists. The adapter store's own manifest is committed; reopening the store adds what "
                "the vector store lacks"
            ) from exc

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        hits = self._call("search", self.vectorstore.similarity_search_with_relevance_scores, query, k=k)
        out = []
        for doc, score in hits:
            adapter_id = (doc.metadata or {}).get("adapter_id")
            if isinstance(adapter_id, str):  # documents the store did not put there are ignored
                out.append((adapter_id, float(score)))
        return out

    def load(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        for start in range(0, len(ids), _BATCH):
            part = list(ids[start:start + _BATCH])
            self._call("add entries", self.vectorstore.add_texts, list(texts[start:start + _BATCH]),
                       metadatas=[{"adapter_id": i} for i in part], ids=[point_id(i) for i in part])

    def remove(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete entries", self.vectorstore.delete, ids=[point_id(i) for i in ids])

    def missing(self, ids: Sequence[str]) -> list[str]:
        get = getattr(self.vectorstore, "get_by_ids", None)
        found: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            part = list(ids[start:start + _BATCH])
            try:
                docs = self._call("read entries", get, [point_id(i) for i in part])
            except StoreError as exc:
                if isinstance(exc.__cause__, NotImplementedError):
                    logger.warning("%s cannot look entries up by id: entries missing from it are not re-added", self.name)
                    return []
                raise
            found |= {(d.metadata or {}).get("adapter_id") for d in docs}
        return [i for i in ids if i not in found]


def VectorStoreRouter(vectorstore: Any, name: str | None = None) -> Router:  # noqa: N802 - reads as a class at call sites
    """A `doc2lora_rag.routing.Router` whose searches run in `vectorstore` (pass it as an AdapterStore's router)."""
    return Router(external=VectorStoreIndex(vectorstore, name))
