"""Doc2LoRARetriever: a LlamaIndex retriever that routes a query to an AdapterStore's adapters."""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from doc2lora_rag import InputError
from doc2lora_rag.serving import ROUTING_KEYS, core_store

__all__ = ["Doc2LoRARetriever", "to_node"]


def to_node(doc: Any) -> TextNode:
    """A node for one routed chunk group (a doc2lora Document from `AdapterStore.search`).

    `node_id` is the adapter id, the source relationship points to the document id, and the
    routing keys (`adapter_id`, `doc_id`, `group_index`, `score`) are in metadata but excluded from
    the text an embedder or LLM would see.
    """
    return TextNode(
        id_=doc.id,
        text=doc.text,
        metadata=dict(doc.metadata),
        excluded_embed_metadata_keys=list(ROUTING_KEYS),
        excluded_llm_metadata_keys=list(ROUTING_KEYS),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc.metadata["doc_id"])},
    )


class Doc2LoRARetriever(BaseRetriever):
    """Retrieves the `similarity_top_k` best chunk groups; each node's metadata carries ``adapter_id``.

    Instantiate: ``Doc2LoRARetriever(store, similarity_top_k=2)`` with a doc2lora ``AdapterStore``
    (or an ``AdapterIndex``). Use: ``retriever.retrieve("question")`` -> ``list[NodeWithScore]``,
    best first, scores are the store's routing scores (cosine for dense routing).
    """

    def __init__(self, store: Any, similarity_top_k: int = 2, *, callback_manager: CallbackManager | None = None, verbose: bool = False) -> None:
        if isinstance(similarity_top_k, bool) or not isinstance(similarity_top_k, int) or similarity_top_k < 1:
            raise InputError(f"similarity_top_k must be an int >= 1, got {similarity_top_k!r}")
        self.store = core_store(store)
        self.similarity_top_k = similarity_top_k
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.store.search(query_bundle.query_str, self.similarity_top_k)
        return [NodeWithScore(node=to_node(doc), score=score) for doc, score in hits]
