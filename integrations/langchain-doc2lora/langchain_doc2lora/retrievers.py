"""AdapterRetriever: a LangChain retriever over an AdapterVectorStore with a `k` of its own.

`AdapterVectorStore.as_retriever()` (LangChain's `VectorStoreRetriever`) works as well; this class
is for code that builds retrievers as `Retriever(k=...)` and passes `k` per call.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, field_validator

from doc2lora_rag import InputError

from .vectorstores import AdapterVectorStore

__all__ = ["AdapterRetriever"]


class AdapterRetriever(BaseRetriever):
    """Routes a query to the `k` best adapters; each Document's metadata carries ``adapter_id``.

    Setup:
        an ``AdapterVectorStore`` with documents added.

    Instantiate:
        .. code-block:: python

            retriever = AdapterRetriever(vectorstore=vector_store, k=2)

    Use:
        .. code-block:: python

            docs = retriever.invoke("Who founded the festival?")        # k=2
            docs = retriever.invoke("Who founded the festival?", k=1)   # per-call k
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: AdapterVectorStore
    k: int = Field(default=4, description="how many chunk groups (adapters) to return")
    filter: Any = Field(default=None, description="metadata dict or callable, see AdapterVectorStore.similarity_search_with_score")

    @field_validator("k")
    @classmethod
    def _check_k(cls, k: int) -> int:
        if isinstance(k, bool) or k < 1:
            raise InputError(f"k must be an int >= 1, got {k!r}")
        return k

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None) -> list[Document]:
        return self.vectorstore.similarity_search(query, k=self.k if k is None else k, filter=self.filter)
