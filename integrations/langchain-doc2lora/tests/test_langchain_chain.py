"""LangChain behaviour on the tiny random Llama with a perturbed (non-zero) generator: the adapter
chain inside `create_retrieval_chain`, `.bind(adapter_ids=...)`, streaming, stop sequences, the
agent middleware, multi-group documents. A spy on the AnswerEngine records what reached the model:
the question, the adapters (by id) and any context text."""

from __future__ import annotations

import pytest
from integration_corpus import DOCS, MAX_TOKENS, QUESTION, assert_example_routes_each_question_to_its_document, assert_no_document_text, direct_answer
from langchain_classic.chains import create_retrieval_chain
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_doc2lora import (
    AdapterRetriever,
    AdapterRoutingMiddleware,
    AdapterVectorStore,
    ChatDoc2LoRA,
    create_adapter_documents_chain,
)

from doc2lora_rag import InputError

# -- the adapter documents chain ----------------------------------------------------------------


def test_retrieval_chain_answers_with_the_retrieved_adapters_and_no_text(engine, store, llm, calls) -> None:
    chain = create_retrieval_chain(store.as_retriever(search_kwargs={"k": 2}), create_adapter_documents_chain(llm))
    out = chain.invoke({"input": QUESTION})
    assert set(out) == {"input", "context", "answer"}
    assert out["input"] == QUESTION
    ids = [d.metadata["adapter_id"] for d in out["context"]]
    assert len(ids) == 2 and ids[0] == "lighthouse"
    assert [d.id for d in out["context"]] == ids
    assert len(calls) == 1
    assert calls[0].question == QUESTION and calls[0].context is None and calls[0].adapter_ids == ids
    assert_no_document_text(calls[0])
    loaded = [engine.slots.loaded_key(s) or "" for s in range(engine.slots.num_slots)]
    assert any(key.startswith("lighthouse@") and f"|{ids[1]}@" in key for key in loaded), loaded
    assert isinstance(out["answer"], str) and out["answer"]
    assert out["answer"] == direct_answer(engine, store, QUESTION, ids)
    assert out["answer"] != direct_answer(engine, store, QUESTION, [])  # the adapters changed the answer


async def test_retrieval_chain_async_matches_sync(store, llm, calls) -> None:
    chain = create_retrieval_chain(AdapterRetriever(vectorstore=store, k=1), create_adapter_documents_chain(llm))
    sync = chain.invoke({"input": QUESTION})
    out = await chain.ainvoke({"input": QUESTION})
    assert out["answer"] == sync["answer"] and [d.id for d in out["context"]] == ["lighthouse"]
    assert [c.adapter_ids for c in calls] == [["lighthouse"], ["lighthouse"]]


def test_chain_streams_the_same_answer(store, llm, calls) -> None:
    chain = create_retrieval_chain(store.as_retriever(search_kwargs={"k": 1}), create_adapter_documents_chain(llm))
    whole = chain.invoke({"input": QUESTION})["answer"]
    pieces = [chunk["answer"] for chunk in chain.stream({"input": QUESTION}) if "answer" in chunk]
    assert len(pieces) >= 2 and "".join(pieces) == whole
    assert calls[-1].method == "stream" and calls[-1].adapter_ids == ["lighthouse"]


def test_chain_with_a_prompt_sends_the_formatted_question_only(store, llm, calls) -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "Answer briefly: {input}")])
    chain = create_adapter_documents_chain(llm, prompt)
    docs = store.similarity_search(QUESTION, k=1)
    answer = chain.invoke({"input": QUESTION, "context": docs})
    assert isinstance(answer, str) and answer
    assert calls[0].question == f"Answer briefly: {QUESTION}" and calls[0].adapter_ids == ["lighthouse"]
    assert_no_document_text(calls[0])


def test_chain_refuses_a_stuffing_prompt_and_bad_input(llm) -> None:
    stuffing = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{input}")])
    with pytest.raises(InputError, match="context"):
        create_adapter_documents_chain(llm, stuffing)
    chain = create_adapter_documents_chain(llm)
    with pytest.raises(InputError, match="no 'context' key"):
        chain.invoke({"input": QUESTION})
    with pytest.raises(InputError, match="no question"):
        chain.invoke({"context": []})
    with pytest.raises(InputError, match="no adapter id"):
        chain.invoke({"input": QUESTION, "context": [Document(page_content="text only")]})


def test_chain_without_documents_answers_with_the_bare_model(engine, store, llm, calls) -> None:
    answer = create_adapter_documents_chain(llm).invoke({"question": QUESTION, "context": []})
    assert calls[0].adapter_ids == [] and answer == direct_answer(engine, store, QUESTION, [])


# -- the chat model -----------------------------------------------------------------------------


