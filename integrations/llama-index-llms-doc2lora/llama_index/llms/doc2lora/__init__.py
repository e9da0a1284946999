"""LlamaIndex integration of doc2lora-rag (``pip install 'doc2lora-rag[llamaindex]'``).

- `AdapterIndex`: ``AdapterIndex.from_documents(docs, store_path=...)`` in place of
  ``VectorStoreIndex.from_documents(docs)``; ``as_query_engine()`` as before.
- `Doc2LoRARetriever`: nodes with ``adapter_id`` in metadata.
- `Doc2LoRALLM`: the base LLM, adapters switched in with ``adapter_ids=[...]``.
- `AdapterSynthesizer`: a response synthesizer that switches adapters in instead of stuffing text.
- `MiniLMEmbedding`: the routing embedder as a LlamaIndex embedding.
"""

from __future__ import annotations

from .embeddings import MiniLMEmbedding
from .index import AdapterIndex
from .llms import Doc2LoRALLM
from .retrievers import Doc2LoRARetriever
from .synthesizer import AdapterSynthesizer

__all__ = ["AdapterIndex", "AdapterSynthesizer", "Doc2LoRALLM", "Doc2LoRARetriever", "MiniLMEmbedding"]
