"""AdapterIndex: the adapter counterpart of `VectorStoreIndex` for the two-line swap.

    index = VectorStoreIndex.from_documents(docs)                 # before
    index = AdapterIndex.from_documents(docs, store_path="./ad")  # after
    engine = index.as_query_engine(similarity_top_k=2)            # unchanged

`as_query_engine` returns LlamaIndex's own `RetrieverQueryEngine` with a `Doc2LoRARetriever` and an
`AdapterSynthesizer`: the retrieved nodes' adapters are switched in, their text is not stuffed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import Document as LIDocument

from doc2lora_rag import Document as CoreDocument
from doc2lora_rag import InputError
from doc2lora_rag.serving import TextEmbeddingRouter, core_store

from .llms import Doc2LoRALLM
from .retrievers import Doc2LoRARetriever
from .synthesizer import AdapterSynthesizer

__all__ = ["AdapterIndex", "to_core_document"]

_QUERY_ENGINE_KWARGS = ("node_postprocessors", "callback_manager")


def to_core_document(doc: LIDocument) -> CoreDocument:
    """A doc2lora Document: the node's text, a copy of its metadata, its id (`doc_id`) as the id."""
    if not hasattr(doc, "get_content") or not hasattr(doc, "node_id"):
        raise InputError(f"expected a LlamaIndex Document, got {type(doc).__name__}")
    return CoreDocument(text=doc.text, metadata=dict(doc.metadata), id=doc.node_id or None)


class AdapterIndex:
    """Documents as adapters in an AdapterStore, queried like a ``VectorStoreIndex``.

    Instantiate: ``AdapterIndex.from_documents(docs, store_path="./adapters")`` or
    ``AdapterIndex(adapter_store)``. Add / remove: ``insert(doc)``, ``insert_documents(docs)``
    (same id again: replaced), ``delete_ref_doc(doc_id)``. Query:
    ``as_query_engine(similarity_top_k=2, streaming=False)``, ``as_retriever(similarity_top_k=2)``.

    Ids: a LlamaIndex Document's ``doc_id`` is its id in the store; its adapters are ``doc_id``
    (one chunk group) or ``doc_id#i``.
    """

    def __init__(self, store: Any, llm: Doc2LoRALLM | None = None) -> None:
        self.store = core_store(store)
        self._llm = llm

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[LIDocument],
        store_path: str | os.PathLike[str] | None = None,
        *,
        store: Any = None,
        generator: Any = None,
        embed_model: Any = None,
        show_progress: bool = False,
        **store_kwargs: Any,
    ) -> AdapterIndex:
        """An index over a store (a directory `store_path`, or an open AdapterStore `store`) with `documents` added.

        ``embed_model``: a LlamaIndex embedding to route with (None: the store's own, MiniLM for a new
        store); ``store_kwargs``: further ``AdapterStore`` options (``router``, ``chunk_tokens``, ...).
        """
        if (store_path is None) == (store is None):
            raise InputError("pass exactly one of store_path= (a directory) or store= (an open AdapterStore)")
        if store is None:
            from doc2lora_rag import AdapterStore

            if embed_model is not None:
                if "router" in store_kwargs:
                    raise InputError("pass either embed_model= or router=, not both")
                store_kwargs["router"] = TextEmbeddingRouter(embed_model)
            store = AdapterStore(store_path, generator, **store_kwargs)
        elif generator is not None or embed_model is not None or store_kwargs:
            raise InputError("generator=, embed_model= and store options apply when opening a store by path; the store passed is open")
        index = cls(store)
        index.insert_documents(documents, show_progress=show_progress)
        return index

    # -- writing -----------------------------------------------------------------------------

    def insert_documents(self, documents: Sequence[LIDocument], *, show_progress: bool = False) -> list[str]:
        """Add or replace (by doc_id) documents; returns their ids."""
        if isinstance(documents, LIDocument) or not isinstance(documents, Sequence):
            raise InputError(f"documents must be a list of LlamaIndex Documents, got {type(documents).__name__}")
        return self.store.add_documents([to_core_document(d) for d in documents], progress=show_progress)

    def insert(self, document: LIDocument) -> str:
        """Add or replace one document; returns its id."""
        return self.insert_documents([document])[0]

    def delete_ref_doc(self, ref_doc_id: str, **kwargs: Any) -> None:
        """Delete a document and its adapters (an unknown id is ignored)."""
        if kwargs:
            raise InputError(f"unknown keyword arguments {sorted(kwargs)}; delete_ref_doc takes only the id")
        self.store.delete([ref_doc_id])

    @property
    def ref_doc_ids(self) -> list[str]:
        return self.store.doc_ids()

    # -- querying ----------------------------------------------------------------------------

    @property
    def llm(self) -> Doc2LoRALLM:
        """The LLM query engines use by default (created on first use on the store's base model)."""
        if self._llm is None:
            self._llm = Doc2LoRALLM(store=self.store)
        return self._llm

    def as_retriever(self, similarity_top_k: int = 2, **kwargs: Any) -> Doc2LoRARetriever:
        return Doc2LoRARetriever(self.store, similarity_top_k, **kwargs)

    def as_query_engine(self, llm: Any = None, *, streaming: bool = False, similarity_top_k: int = 2, selected: bool | None = None,
                        **kwargs: Any) -> RetrieverQueryEngine:
        """LlamaIndex's RetrieverQueryEngine with this index's retriever and an AdapterSynthesizer (`selected`: one adapter
        written for each question over the retrieved nodes' texts, `AdapterSynthesizer(selected=True)`; None: the
        store's default mode, selected for a memory-generator store)."""
        unknown = sorted(set(kwargs) - set(_QUERY_ENGINE_KWARGS))
        if unknown:
            raise InputError(
                f"as_query_engine got unsupported arguments {unknown}; it takes llm, streaming, similarity_top_k, selected and "
                f"{list(_QUERY_ENGINE_KWARGS)} (response modes do not apply: no text is synthesized from nodes)"
            )
        synthesizer = AdapterSynthesizer(llm or self.llm, streaming=streaming, selected=selected, callback_manager=kwargs.get("callback_manager"))
        return RetrieverQueryEngine(self.as_retriever(similarity_top_k), response_synthesizer=synthesizer, **kwargs)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AdapterIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
