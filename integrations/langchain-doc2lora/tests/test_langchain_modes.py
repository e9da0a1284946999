"""The adapter documents chain's modes (adapter / hybrid / rag), MMR search, a temporary store, metadata
filters, routing scores and timings in response_metadata, and clear errors for bad input. Tiny random
Llama, perturbed generator; the spy (`calls`) records what reached the model."""

from __future__ import annotations

import os

import pytest
from integration_corpus import DOCS, MAX_TOKENS, QUESTION, direct_answer
from langchain_classic.chains import create_retrieval_chain
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_doc2lora import AdapterVectorStore, create_adapter_documents_chain
from langchain_doc2lora.chains import chain_hybrid_adapters, chain_mode

from doc2lora_rag import InputError
from doc2lora_rag.rag import HYBRID_DEFER_SELECTED

STUFFING = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"), ("human", "{input}")])


class LastResponse(BaseCallbackHandler):
    """Keeps the last chat result's response_metadata (what a LangSmith trace would show)."""

    def __init__(self) -> None:
        self.metadata: dict = {}

    def on_llm_end(self, response, **kwargs) -> None:
        self.metadata = response.generations[0][0].message.response_metadata


def test_hybrid_mode_switches_adapters_in_and_fills_the_context_prompt(engine, store, llm, calls) -> None:
    chain = create_retrieval_chain(store.as_retriever(search_kwargs={"k": 2}), create_adapter_documents_chain(llm, STUFFING, mode="hybrid"))
    out = chain.invoke({"input": QUESTION})
    ids = [d.metadata["adapter_id"] for d in out["context"]]
    assert ids[0] == "lighthouse" and calls[0].adapter_ids == ids and calls[0].question == QUESTION
    text = "\n\n".join(DOCS[i] for i in ids)
    assert calls[0].context == f"Context:\n{text}"
    assert out["answer"] == direct_answer(engine, store, QUESTION, ids, f"Context:\n{text}")


def test_hybrid_without_a_prompt_sends_the_text_as_system_context(store, llm, calls) -> None:
    docs = store.similarity_search(QUESTION, k=1)
    create_adapter_documents_chain(llm, mode="hybrid").invoke({"input": QUESTION, "context": docs})
    assert calls[0].adapter_ids == ["lighthouse"] and calls[0].context == DOCS["lighthouse"]


def test_rag_mode_stuffs_the_text_and_switches_no_adapter(store, llm, calls) -> None:
    docs = store.similarity_search(QUESTION, k=2)
    create_adapter_documents_chain(llm, STUFFING, mode="rag").invoke({"input": QUESTION, "context": docs})
    assert calls[0].adapter_ids == [] and DOCS["lighthouse"] in calls[0].context


def test_modes_and_prompts_that_do_not_fit_are_refused(llm) -> None:
    with pytest.raises(InputError, match=r"unknown mode 'stuff'; choose one of 'adapter', 'hybrid', 'selected', 'rag'"):
        create_adapter_documents_chain(llm, mode="stuff")
    with pytest.raises(InputError, match="mode='hybrid'"):
        create_adapter_documents_chain(llm, STUFFING)  # adapter mode with a {context} prompt: the fix is named
    no_context = ChatPromptTemplate.from_messages([("human", "{input}")])
    with pytest.raises(InputError, match=r"has no \{context\}"):
        create_adapter_documents_chain(llm, no_context, mode="hybrid")
    with pytest.raises(InputError, match="list of Document"):
        create_adapter_documents_chain(llm, mode="rag").invoke({"input": QUESTION, "context": "text"})


def test_selected_mode_writes_one_adapter_for_the_question_over_the_documents(make_tiny_base, word_embeddings, tmp_path) -> None:
    from langchain_doc2lora import ChatDoc2LoRA

    from doc2lora_rag.generators.memory import MemoryConfig, MemoryGenerator
    from doc2lora_rag.rag import write_for_question
    from doc2lora_rag.serving import core_store, shared_engine

    base = make_tiny_base(num_layers=3)
    gen = MemoryGenerator.fit(base, list(DOCS.values()), [["Ada Morrow"], ["2013"], ["Seven"], ["1698"]],
                              MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16))
    engine = shared_engine(base, num_slots=2, max_rank=32)
    vs = AdapterVectorStore(tmp_path / "memory-store", word_embeddings, generator=gen)
    vs.add_texts(list(DOCS.values()), ids=list(DOCS))
    llm = ChatDoc2LoRA(engine=engine, store=vs, max_tokens=MAX_TOKENS)
    docs = vs.similarity_search(QUESTION, k=2)
    seen = LastResponse()
    out = create_adapter_documents_chain(llm, mode="selected").invoke({"input": QUESTION, "context": docs}, config={"callbacks": [seen]})
    ids = [d.id for d in docs]
    assert seen.metadata["select_ids"] == ids and seen.metadata["adapter_ids"] == []
    want = write_for_question(core_store(vs), QUESTION, [DOCS[i] for i in ids])
    assert out == engine.answer(QUESTION, [want], max_new_tokens=MAX_TOKENS).text  # the question alone in the prompt
    assert "".join(c.content for c in llm.stream(QUESTION, select_ids=ids)) == out
    # no mode: a memory-generator store's default is the selected write (a store of another generator: adapter)
    assert chain_mode(llm, None) == "selected" and chain_mode(llm, "rag") == "rag"
    assert create_adapter_documents_chain(llm).invoke({"input": QUESTION, "context": docs}) == out
    # hybrid: such a store's adapters next to the text are the selected write too, deferring to the text
    assert chain_hybrid_adapters(llm, None) == "selected"
    hybrid = create_adapter_documents_chain(llm, mode="hybrid").invoke({"input": QUESTION, "context": docs}, config={"callbacks": [seen]})
    assert seen.metadata["select_ids"] == ids and seen.metadata["adapter_ids"] == []
    text = "\n\n".join(DOCS[i] for i in ids)
    assert hybrid == engine.answer(QUESTION, [want], text, max_new_tokens=MAX_TOKENS, defer_to_text=HYBRID_DEFER_SELECTED).text
    create_adapter_documents_chain(llm, mode="hybrid", hybrid_adapters="same").invoke({"input": QUESTION, "context": docs},
                                                                                     config={"callbacks": [seen]})
    assert seen.metadata["adapter_ids"] == ids and "select_ids" not in seen.metadata
    with pytest.raises(InputError, match="hybrid_adapters must be"):
        create_adapter_documents_chain(llm, mode="hybrid", hybrid_adapters="next")
    with pytest.raises(InputError, match="mode='selected' puts no document text"):
        create_adapter_documents_chain(llm, STUFFING, mode="selected")
    vs.delete(["lighthouse"])
    with pytest.raises(InputError, match=r"select ids \['lighthouse'\] are not in store"):
        llm.invoke(QUESTION, select_ids=ids)
    vs.close()


