"""LlamaIndex contract tests (llama-index-core ships no standard suites): ids, idempotence, delete,
sorted scores, adapter ids in node metadata, the query engine end to end (sync, async, streaming)
and that no node text reaches the model, checked with a spy on the AnswerEngine. Tiny random Llama,
perturbed generator (non-zero adapters), a hashed bag-of-words LlamaIndex embedding for routing."""

from __future__ import annotations

import pytest
from integration_corpus import DOCS, MAX_TOKENS, QUESTION, assert_example_routes_each_question_to_its_document, assert_no_document_text, direct_answer
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.llms import ChatMessage, LLMMetadata
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.llms import doc2lora as llama_index_doc2lora
from llama_index.llms.doc2lora import AdapterIndex, AdapterSynthesizer, Doc2LoRALLM, Doc2LoRARetriever

from doc2lora_rag import InputError


def documents() -> list[Document]:
    return [Document(text=t, metadata={"source": f"{k}.txt"}, id_=k) for k, t in DOCS.items()]


@pytest.fixture
def index(tmp_path, generator, word_embed_model):
    idx = AdapterIndex.from_documents(documents(), store_path=tmp_path / "store", generator=generator, embed_model=word_embed_model)
    yield idx
    idx.close()


@pytest.fixture
def llm(engine, index) -> Doc2LoRALLM:
    return Doc2LoRALLM(engine=engine, store=index.store, max_new_tokens=MAX_TOKENS)


def test_public_api_is_pinned() -> None:
    assert llama_index_doc2lora.__all__ == ["AdapterIndex", "AdapterSynthesizer", "Doc2LoRALLM", "Doc2LoRARetriever", "MiniLMEmbedding"]
    for name in llama_index_doc2lora.__all__:
        assert getattr(llama_index_doc2lora, name).__name__ == name


# -- index: ids, idempotence, delete --------------------------------------------------------------


def test_ids_are_doc_ids_and_inserting_again_is_idempotent(index) -> None:
    assert index.ref_doc_ids == list(DOCS)
    files = sorted(p.name for p in (index.store.path / "adapters").iterdir())
    assert index.insert_documents(documents()) == list(DOCS)
    assert index.ref_doc_ids == list(DOCS) and len(index.store.entries()) == len(DOCS)
    assert sorted(p.name for p in (index.store.path / "adapters").iterdir()) == files  # nothing regenerated
    assert index.store.last_ingest.generated == 0


def test_insert_replaces_by_id_and_inputs_are_not_mutated(index) -> None:
    doc = Document(text="The violin was sold to a collector in Oslo.", metadata={"source": "new.txt"}, id_="violin")
    before = (doc.text, dict(doc.metadata), doc.doc_id)
    assert index.insert(doc) == "violin"
    assert (doc.text, dict(doc.metadata), doc.doc_id) == before
    nodes = index.as_retriever(similarity_top_k=4).retrieve("violin collector Oslo")
    assert nodes[0].node.node_id == "violin" and nodes[0].node.text == doc.text
    assert nodes[0].node.metadata["source"] == "new.txt" and len(index.store.entries()) == len(DOCS)


def test_delete_removes_adapters_and_ignores_unknown_ids(index) -> None:
    index.delete_ref_doc("lighthouse")
    index.delete_ref_doc("never-added")
    assert "lighthouse" not in index.ref_doc_ids
    ids = [n.node.node_id for n in index.as_retriever(similarity_top_k=4).retrieve(QUESTION)]
    assert sorted(ids) == sorted(set(DOCS) - {"lighthouse"})
    with pytest.raises(InputError, match="no adapter 'lighthouse'"):
        index.store.adapter("lighthouse")


# -- retriever --------------------------------------------------------------------------------------


def test_retriever_nodes_carry_adapter_ids_and_sorted_scores(index) -> None:
    retriever = index.as_retriever(similarity_top_k=3)
    assert isinstance(retriever, Doc2LoRARetriever)
    nodes = retriever.retrieve(QUESTION)
    assert len(nodes) == 3 and nodes[0].node.node_id == "lighthouse"
    scores = [n.score for n in nodes]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    for n in nodes:
        md = n.node.metadata
        assert md["adapter_id"] == n.node.node_id == md["doc_id"] == n.node.ref_doc_id
        assert md["source"] == f"{n.node.node_id}.txt" and n.node.text == DOCS[n.node.node_id]
        assert "adapter_id" not in n.node.get_content(metadata_mode=MetadataMode.LLM)
    assert [n.node.node_id for n in retriever.retrieve(QueryBundle(query_str=QUESTION))] == [n.node.node_id for n in nodes]
    with pytest.raises(InputError, match="similarity_top_k"):
        Doc2LoRARetriever(index.store, similarity_top_k=0)


