"""create_adapter_documents_chain: the drop-in for `create_stuff_documents_chain`.

Where the stuff chain formats the retrieved documents into the prompt, this chain reads each
document's adapter id and calls the chat model with those adapters active; the prompt carries the
question only. It takes the same input (`{"input": ..., "context": [Document, ...]}`) and returns a
string, so `create_retrieval_chain(retriever, create_adapter_documents_chain(llm))` gives the usual
`{"input", "context", "answer"}` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from doc2lora_rag import InputError

__all__ = ["adapter_ids_from_documents", "create_adapter_documents_chain"]

QUESTION_KEYS = ("input", "question", "query")


def adapter_ids_from_documents(documents: Sequence[Document]) -> list[str]:
    """Adapter ids of retrieved documents, in order, without repeats.

    A document's id is ``metadata["adapter_id"]``, else every id in ``metadata["adapter_ids"]`` (a
    whole document from ``get_by_ids``), else ``Document.id`` (documents from an AdapterVectorStore
    without routing metadata).
    """
    if isinstance(documents, Document) or not isinstance(documents, Sequence):
        raise InputError(f"context must be a list of Document, got {type(documents).__name__}")
    ids: list[str] = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InputError(f"context[{i}] is a {type(doc).__name__}, not a Document")
        if doc.metadata.get("adapter_id"):
            found = [doc.metadata["adapter_id"]]
        elif doc.metadata.get("adapter_ids"):
            found = list(doc.metadata["adapter_ids"])
        elif doc.id:
            found = [doc.id]
        else:
            raise InputError(f"context[{i}] has no adapter id (no metadata['adapter_id'] and no id); retrieve it from an AdapterVectorStore / AdapterRetriever")
        ids.extend(x for x in found if x not in ids)
    return ids


def create_adapter_documents_chain(
    llm: BaseChatModel,
    prompt: BasePromptTemplate | None = None,
    *,
    document_variable_name: str = "context",
) -> Runnable[dict[str, Any], str]:
    """A Runnable ``{"input": question, "context": [Document, ...], ...} -> answer str``.

    The documents' adapters are switched in (``llm.bind(adapter_ids=...)``, so `llm` is a
    ``ChatDoc2LoRA`` or another model accepting ``adapter_ids``); their text never enters the prompt.

    Args:
        llm: the chat model.
        prompt: optional template over the input keys *other than* the documents (it must not use
            ``{context}``: no text is stuffed). None: the question (``input``, ``question`` or
            ``query`` key) is sent as one human message.
        document_variable_name: the input key holding the documents (as in the stuff chain).
    """
    if not isinstance(llm, Runnable) or not callable(getattr(llm, "bind", None)):
        raise InputError(f"llm must be a LangChain chat model (ChatDoc2LoRA), got {type(llm).__name__}")
    if prompt is not None:
        if not isinstance(prompt, BasePromptTemplate):
            raise InputError(f"prompt must be a LangChain prompt template or None, got {type(prompt).__name__}")
        if document_variable_name in prompt.input_variables:
            raise InputError(
                f"the prompt uses {{{document_variable_name}}}, but this chain puts no document text in the prompt "
                f"(the documents' adapters are switched in instead); remove {{{document_variable_name}}} from the prompt"
            )

    def question_messages(inputs: dict[str, Any]) -> list[HumanMessage]:
        for key in QUESTION_KEYS:
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return [HumanMessage(content=value)]
        raise InputError(f"no question in the chain input: expected a non-empty str under one of {list(QUESTION_KEYS)}, got keys {sorted(inputs)}")

    def without_documents(inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in inputs.items() if k != document_variable_name}

    def route(inputs: dict[str, Any]) -> Runnable:
        if not isinstance(inputs, dict):
            raise InputError(f"the chain input must be a dict with {document_variable_name!r} and the question, got {type(inputs).__name__}")
        if document_variable_name not in inputs:
            raise InputError(f"the chain input has no {document_variable_name!r} key (the retrieved documents); got keys {sorted(inputs)}")
        model = llm.bind(adapter_ids=adapter_ids_from_documents(inputs[document_variable_name]))
        if prompt is None:
            return RunnableLambda(question_messages, name="question") | model
        return RunnableLambda(without_documents, name="drop_documents") | prompt | model

    return (RunnableLambda(route, name="route_adapters") | StrOutputParser()).with_config(run_name="adapter_documents_chain")
