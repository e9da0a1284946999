"""Doc2LoRAVectorStore: a LlamaIndex `BasePydanticVectorStore` over a doc2lora `AdapterStore`.

Each node added becomes one store document (id = node id), chunked into groups that each get a LoRA
adapter; the node itself (relationships included) is kept in the document's metadata with
LlamaIndex's own `node_to_metadata_dict`, so queries give back nodes that `VectorStoreIndex` and
the docstore recognise. A query routes its text (``query_str``) with the store's router; each result
node is one chunk group: its id is the adapter id (the node id when the node fits one group, else
``<node id>#<i>``) and its metadata carries ``adapter_id`` (hidden from embeddings and LLM prompts),
which `llama_index.llms.doc2lora.AdapterSynthesizer` switches in.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn, metadata_dict_to_node, node_to_metadata_dict

from doc2lora_rag import AdapterStore, InputError
from doc2lora_rag import Document as CoreDocument
from doc2lora_rag.serving import TextEmbeddingRouter, check_filter_keys, core_store, routing_keys

__all__ = ["Doc2LoRAVectorStore"]

ROUTING_KEYS = ("adapter_id", "group_index", "score")  # added to result nodes' metadata, hidden from embed/LLM text
NODE_KEYS = ("_node_content", "_node_type", "document_id", "doc_id", "ref_doc_id")  # written by node_to_metadata_dict
MMR_FETCH = 4  # MMR chooses among MMR_FETCH * similarity_top_k candidates


def _flat_filters(filters: MetadataFilters | None) -> list[Any]:
    if filters is None:
        return []
    if not isinstance(filters, MetadataFilters):
        raise InputError(f"filters must be a llama_index MetadataFilters, got {type(filters).__name__}")
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            raise InputError("nested MetadataFilters are not supported; flatten them into one MetadataFilters with condition='and' or 'or'")
    return list(filters.filters)


class Doc2LoRAVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store whose nodes become LoRA adapters; it keeps their text (``stores_text``).

    Setup:
        ``pip install -e integrations/llama-index-vector-stores-doc2lora`` (and, to answer from the
        adapters, ``integrations/llama-index-llms-doc2lora``).

    Instantiate:
        .. code-block:: python

            vector_store = Doc2LoRAVectorStore("./adapters")                          # opened or created
            vector_store = Doc2LoRAVectorStore("./adapters", embed_model=MiniLMEmbedding())  # route with it
            vector_store = Doc2LoRAVectorStore(adapter_store)                         # an open AdapterStore

    Use with an index:
        .. code-block:: python

            storage_context = StorageContext.from_defaults(vector_store=vector_store)
            index = VectorStoreIndex.from_documents(documents, storage_context=storage_context, embed_model=embed_model)
            index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)   # reopen
            llm = Doc2LoRALLM(store=vector_store)
            index.as_query_engine(llm=llm, response_synthesizer=AdapterSynthesizer(llm)).query("...")

    Query: ``similarity_top_k``, ``filters`` (LlamaIndex's operators, evaluated by its own
    ``build_metadata_filter_fn``; a key that no node has raises InputError), ``doc_ids`` (ref doc
    ids), ``node_ids`` (node or adapter ids), ``mode=MMR`` (over the stored routing keys). The query
    embedding is not used (``is_embedding_query=False``): the store's router embeds the text itself.
    Async methods run the work in a thread, so the event loop is never blocked.
    """

    stores_text: bool = True
    is_embedding_query: bool = False
    flat_metadata: bool = False

    _store: Any = PrivateAttr(default=None)

    def __init__(self, store: Any = None, *, embed_model: Any = None, generator: Any = None, **store_kwargs: Any) -> None:
        super().__init__(stores_text=True, is_embedding_query=False)
        if isinstance(store, (str, os.PathLike)):
            if embed_model is not None:
                if "router" in store_kwargs:
                    raise InputError("pass either embed_model= or router=, not both")
                store_kwargs["router"] = TextEmbeddingRouter(embed_model)
            store = AdapterStore(store, generator, **store_kwargs)
        elif store is None:
            raise InputError("Doc2LoRAVectorStore needs a store directory (str or Path) or an open doc2lora AdapterStore, got None")
        else:
            store = core_store(store)
            if generator is not None or embed_model is not None or store_kwargs:
                raise InputError("generator=, embed_model= and store options apply when opening a store by path; the AdapterStore passed is open")
        self._store = store

    @classmethod
    def class_name(cls) -> str:
        return "Doc2LoRAVectorStore"

    @property
    def client(self) -> Any:
        """The doc2lora AdapterStore."""
        return self._store

    @property
    def store(self) -> Any:
        """The doc2lora AdapterStore (what Doc2LoRALLM(store=...) and the synthesizer load adapters from)."""
        return self._store

    # -- writing -----------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Add or replace (by node id) nodes; each becomes one store document. Returns the node ids."""
        if add_kwargs:
            raise InputError(f"unknown keyword arguments {sorted(add_kwargs)}; add takes the nodes only")
        docs = []
        for i, node in enumerate(nodes):
            if not isinstance(node, BaseNode):
                raise InputError(f"nodes[{i}] is a {type(node).__name__}, not a LlamaIndex node")
            metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata)
            docs.append(CoreDocument(text=node.get_content(metadata_mode=MetadataMode.NONE), metadata=metadata, id=node.node_id))
        return self._store.add_documents(docs) if docs else []

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete the nodes of a source document (and a node of that id); an unknown id is ignored."""
        if delete_kwargs:
            raise InputError(f"unknown keyword arguments {sorted(delete_kwargs)}; delete takes the ref_doc_id only")
        ids = {e.doc_id for e in self._store.entries() if e.metadata.get("ref_doc_id") == ref_doc_id}
        self._store.delete(sorted(ids | ({ref_doc_id} & set(self._store.doc_ids()))))

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any) -> None:
        """Delete nodes by node id (or the id of one of their chunk groups) and/or matching `filters` (both: nodes matching both)."""
        if delete_kwargs:
            raise InputError(f"unknown keyword arguments {sorted(delete_kwargs)}; delete_nodes takes node_ids and filters")
        self._store.delete(sorted({e.doc_id for e in self._matching(node_ids, filters)}))

    def clear(self) -> None:
        """Delete every node."""
        self._store.delete(self._store.doc_ids())

    # -- reading -----------------------------------------------------------------------------

    def _node(self, text: str, metadata: dict[str, Any], adapter_id: str, group_index: int, score: float | None) -> BaseNode:
        """One chunk group as a node: the stored node (or a TextNode for documents added by other means)."""
        extra = {"adapter_id": adapter_id, "group_index": group_index, **({"score": score} if score is not None else {})}
        if "_node_content" in metadata:
            node = metadata_dict_to_node(metadata, text=text)
            node.id_ = adapter_id
        else:
            user = {k: v for k, v in metadata.items() if k not in ("doc_id", *ROUTING_KEYS)}
            doc_id = metadata.get("doc_id") or adapter_id.split("#")[0]
            node = TextNode(id_=adapter_id, text=text, metadata=user, relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)})
        node.metadata.update(extra)
        node.excluded_embed_metadata_keys = sorted(set(node.excluded_embed_metadata_keys) | set(extra))
        node.excluded_llm_metadata_keys = sorted(set(node.excluded_llm_metadata_keys) | set(extra))
        return node

    def _matching(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> list[Any]:
        """Store entries whose node id or adapter id is in `node_ids` (None: all) and that match `filters`."""
        flat = _flat_filters(filters)
        check_filter_keys(self._store, [f.key for f in flat])
        entries = self._store.entries()
        by_id = {e.id: e for e in entries}
        keep = build_metadata_filter_fn(lambda i: by_id[i].metadata, filters)
        wanted = None if node_ids is None else set(node_ids)
        return [e for e in entries if (wanted is None or e.id in wanted or e.doc_id in wanted) and keep(e.id)]

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes (one per chunk group) by node id or adapter id and/or metadata filters."""
        return [self._node(e.text, e.metadata, e.id, e.group_index, None) for e in self._matching(node_ids, filters)]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The best chunk groups for ``query.query_str`` (see the class docstring for what a query honours)."""
        if not isinstance(query.query_str, str) or not query.query_str.strip():
            raise InputError(f"Doc2LoRAVectorStore routes by the query text, and query_str is {query.query_str!r:.80}; pass the question text")
        k = query.similarity_top_k
        mode = getattr(query.mode, "value", query.mode)
        if mode not in (VectorStoreQueryMode.DEFAULT.value, VectorStoreQueryMode.MMR.value):
            raise InputError(f"query mode {mode!r} is not supported; use 'default' or 'mmr'")
        mmr = mode == VectorStoreQueryMode.MMR.value
        flat = _flat_filters(query.filters)
        check_filter_keys(self._store, [f.key for f in flat])
        narrowed = bool(flat or query.doc_ids or query.node_ids)
        n = max(len(self._store.router), 1) if narrowed else (k * MMR_FETCH if mmr else k)
        hits = self._store.search(query.query_str, n)
        metadata = {doc.id: doc.metadata for doc, _ in hits}
        keep = build_metadata_filter_fn(lambda i: metadata[i], query.filters)
        doc_ids = set(query.doc_ids) if query.doc_ids else None  # the index passes [] for "no restriction"
        node_ids = set(query.node_ids) if query.node_ids else None
        hits = [
            (doc, score)
            for doc, score in hits
            if keep(doc.id)
            and (doc_ids is None or doc.metadata.get("ref_doc_id") in doc_ids)
            and (node_ids is None or doc.id in node_ids or doc.metadata["doc_id"] in node_ids)
        ]
        if mmr and hits:
            hits = self._mmr(query, hits, k)
        hits = hits[:k]
        nodes = [self._node(doc.text, doc.metadata, doc.id, doc.metadata["group_index"], score) for doc, score in hits]
        return VectorStoreQueryResult(nodes=nodes, similarities=[score for _, score in hits], ids=[doc.id for doc, _ in hits])

    def _mmr(self, query: VectorStoreQuery, hits: list[tuple[Any, float]], k: int) -> list[tuple[Any, float]]:
        """`k` of `hits` by maximal marginal relevance over their stored routing keys (LlamaIndex's own MMR)."""
        ids = [doc.id for doc, _ in hits]
        keys = routing_keys(self._store, ids)
        query_key = self._store.router.embedder.embed_query(query.query_str)
        threshold = 0.5 if query.mmr_threshold is None else query.mmr_threshold
        scores, chosen = get_top_k_mmr_embeddings(list(query_key), keys.tolist(), similarity_top_k=k, embedding_ids=ids, mmr_threshold=threshold)
        by_id = {doc.id: doc for doc, _ in hits}
        return [(by_id[i], float(s)) for i, s in zip(chosen, scores)]

    # -- async: the same work in a thread (the event loop keeps running) -------------------------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    async def aget_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)

    # -- lifetime ----------------------------------------------------------------------------

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """Nothing to do: every write is already on disk in the store directory (``client.path``)."""

    def close(self) -> None:
        """Close the underlying AdapterStore."""
        self._store.close()