async def test_retriever_async(index) -> None:
    nodes = await index.as_retriever(similarity_top_k=2).aretrieve(QUESTION)
    assert [n.node.node_id for n in nodes][0] == "lighthouse" and len(nodes) == 2


# -- query engine ---------------------------------------------------------------------------------


def test_query_engine_answers_with_the_nodes_adapters_and_no_text(engine, index, llm, calls) -> None:
    response = index.as_query_engine(llm=llm, similarity_top_k=2).query(QUESTION)
    assert isinstance(response, Response)
    ids = [n.node.node_id for n in response.source_nodes]
    assert len(ids) == 2 and ids[0] == "lighthouse"
    assert len(calls) == 1 and calls[0].question == QUESTION and calls[0].adapter_ids == ids
    assert_no_document_text(calls[0])
    assert response.response == direct_answer(engine, index.store, QUESTION, ids)
    assert response.response != direct_answer(engine, index.store, QUESTION, [])
    assert set(response.metadata) == set(ids)


def test_selected_query_engine_writes_one_adapter_for_the_question(make_tiny_base, word_embed_model, tmp_path) -> None:
    from doc2lora_rag.generators.memory import MemoryConfig, MemoryGenerator
    from doc2lora_rag.rag import write_for_question
    from doc2lora_rag.serving import shared_engine

    base = make_tiny_base(num_layers=3)
    gen = MemoryGenerator.fit(base, list(DOCS.values()), [["Ada Morrow"], ["2013"], ["Seven"], ["1698"]],
                              MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16))
    engine = shared_engine(base, num_slots=2, max_rank=32)
    with AdapterIndex.from_documents(documents(), store_path=tmp_path / "memory", generator=gen, embed_model=word_embed_model) as idx:
        llm = Doc2LoRALLM(engine=engine, store=idx.store, max_new_tokens=MAX_TOKENS)
        response = idx.as_query_engine(llm=llm, similarity_top_k=2, selected=True).query(QUESTION)
        ids = [n.node.node_id for n in response.source_nodes]
        want = write_for_question(idx.store, QUESTION, [DOCS[i] for i in ids])
        assert response.response == engine.answer(QUESTION, [want], max_new_tokens=MAX_TOKENS).text  # the question alone
        out = llm.complete(QUESTION, select_ids=ids)
        assert out.text == response.response and out.additional_kwargs["select_ids"] == ids and out.additional_kwargs["adapter_ids"] == []
        # no `selected`: the memory-generator store's default mode, the selected write
        assert idx.as_query_engine(llm=llm, similarity_top_k=2).query(QUESTION).response == response.response
        assert not idx.as_query_engine(llm=llm, similarity_top_k=2, selected=False)._response_synthesizer.selected
        # hybrid: the nodes' text in the prompt, and for this store the selected write beside it (deferring to the text)
        from doc2lora_rag.rag import CONTEXT_SEPARATOR, HYBRID_DEFER_SELECTED

        hybrid = AdapterSynthesizer(llm, hybrid=True)
        assert hybrid.selected
        nodes = [NodeWithScore(node=n.node, score=n.score) for n in response.source_nodes]
        text = CONTEXT_SEPARATOR.join(n.node.get_content(metadata_mode=MetadataMode.LLM) for n in nodes)  # as synthesizers read them
        assert hybrid.synthesize(QUESTION, nodes).response == engine.answer(QUESTION, [want], text, max_new_tokens=MAX_TOKENS,
                                                                            defer_to_text=HYBRID_DEFER_SELECTED).text


async def test_query_engine_async_matches_sync(index, llm, calls) -> None:
    query_engine = index.as_query_engine(llm=llm, similarity_top_k=1)
    sync = query_engine.query(QUESTION)
    response = await query_engine.aquery(QUESTION)
    assert response.response == sync.response and [n.node.node_id for n in response.source_nodes] == ["lighthouse"]
    assert [c.adapter_ids for c in calls] == [["lighthouse"], ["lighthouse"]]


def test_streaming_query_engine_streams_the_same_answer(index, llm, calls) -> None:
    whole = index.as_query_engine(llm=llm, similarity_top_k=1).query(QUESTION).response
    response = index.as_query_engine(llm=llm, streaming=True, similarity_top_k=1).query(QUESTION)
    assert isinstance(response, StreamingResponse)
    pieces = list(response.response_gen)
    assert len(pieces) >= 2 and "".join(pieces) == whole
    assert [n.node.node_id for n in response.source_nodes] == ["lighthouse"]
    assert calls[-1].method == "stream" and calls[-1].adapter_ids == ["lighthouse"]


