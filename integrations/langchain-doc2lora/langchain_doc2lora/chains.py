"""create_adapter_documents_chain: the drop-in for `create_stuff_documents_chain`, in four modes.

Where the stuff chain formats the retrieved documents into the prompt, this chain reads each
document's adapter id and calls the chat model with those adapters active:

  adapter  the adapters only; the prompt carries the question (no ``{context}`` in the prompt)
  hybrid   the adapters and the documents' text in the prompt (a ``{context}`` prompt is honoured)
  selected one adapter written for the question over the documents' texts (the memory generator's selected
           write: the sentences that best match the question, nothing else); no text in the prompt
  rag      the text only (classic stuffing; any chat model, hosted ones included)

Without a mode the chain answers in its store's default (`doc2lora_rag.rag.default_mode`: ``selected`` for a
store of the memory generator, else ``adapter``); a chat model without a store answers in ``adapter`` mode. Hybrid's
adapters follow the store the same way (`doc2lora_rag.rag.default_hybrid_adapters`): the selected write next to the
text for a memory-generator store, the documents' own adapters otherwise (``hybrid_adapters`` names one).

It takes the same input (`{"input": ..., "context": [Document, ...]}`) and returns a string, so
`create_retrieval_chain(retriever, create_adapter_documents_chain(llm))` gives the usual
`{"input", "context", "answer"}` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate, PromptTemplate, format_document
from langchain_core.runnables import Runnable, RunnableLambda

from doc2lora_rag import InputError
from doc2lora_rag.rag import default_hybrid_adapters, default_mode
from doc2lora_rag.serving import core_store

__all__ = ["MODES", "adapter_ids_from_documents", "chain_hybrid_adapters", "chain_mode", "check_documents",
           "create_adapter_documents_chain", "question_text", "routing_scores"]

MODES = ("adapter", "hybrid", "selected", "rag")
NO_TEXT = ("adapter", "selected")  # the modes that put no document text in the prompt
QUESTION_KEYS = ("input", "question", "query")
DEFAULT_DOCUMENT_PROMPT = PromptTemplate.from_template("{page_content}")


def check_documents(documents: Any) -> Sequence[Document]:
    """`documents` when it is a list of LangChain Documents, else InputError naming what was received."""
    if isinstance(documents, (Document, str, bytes)) or not isinstance(documents, Sequence):
        raise InputError(f"context must be a list of Document, got {type(documents).__name__}")
    for i, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InputError(f"context[{i}] is a {type(doc).__name__}, not a Document")
    return documents


def adapter_ids_from_documents(documents: Sequence[Document]) -> list[str]:
    """Adapter ids of retrieved documents, in order, without repeats.

    A document's id is ``metadata["adapter_id"]``, else every id in ``metadata["adapter_ids"]`` (a
    whole document from ``get_by_ids``), else ``Document.id`` (documents from an AdapterVectorStore
    without routing metadata).
    """
    ids: list[str] = []
    for i, doc in enumerate(check_documents(documents)):
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


def routing_scores(documents: Sequence[Document]) -> list[float] | None:
    """The documents' routing scores (``metadata["score"]``, set by AdapterVectorStore search), or None if any lacks one."""
    scores = [doc.metadata.get("score") for doc in documents]
    return [float(s) for s in scores] if scores and all(isinstance(s, (int, float)) for s in scores) else None


def question_text(inputs: dict[str, Any]) -> str:
    """The question of a chain input: the first non-empty str under ``input``, ``question`` or ``query``."""
    for key in QUESTION_KEYS:
        value = inputs.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise InputError(f"no question in the chain input: expected a non-empty str under one of {list(QUESTION_KEYS)}, got keys {sorted(inputs)}")


def chain_mode(llm: Any, mode: str | None) -> str:
    """`mode`, or when None the default mode of the store `llm` answers from (``adapter`` when it has none)."""
    if mode is not None:
        return mode
    store = getattr(llm, "store", None)
    return default_mode(core_store(store)) if store is not None else "adapter"


def chain_hybrid_adapters(llm: Any, hybrid_adapters: str | None) -> str:
    """`hybrid_adapters` ("same" or "selected"), or when None the default of the store `llm` answers from ("same" when
    it has none)."""
    if hybrid_adapters is None:
        store = getattr(llm, "store", None)
        return default_hybrid_adapters(core_store(store)) if store is not None else "same"
    if hybrid_adapters not in ("same", "selected"):
        raise InputError(f"hybrid_adapters must be 'same', 'selected' or None, got {hybrid_adapters!r}")
    return hybrid_adapters


