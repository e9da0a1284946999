"""llama-index-vector-stores-doc2lora: a LlamaIndex vector store whose nodes become LoRA adapters.

- `Doc2LoRAVectorStore`: ``VectorStoreIndex.from_vector_store(Doc2LoRAVectorStore("./adapters"))``,
  ``StorageContext.from_defaults(vector_store=...)``, ``IngestionPipeline(vector_store=...)``.
"""

from __future__ import annotations

from .base import Doc2LoRAVectorStore

__all__ = ["Doc2LoRAVectorStore"]