def test_default_llm_is_built_on_the_store_generator_base(index, engine) -> None:
    query_engine = index.as_query_engine(similarity_top_k=1)
    assert index.llm.answer_engine is engine  # one engine per base model: its slot cache stays valid
    assert index.llm.model_name == engine.base.name
    assert isinstance(query_engine.query(QUESTION), Response)


def test_query_engine_refuses_response_modes(index) -> None:
    with pytest.raises(InputError, match="response_mode"):
        index.as_query_engine(response_mode="compact")


def test_a_stuffing_pipeline_is_visible_to_the_spy(engine, llm, calls, word_embed_model) -> None:
    """The contrast: LlamaIndex's own VectorStoreIndex with the same LLM puts the text in the prompt."""
    vector_index = VectorStoreIndex.from_documents(documents(), embed_model=word_embed_model)
    vector_index.as_query_engine(llm=llm, similarity_top_k=1).query(QUESTION)
    assert calls[-1].adapter_ids == [] and "Kessel Point" in calls[-1].question


# -- synthesizer and LLM --------------------------------------------------------------------------


def test_synthesizer_empty_nodes_and_missing_adapter_ids(llm, calls) -> None:
    synthesizer = AdapterSynthesizer(llm)
    assert str(synthesizer.synthesize(QUESTION, [])) == "Empty Response" and calls == []
    with pytest.raises(InputError, match="adapter_id"):
        synthesizer.synthesize(QUESTION, [NodeWithScore(node=TextNode(text="plain text"), score=1.0)])
    assert synthesizer.get_prompts() == {}
    with pytest.raises(InputError):
        synthesizer.update_prompts({"text_qa_template": "x"})
    with pytest.raises(InputError, match="LLM"):
        AdapterSynthesizer("not an llm")


def test_llm_complete_stream_and_chat(engine, index, llm, calls) -> None:
    meta = llm.metadata
    assert isinstance(meta, LLMMetadata) and meta.num_output == MAX_TOKENS and meta.model_name == engine.base.name
    out = llm.complete(QUESTION, adapter_ids=["quinoa"])
    assert out.text == direct_answer(engine, index.store, QUESTION, ["quinoa"]) and out.additional_kwargs["adapter_ids"] == ["quinoa"]
    assert out.additional_kwargs["new_tokens"] <= MAX_TOKENS
    responses = list(llm.stream_complete(QUESTION, adapter_ids=["quinoa"]))
    assert len(responses) >= 2 and responses[-1].text == out.text
    assert "".join(r.delta for r in responses) == out.text
    assert all(b.text.startswith(a.text) for a, b in zip(responses, responses[1:]))
    reply = llm.chat([ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content=QUESTION)], adapter_ids=["quinoa"])
    assert reply.message.content == out.text
    assert calls[-1].question == QUESTION and calls[-1].context is None  # the chat sent the user message only
    with pytest.raises(InputError, match="unknown call arguments"):
        llm.complete(QUESTION, adapter_id="quinoa")
    with pytest.raises(ValueError, match="engine=AnswerEngine"):
        Doc2LoRALLM()


# -- the example script ----------------------------------------------------------------------------


@pytest.mark.slow
def test_llamaindex_example_runs_with_the_tiny_model_and_routes_each_question_to_its_document() -> None:
    assert_example_routes_each_question_to_its_document("llamaindex_drop_in.py")


async def test_llm_async_methods_match_sync_and_take_context(engine, index, llm, calls) -> None:
    whole = llm.complete(QUESTION, adapter_ids=["quinoa"]).text
    assert (await llm.acomplete(QUESTION, adapter_ids=["quinoa"])).text == whole
    assert (await llm.achat([ChatMessage(role="user", content=QUESTION)], adapter_ids=["quinoa"])).message.content == whole
    pieces = [r.delta async for r in await llm.astream_complete(QUESTION, adapter_ids=["quinoa"])]
    assert "".join(pieces) == whole
    chat = [r async for r in await llm.astream_chat([ChatMessage(role="user", content=QUESTION)], adapter_ids=["quinoa"])]
    assert chat[-1].message.content == whole
    assert [c.adapter_ids for c in calls] == [["quinoa"]] * 5
    llm.complete(QUESTION, adapter_ids=["quinoa"], context="Quinoa is a grain.")
    assert calls[-1].context == "Quinoa is a grain." and calls[-1].adapter_ids == ["quinoa"]
    with pytest.raises(InputError, match="context must be a str"):
        await llm.acomplete(QUESTION, context=["x"])