def test_bind_and_invoke_kwarg_activate_the_same_adapters(engine, store, llm, calls) -> None:
    bound = llm.bind(adapter_ids=["violin", "ferries"]).invoke(QUESTION)
    direct = llm.invoke(QUESTION, adapter_ids=["violin", "ferries", "violin"])  # repeats dropped
    assert isinstance(bound, AIMessage)
    assert bound.content == direct.content == direct_answer(engine, store, QUESTION, ["violin", "ferries"])
    assert [c.adapter_ids for c in calls[:2]] == [["violin", "ferries"]] * 2  # (the third call is direct_answer)
    assert bound.response_metadata["adapter_ids"] == ["violin", "ferries"]
    assert bound.response_metadata["model_name"] == engine.base.name
    usage = bound.usage_metadata
    assert usage["output_tokens"] <= MAX_TOKENS and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_stream_yields_tokens_that_join_to_the_invoke_answer(llm, calls) -> None:
    whole = llm.invoke(QUESTION, adapter_ids=["quinoa"]).content
    chunks = list(llm.stream(QUESTION, adapter_ids=["quinoa"]))
    text_chunks = [c for c in chunks if c.content]
    assert len(text_chunks) >= 2 and "".join(c.content for c in text_chunks) == whole
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata["input_tokens"] > 0
    assert calls[-1].method == "stream" and calls[-1].adapter_ids == ["quinoa"]


