"""Hosted chat models on the same store, with langchain-core's own fake chat models standing in for the
provider: classic stuffing through the unchanged stuff chain, and the cascade (local adapters when
routing is confident, else question + text to the user's model)."""

from __future__ import annotations

import pytest
from integration_corpus import DOCS, QUESTION, direct_answer
from langchain_classic.chains import create_retrieval_chain
from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_core.language_models.fake_chat_models import FakeListChatModel, ParrotFakeChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_doc2lora import create_adapter_documents_chain, create_cascade_chain

from doc2lora_rag import InputError

PROMPT = ChatPromptTemplate.from_messages([("human", "Context:\n{context}\n\nQuestion: {input}")])


def test_the_same_retriever_feeds_a_hosted_model_by_classic_stuffing(store, calls) -> None:
    hosted = ParrotFakeChatModel()  # answers with the prompt it received: what the provider would see
    chain = create_retrieval_chain(store.as_retriever(search_kwargs={"k": 2}), create_stuff_documents_chain(hosted, PROMPT))
    out = chain.invoke({"input": QUESTION})
    assert out["context"][0].id == "lighthouse"
    assert DOCS["lighthouse"] in out["answer"] and out["answer"].endswith(f"Question: {QUESTION}")
    assert calls == []  # nothing ran locally
    rag = create_adapter_documents_chain(hosted, PROMPT, mode="rag").invoke({"input": QUESTION, "context": out["context"]})
    assert rag == out["answer"]  # mode="rag" is the stuff chain


def test_cascade_answers_locally_with_adapters_when_routing_is_confident(engine, store, llm, calls) -> None:
    hosted = FakeListChatModel(responses=["hosted answer"])
    retriever = store.as_retriever(search_kwargs={"k": 1})
    chain = create_retrieval_chain(retriever, create_cascade_chain(llm, hosted, threshold=0.3, fallback_prompt=PROMPT))
    out = chain.invoke({"input": QUESTION})
    assert out["context"][0].metadata["score"] >= 0.3
    assert calls[0].adapter_ids == ["lighthouse"] and calls[0].context is None
    assert out["answer"] == direct_answer(engine, store, QUESTION, ["lighthouse"]) != "hosted answer"


def test_cascade_sends_question_and_text_to_the_users_model_otherwise(store, llm, calls) -> None:
    hosted = ParrotFakeChatModel()
    chain = create_retrieval_chain(store.as_retriever(search_kwargs={"k": 2}), create_cascade_chain(llm, hosted, threshold=1.01, fallback_prompt=PROMPT))
    out = chain.invoke({"input": QUESTION})
    assert calls == [] and DOCS["lighthouse"] in out["answer"] and QUESTION in out["answer"]
    empty = create_cascade_chain(llm, FakeListChatModel(responses=["no documents"]), threshold=0.0).invoke({"input": QUESTION, "context": []})
    assert empty == "no documents" and calls == []


async def test_cascade_async(store, llm, calls) -> None:
    chain = create_cascade_chain(llm, FakeListChatModel(responses=["hosted"]), threshold=0.3, mode="hybrid", fallback_prompt=PROMPT)
    docs = await store.asimilarity_search(QUESTION, k=1)
    answer = await chain.ainvoke({"input": QUESTION, "context": docs})
    assert answer and answer != "hosted" and calls[0].adapter_ids == ["lighthouse"] and calls[0].context == DOCS["lighthouse"]


def test_cascade_bad_input_is_refused(store, llm) -> None:
    hosted = FakeListChatModel(responses=["x"])
    with pytest.raises(InputError, match="threshold"):
        create_cascade_chain(llm, hosted, threshold="high")
    with pytest.raises(InputError, match="'adapter', 'selected' or 'hybrid'"):
        create_cascade_chain(llm, hosted, threshold=0.5, mode="rag")
    docs = store.similarity_search(QUESTION, k=1)
    docs[0].metadata.pop("score")
    with pytest.raises(InputError, match=r"metadata\['score'\]"):
        create_cascade_chain(llm, hosted, threshold=0.5).invoke({"input": QUESTION, "context": docs})
