"""create_cascade_chain: answer locally with adapters when routing is confident, else ask your own chat model.

One store, two answerers. The retrieved documents carry their routing scores (``metadata["score"]``,
from an AdapterVectorStore retriever). When the best score reaches `threshold`, the local
``ChatDoc2LoRA`` answers with those documents' adapters switched in (``mode``: ``"adapter"`` or
``"hybrid"``); otherwise the question and the documents' text go to `fallback`, any chat model (a
hosted one included), by classic stuffing. Like the stuff chain it maps
``{"input": question, "context": [Document, ...]}`` to an answer string, so it fits
``create_retrieval_chain(retriever, create_cascade_chain(local, hosted, threshold=0.5))``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from doc2lora_rag import InputError

from .chains import chain_mode, check_documents, create_adapter_documents_chain

__all__ = ["create_cascade_chain", "is_confident"]


def is_confident(documents: list[Any], threshold: float) -> bool:
    """Whether the best routing score of `documents` (``metadata["score"]``) reaches `threshold`.

    No documents: not confident. Documents without a score: InputError (retrieve them from an
    AdapterVectorStore with routing metadata, which sets the score).
    """
    if not check_documents(documents):
        return False
    scores = [doc.metadata.get("score") for doc in documents]
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
        raise InputError(
            "the cascade compares routing scores, and some retrieved documents have no metadata['score']; "
            "retrieve them from an AdapterVectorStore (routing_metadata=True, the default)"
        )
    return max(scores) >= threshold


def create_cascade_chain(
    local: BaseChatModel,
    fallback: BaseChatModel,
    *,
    threshold: float,
    mode: str | None = None,
    prompt: BasePromptTemplate | None = None,
    fallback_prompt: BasePromptTemplate | None = None,
    document_variable_name: str = "context",
) -> Runnable[dict[str, Any], str]:
    """A Runnable ``{"input": question, "context": [Document, ...]} -> answer str`` that picks its answerer.

    Args:
        local: the chat model that takes ``adapter_ids`` (``ChatDoc2LoRA``).
        fallback: any chat model; it receives the question and the documents' text (``mode="rag"``).
        threshold: the routing score the best document must reach for the local answer (cosine for
            dense routing; see ``AdapterVectorStore.similarity_search_with_score``).
        mode: the local chain's mode, ``"adapter"``, ``"selected"`` or ``"hybrid"``; None (default): its store's default
            (``chain_mode``).
        prompt / fallback_prompt: the two chains' prompts (see ``create_adapter_documents_chain``;
            the fallback's must use ``{context}``).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InputError(f"threshold must be a number (a routing score), got {threshold!r}")
    mode = chain_mode(local, mode)
    if mode not in ("adapter", "selected", "hybrid"):
        raise InputError(f"the local answer's mode must be 'adapter', 'selected' or 'hybrid', got {mode!r}; the fallback always receives "
                         "the text")
    local_chain = create_adapter_documents_chain(local, prompt, mode=mode, document_variable_name=document_variable_name)
    fallback_chain = create_adapter_documents_chain(fallback, fallback_prompt, mode="rag", document_variable_name=document_variable_name)

    def choose(inputs: dict[str, Any]) -> Runnable:
        if not isinstance(inputs, dict) or document_variable_name not in inputs:
            raise InputError(f"the chain input must be a dict with {document_variable_name!r} (the retrieved documents) and the question")
        confident = is_confident(inputs[document_variable_name], float(threshold))
        return (local_chain if confident else fallback_chain).with_config(run_name="local_adapters" if confident else "fallback_model")

    return RunnableLambda(choose, name="cascade").with_config(run_name="cascade_chain")