def _check_prompt(prompt: Any, mode: str, variable: str) -> None:
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(map(repr, MODES))}")
    if prompt is None:
        return
    if not isinstance(prompt, BasePromptTemplate):
        raise InputError(f"prompt must be a LangChain prompt template or None, got {type(prompt).__name__}")
    uses_text = variable in prompt.input_variables
    if mode in NO_TEXT and uses_text:
        raise InputError(
            f"the prompt uses {{{variable}}}, but mode={mode!r} puts no document text in the prompt (the documents' adapters "
            f"are switched in instead); pass mode='hybrid' for adapters and text, or remove {{{variable}}} from the prompt"
        )
    if mode not in NO_TEXT and not uses_text:
        raise InputError(f"mode={mode!r} puts the documents' text in the prompt, and the prompt has no {{{variable}}}; add it, or pass prompt=None")


def create_adapter_documents_chain(
    llm: BaseChatModel,
    prompt: BasePromptTemplate | None = None,
    *,
    mode: str | None = None,
    document_variable_name: str = "context",
    document_prompt: BasePromptTemplate | None = None,
    document_separator: str = "\n\n",
    hybrid_adapters: str | None = None,
) -> Runnable[dict[str, Any], str]:
    """A Runnable ``{"input": question, "context": [Document, ...], ...} -> answer str``.

    In ``adapter`` and ``hybrid`` mode the documents' adapters are switched in
    (``llm.bind(adapter_ids=..., routing_scores=...)``, so `llm` is a ``ChatDoc2LoRA`` or another model
    accepting ``adapter_ids``); in ``selected`` mode one adapter is written for the question over their texts
    (``llm.bind(select_ids=...)``; a store built with the memory generator); in ``hybrid`` and ``rag`` mode their text is formatted into the prompt
    as the stuff chain does (``document_prompt`` per document, joined by ``document_separator``).

    Args:
        llm: the chat model (any chat model in ``rag`` mode).
        prompt: optional template. ``adapter``: over the input keys other than the documents (no
            ``{context}``); ``hybrid``/``rag``: with ``{context}``, which receives the documents' text.
            None: the question (``input``, ``question`` or ``query`` key) as one human message,
            preceded in ``hybrid``/``rag`` mode by a system message holding the documents' text.
        mode: ``"adapter"``, ``"hybrid"``, ``"selected"`` or ``"rag"``; None (default): the store's default mode
            (``chain_mode``).
        document_variable_name: the input key holding the documents (as in the stuff chain).
        hybrid_adapters: in ``hybrid`` mode, ``"same"`` (the documents' adapters) or ``"selected"`` (one adapter
            written for the question over their texts); None (default): the store's (``chain_hybrid_adapters``).
    """
    if not isinstance(llm, Runnable) or not callable(getattr(llm, "bind", None)):
        raise InputError(f"llm must be a LangChain chat model (ChatDoc2LoRA), got {type(llm).__name__}")
    mode = chain_mode(llm, mode)
    _check_prompt(prompt, mode, document_variable_name)
    select = mode == "selected" or (mode == "hybrid" and chain_hybrid_adapters(llm, hybrid_adapters) == "selected")
    doc_prompt = document_prompt or DEFAULT_DOCUMENT_PROMPT

    def messages(inputs: dict[str, Any], text: str) -> list[BaseMessage]:
        question = [HumanMessage(content=question_text(inputs))]
        return [SystemMessage(content=text), *question] if mode not in NO_TEXT and text else question

    def prompt_inputs(inputs: dict[str, Any], text: str) -> dict[str, Any]:
        values = {k: v for k, v in inputs.items() if k != document_variable_name}
        return values if mode in NO_TEXT else {**values, document_variable_name: text}

    def route(inputs: dict[str, Any]) -> Runnable:
        if not isinstance(inputs, dict):
            raise InputError(f"the chain input must be a dict with {document_variable_name!r} and the question, got {type(inputs).__name__}")
        if document_variable_name not in inputs:
            raise InputError(f"the chain input has no {document_variable_name!r} key (the retrieved documents); got keys {sorted(inputs)}")
        documents = check_documents(inputs[document_variable_name])
        model = llm
        if select:
            model = llm.bind(select_ids=adapter_ids_from_documents(documents))
        elif mode != "rag":
            ids = adapter_ids_from_documents(documents)
            scores = routing_scores(documents)
            model = llm.bind(adapter_ids=ids, **({"routing_scores": scores} if scores is not None and len(scores) == len(ids) else {}))
        text = document_separator.join(format_document(doc, doc_prompt) for doc in documents) if mode not in NO_TEXT else ""
        if prompt is None:
            return RunnableLambda(lambda x: messages(x, text), name="question") | model
        return RunnableLambda(lambda x: prompt_inputs(x, text), name="format_inputs") | prompt | model

    return (RunnableLambda(route, name=f"route_{mode}") | StrOutputParser()).with_config(run_name=f"adapter_documents_chain_{mode}")