def test_selected_mode_needs_a_memory_generator_store(store, llm) -> None:
    docs = store.similarity_search(QUESTION, k=1)
    with pytest.raises(InputError, match="needs a store built with the memory generator"):
        create_adapter_documents_chain(llm, mode="selected").invoke({"input": QUESTION, "context": docs})


def test_routing_scores_adapter_ids_and_timings_reach_response_metadata(store, llm) -> None:
    assert chain_mode(llm, None) == "adapter"  # the default of a store whose generator does not write for a question
    assert chain_hybrid_adapters(llm, None) == "same"
    seen = LastResponse()
    docs = store.similarity_search(QUESTION, k=2)
    create_adapter_documents_chain(llm).invoke({"input": QUESTION, "context": docs}, config={"callbacks": [seen]})
    assert seen.metadata["adapter_ids"] == [d.id for d in docs]
    assert seen.metadata["routing_scores"] == pytest.approx([d.metadata["score"] for d in docs])
    assert set(seen.metadata["timings"]) == {"adapter_s", "generate_s", "total_s"} and seen.metadata["timings"]["generate_s"] > 0
    last = list(llm.stream(QUESTION, adapter_ids=["quinoa"], routing_scores=[0.5]))[-1]
    assert last.response_metadata["routing_scores"] == [0.5] and last.response_metadata["timings"]["total_s"] > 0
    with pytest.raises(InputError, match="routing_scores"):
        llm.invoke(QUESTION, adapter_ids=["quinoa"], routing_scores="high")


def test_an_adapter_deleted_after_retrieval_is_a_clear_error_and_nothing_is_lost(store, llm) -> None:
    docs = store.similarity_search(QUESTION, k=2)
    store.delete(["lighthouse"])
    with pytest.raises(InputError, match=r"\['lighthouse'\] are not in store .*retrieve again"):
        create_adapter_documents_chain(llm).invoke({"input": QUESTION, "context": docs})
    assert sorted(store.store.doc_ids()) == sorted(set(DOCS) - {"lighthouse"})


def test_mmr_prefers_diverse_chunk_groups_from_the_stored_keys(store, calls) -> None:
    store.add_texts(["The lighthouse on Kessel Point was built in 1871 by Ada Morrow, an engineer."], ids=["lighthouse-copy"])
    plain = [d.id for d in store.similarity_search(QUESTION, k=2)]
    assert sorted(plain) == ["lighthouse", "lighthouse-copy"]
    mmr = [d.id for d in store.max_marginal_relevance_search(QUESTION, k=2, fetch_k=5, lambda_mult=0.3)]
    assert mmr[0] in plain and mmr[1] not in plain  # the near-copy gives way to another document
    retriever = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 5, "lambda_mult": 0.3})
    assert [d.id for d in retriever.invoke(QUESTION)] == mmr
    assert [d.id for d in store.max_marginal_relevance_search(QUESTION, k=2, filter={"source": "violin.txt"})] == ["violin"]
    with pytest.raises(InputError, match="fetch_k"):
        store.max_marginal_relevance_search(QUESTION, k=3, fetch_k=2)
    assert calls == []  # searching never generates


async def test_mmr_async(store) -> None:
    docs = await store.amax_marginal_relevance_search(QUESTION, k=2, fetch_k=4)
    assert docs[0].id == "lighthouse" and len(docs) == 2


def test_filters_match_metadata_and_a_missing_key_is_a_clear_error(store) -> None:
    assert [d.id for d in store.similarity_search(QUESTION, k=4, filter={"source": "ferries.txt"})] == ["ferries"]
    with pytest.raises(InputError, match=r"\['sorce'\] that no document in the store has; known keys: \['source'\]"):
        store.similarity_search(QUESTION, k=2, filter={"sorce": "ferries.txt"})
    assert len(store.store) == len(DOCS)


def test_without_a_store_path_the_store_is_temporary(generator, word_embeddings) -> None:
    vs = AdapterVectorStore(word_embeddings, generator=generator)  # as InMemoryVectorStore(embeddings)
    path = vs.store.path
    assert vs.embeddings is word_embeddings and path.is_dir()
    vs.add_texts(list(DOCS.values()), ids=list(DOCS))
    assert vs.similarity_search(QUESTION, k=1)[0].id == "lighthouse"
    vs.close()
    assert not os.path.exists(path)
    other = AdapterVectorStore.from_documents([Document(page_content=DOCS["violin"], id="violin")], word_embeddings, generator=generator)
    assert other.get_by_ids(["violin"])[0].page_content == DOCS["violin"]
    other.close()