def test_stop_sequences_cut_invoke_and_stream_alike(engine, store, llm) -> None:
    adapted = llm.bind(adapter_ids=["quinoa"])  # the bare tiny model answers this with no visible text
    whole = adapted.invoke(QUESTION).content
    stop = whole[len(whole) // 2 :][:2]  # two characters from the middle, possibly inside a streamed piece
    assert len(whole) >= 6 and stop.strip() == stop, whole
    cut = whole[: whole.find(stop)].rstrip()
    assert cut != whole
    assert adapted.invoke(QUESTION, stop=[stop]).content == cut
    assert "".join(c.content for c in adapted.stream(QUESTION, stop=[stop])) == cut
    with_stop = ChatDoc2LoRA(engine=engine, store=store, stop=[stop], max_tokens=MAX_TOKENS)
    assert with_stop.invoke(QUESTION, adapter_ids=["quinoa"]).content == cut


def test_system_messages_and_history_become_context_and_the_last_human_message_the_question(llm, calls) -> None:
    llm.invoke([SystemMessage("Rules: be brief."), HumanMessage("first question"), AIMessage("x"), HumanMessage(QUESTION)])
    assert calls[0].question == QUESTION
    assert calls[0].context == "Rules: be brief.\n\nConversation so far:\nUser: first question\nAssistant: x"  # the history is honoured


def test_chat_model_errors_name_the_fix(engine, llm) -> None:
    with pytest.raises(InputError, match="unknown call arguments"):
        llm.invoke(QUESTION, adapter_id="lighthouse")
    with pytest.raises(InputError, match="human message"):
        llm.invoke([SystemMessage("only a system message")])
    with pytest.raises(InputError, match="no store"):
        ChatDoc2LoRA(engine=engine).invoke(QUESTION, adapter_ids=["lighthouse"])
    with pytest.raises(InputError, match=r"adapter ids \['missing'\] are not in store .* retrieve again"):
        llm.invoke(QUESTION, adapter_ids=["missing"])
    with pytest.raises(ValueError, match="engine=AnswerEngine"):
        ChatDoc2LoRA()


# -- the agent middleware -----------------------------------------------------------------------


def test_agent_middleware_routes_each_turn_to_adapters(store, llm, calls) -> None:
    from langchain.agents import create_agent

    agent = create_agent(llm, tools=[], middleware=[AdapterRoutingMiddleware(store, k=2)])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    reply = state["messages"][-1]
    routed = store.similarity_search(QUESTION, k=2)
    expected = [d.id for d in routed]
    assert isinstance(reply, AIMessage) and reply.response_metadata["adapter_ids"] == expected
    assert reply.response_metadata["routing_scores"] == pytest.approx([d.metadata["score"] for d in routed])
    assert expected[0] == "lighthouse" and calls[-1].adapter_ids == expected and calls[-1].question == QUESTION
    assert_no_document_text(calls[-1])
    second = "How many ferries cross the strait?"
    state = agent.invoke({"messages": [*state["messages"], HumanMessage(second)]})
    assert calls[-1].question == second and calls[-1].adapter_ids[0] == "ferries"
    assert calls[-1].context.startswith(f"Conversation so far:\nUser: {QUESTION}\nAssistant: ")  # the agent's history reached the model


async def test_agent_middleware_async_and_gate(store, llm, calls) -> None:
    from langchain.agents import create_agent

    agent = create_agent(llm, tools=[], middleware=[AdapterRoutingMiddleware(store.store, k=1)])
    state = await agent.ainvoke({"messages": [HumanMessage(QUESTION)]})
    assert state["messages"][-1].response_metadata["adapter_ids"] == ["lighthouse"]
    gated = create_agent(llm, tools=[], middleware=[AdapterRoutingMiddleware(store, k=1, score_threshold=1.01)])
    state = gated.invoke({"messages": [HumanMessage(QUESTION)]})
    assert state["messages"][-1].response_metadata["adapter_ids"] == [] and calls[-1].adapter_ids == []
    with pytest.raises(InputError, match="k must be"):
        AdapterRoutingMiddleware(store, k=0)


# -- store semantics beyond the standard suite ------------------------------------------------


def test_multi_group_documents_ids_get_delete_and_chain(tmp_path, generator, engine, calls, word_embeddings) -> None:
    long_text = " ".join(f"Sentence {i} tells about the old harbour crane number {i}." for i in range(6))
    vs = AdapterVectorStore(tmp_path / "s", word_embeddings, generator=generator, chunk_tokens=32, group_size=1)
    original = Document(page_content=long_text, metadata={"source": "crane.txt"}, id="crane")
    assert vs.add_documents([original]) == ["crane"]
    assert original.id == "crane" and original.metadata == {"source": "crane.txt"}  # not mutated
    entries = [e.id for e in vs.store.entries("crane")]
    assert 2 <= len(entries) <= 4 and entries[1] == "crane#1"  # all fit in the engine's max_rank 32
    [whole] = vs.get_by_ids(["crane"])
    assert whole.page_content == long_text and whole.metadata["adapter_ids"] == entries
    [group] = vs.get_by_ids(["crane#1"])
    assert group.id == "crane#1" and group.metadata["adapter_id"] == "crane#1" and group.page_content in long_text
    hits = vs.similarity_search_with_score("harbour crane number 7", k=3)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert all(d.metadata["doc_id"] == "crane" and d.id == d.metadata["adapter_id"] for d, _ in hits)
    llm = ChatDoc2LoRA(engine=engine, store=vs, max_tokens=2)
    create_adapter_documents_chain(llm).invoke({"input": "crane?", "context": [whole]})
    assert calls[-1].adapter_ids == entries[: len(entries)]  # a whole document brings all its adapters
    vs.delete(["crane#1"])
    assert "crane#1" not in [e.id for e in vs.store.entries("crane")] and vs.get_by_ids(["crane#1"]) == []
    vs.delete(None)
    assert vs.get_by_ids(["crane"]) == [] and vs.similarity_search("crane", k=1) == []
    vs.close()


def test_from_documents_idempotence_filter_and_relevance(tmp_path, generator, word_embeddings) -> None:
    docs = [Document(page_content=t, metadata={"topic": k}) for k, t in DOCS.items()]
    vs = AdapterVectorStore.from_documents(docs, word_embeddings, store_path=tmp_path / "s", generator=generator)
    first = vs.store.doc_ids()
    assert vs.add_documents(docs) == first and vs.store.doc_ids() == first  # derived ids: no duplicates
    hits = vs.similarity_search(QUESTION, k=2, filter={"topic": "violin"})
    assert [d.metadata["topic"] for d in hits] == ["violin"]
    assert [d.metadata["topic"] for d in vs.similarity_search(QUESTION, k=4, filter=lambda d: d.metadata["topic"] != "lighthouse")][:1] != ["lighthouse"]
    scored = vs.similarity_search_with_relevance_scores(QUESTION, k=4)
    assert scored[0][0].metadata["topic"] == "lighthouse" and all(0.0 <= s <= 1.0 for _, s in scored)
    again = AdapterVectorStore.from_texts(["extra text about ferries"], vs.embeddings, store=vs.store, ids=["extra"])
    assert "extra" in again.store and again.store is vs.store
    with pytest.raises(InputError, match="at most one"):
        AdapterVectorStore.from_texts(["x"], word_embeddings, store=vs.store, store_path=tmp_path / "other")
    with pytest.raises(InputError, match="unknown keyword"):
        vs.similarity_search(QUESTION, k=1, fetch_k=3)
    vs.close()


@pytest.mark.parametrize(
    ("pieces", "stop", "expected"),
    [
        (["Hel", "lo wo", "rld"], ["o w"], "Hell"),
        (["ab", "X", "Y", "Zcd"], ["XYZ"], "ab"),  # a stop sequence spread over three pieces
        (["XY", "Z tail"], ["XYZ", "tail"], ""),
        (["line one", "\n", "\nline two"], ["\n\n"], "line one"),
        (["  ", "\nab", "c  ", " ", "d  "], [], "abc   d"),  # leading and trailing whitespace dropped
        (["a", "b"], ["zz"], "ab"),
    ],
)
def test_stop_filter_matches_cutting_the_whole_answer(pieces, stop, expected) -> None:
    from doc2lora_rag.serving import StopFilter, cut_at_stop

    f = StopFilter(stop)
    out = [f.feed(p) for p in pieces] + [f.flush()]
    assert "".join(out) == expected == cut_at_stop("".join(pieces).strip(), stop)
    assert f.feed("more") == "" and f.flush() == ""  # nothing after the end


# -- the example script ----------------------------------------------------------------------------


@pytest.mark.slow
def test_langchain_example_runs_with_the_tiny_model_and_routes_each_question_to_its_document() -> None:
    assert_example_routes_each_question_to_its_document("langchain_drop_in.py")
