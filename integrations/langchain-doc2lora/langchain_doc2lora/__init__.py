"""langchain-doc2lora: the LangChain integration of doc2lora-rag (``pip install -e integrations/langchain-doc2lora``).

- `AdapterVectorStore`: documents become adapters; search routes queries to them.
- `AdapterRetriever`: a retriever with its own `k` (``as_retriever()`` works too).
- `ChatDoc2LoRA`: the base LLM as a chat model, adapters switched in with ``adapter_ids=[...]``.
- `create_adapter_documents_chain`: drop-in for ``create_stuff_documents_chain``, ``mode="adapter" | "hybrid" | "selected" | "rag"``
  (default: the store's, ``selected`` for a memory-generator store).
- `create_cascade_chain`: local answer with adapters when routing is confident, else your own chat model.
- `AdapterRoutingMiddleware`: agent middleware routing each model call (needs ``langchain`` v1).
- `MiniLMEmbeddings`: the routing embedder as LangChain ``Embeddings``.
- `VectorStoreRouter`: route an AdapterStore through a LangChain ``VectorStore`` you already run (e.g. Qdrant).
"""

from __future__ import annotations

from typing import Any

from .cascade import create_cascade_chain
from .chains import create_adapter_documents_chain
from .chat_models import ChatDoc2LoRA
from .embeddings import MiniLMEmbeddings
from .retrievers import AdapterRetriever
from .routing import VectorStoreIndex, VectorStoreRouter
from .vectorstores import AdapterVectorStore

__all__ = [
    "AdapterRetriever",
    "AdapterRoutingMiddleware",
    "AdapterVectorStore",
    "ChatDoc2LoRA",
    "MiniLMEmbeddings",
    "VectorStoreIndex",
    "VectorStoreRouter",
    "create_adapter_documents_chain",
    "create_cascade_chain",
]


def __getattr__(name: str) -> Any:
    if name == "AdapterRoutingMiddleware":  # langchain (v1) is optional: load it on first use
        try:
            from .middleware import AdapterRoutingMiddleware
        except ImportError as exc:
            from doc2lora_rag import MissingDependencyError

            raise MissingDependencyError(f"AdapterRoutingMiddleware needs the langchain (v1) package ({exc}); run pip install 'langchain>=1,<2'") from exc
        return AdapterRoutingMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
