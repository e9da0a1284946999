"""Doc2LoRAVectorStore inside LlamaIndex's own storage model: VectorStoreIndex / StorageContext /
IngestionPipeline / persist and reopen / metadata filters / MMR / async, and the query engine
answering from adapters through AdapterSynthesizer. Tiny random Llama, perturbed generator, a hashed
bag-of-words embedding; the spy (`calls`) records what reached the model."""

from __future__ import annotations

import asyncio
import threading

import pytest
from integration_corpus import DOCS, MAX_TOKENS, QUESTION, assert_no_document_text, direct_answer
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.llms.doc2lora import AdapterSynthesizer, Doc2LoRALLM
from llama_index.vector_stores import doc2lora as package
from llama_index.vector_stores.doc2lora import Doc2LoRAVectorStore

from doc2lora_rag import InputError


def documents() -> list[Document]:
    return [Document(text=t, metadata={"source": f"{k}.txt", "year": 2000 + i}, id_=k) for i, (k, t) in enumerate(DOCS.items())]


@pytest.fixture
def vector_store(tmp_path, generator, word_embed_model):
    vs = Doc2LoRAVectorStore(tmp_path / "store", embed_model=word_embed_model, generator=generator)
    yield vs
    vs.close()


@pytest.fixture
def index(vector_store, word_embed_model) -> VectorStoreIndex:
    storage_context = StorageContext.from_defaults(vector_store=vector_store)
    return VectorStoreIndex.from_documents(documents(), storage_context=storage_context, embed_model=word_embed_model)


@pytest.fixture
def llm(engine, vector_store) -> Doc2LoRALLM:
    return Doc2LoRALLM(engine=engine, store=vector_store, max_new_tokens=MAX_TOKENS)


def ref_ids(nodes) -> list[str]:
    return [n.node.ref_doc_id for n in nodes]


def test_public_api_is_pinned() -> None:
    assert package.__all__ == ["Doc2LoRAVectorStore"]


def test_query_engine_answers_from_the_retrieved_adapters_and_no_text(engine, index, vector_store, llm, calls) -> None:
    query_engine = index.as_query_engine(llm=llm, response_synthesizer=AdapterSynthesizer(llm), similarity_top_k=2)
    response = query_engine.query(QUESTION)
    ids = [n.node.node_id for n in response.source_nodes]
    assert ref_ids(response.source_nodes)[0] == "lighthouse" and len(ids) == 2
    assert response.source_nodes[0].node.text == DOCS["lighthouse"] and response.source_nodes[0].node.metadata["source"] == "lighthouse.txt"
    assert len(calls) == 1 and calls[0].question == QUESTION and calls[0].adapter_ids == ids
    assert_no_document_text(calls[0])
    assert response.response == direct_answer(engine, vector_store, QUESTION, ids)


def test_hybrid_synthesizer_sends_adapters_and_text(index, llm, calls) -> None:
    response = index.as_query_engine(llm=llm, response_synthesizer=AdapterSynthesizer(llm, hybrid=True), similarity_top_k=1).query(QUESTION)
    assert calls[0].adapter_ids == [response.source_nodes[0].node.node_id]
    assert calls[0].context == response.source_nodes[0].node.get_content(metadata_mode="llm")  # as LlamaIndex's own synthesizers format it
    assert DOCS["lighthouse"] in calls[0].context and "adapter_id" not in calls[0].context


def test_persist_and_reopen(tmp_path, index, generator, word_embed_model) -> None:
    index.storage_context.persist(persist_dir=str(tmp_path / "persist"))
    index.vector_store.close()
    reopened = Doc2LoRAVectorStore(tmp_path / "store", embed_model=word_embed_model, generator=generator)
    loaded = load_index_from_storage(
        StorageContext.from_defaults(vector_store=reopened, persist_dir=str(tmp_path / "persist")), embed_model=word_embed_model
    )
    assert ref_ids(loaded.as_retriever(similarity_top_k=1).retrieve(QUESTION)) == ["lighthouse"]
    again = VectorStoreIndex.from_vector_store(reopened, embed_model=word_embed_model)
    assert ref_ids(again.as_retriever(similarity_top_k=1).retrieve(QUESTION)) == ["lighthouse"]
    reopened.close()


def test_ingestion_pipeline_ingests_into_the_store(vector_store, word_embed_model) -> None:
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), word_embed_model], vector_store=vector_store)
    nodes = pipeline.run(documents=documents())
    assert len(vector_store.store.doc_ids()) == len(nodes) == len(DOCS)
    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=word_embed_model)
    assert ref_ids(index.as_retriever(similarity_top_k=1).retrieve(QUESTION)) == ["lighthouse"]


def test_metadata_filters_and_a_missing_key(index, vector_store) -> None:
    only = MetadataFilters(filters=[MetadataFilter(key="source", value="ferries.txt")])
    assert ref_ids(index.as_retriever(similarity_top_k=3, filters=only).retrieve(QUESTION)) == ["ferries"]
    either = MetadataFilters(
        filters=[MetadataFilter(key="year", value=2003, operator=FilterOperator.GTE), MetadataFilter(key="source", value="quinoa.txt")],
        condition=FilterCondition.OR,
    )
    assert sorted(ref_ids(index.as_retriever(similarity_top_k=4, filters=either).retrieve(QUESTION))) == ["quinoa", "violin"]
    typo = MetadataFilters(filters=[MetadataFilter(key="sorce", value="ferries.txt")])
    with pytest.raises(InputError, match=r"\['sorce'\] that no document in the store has"):
        index.as_retriever(filters=typo).retrieve(QUESTION)
    assert len(vector_store.store.doc_ids()) == len(DOCS)  # nothing lost
    assert [n.ref_doc_id for n in vector_store.get_nodes(filters=only)] == ["ferries"]


def test_delete_by_ref_doc_nodes_and_clear(index, vector_store) -> None:
    index.delete_ref_doc("lighthouse")
    vector_store.delete("never-added")
    assert "lighthouse" not in ref_ids(index.as_retriever(similarity_top_k=4).retrieve(QUESTION))
    violin = vector_store.get_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="source", value="violin.txt")]))[0]
    vector_store.delete_nodes([violin.node_id])
    assert len(vector_store.store.doc_ids()) == len(DOCS) - 2
    vector_store.clear()
    assert vector_store.store.doc_ids() == [] and index.as_retriever().retrieve(QUESTION) == []


def test_mmr_prefers_diverse_nodes(index, vector_store, word_embed_model) -> None:
    index.insert(Document(text="The lighthouse on Kessel Point was built in 1871 by Ada Morrow, an engineer.", id_="lighthouse-copy"))
    plain = ref_ids(index.as_retriever(similarity_top_k=2).retrieve(QUESTION))
    assert sorted(plain) == ["lighthouse", "lighthouse-copy"]
    mmr = ref_ids(index.as_retriever(similarity_top_k=2, vector_store_query_mode="mmr", vector_store_kwargs={"mmr_threshold": 0.3}).retrieve(QUESTION))
    assert mmr[0] in plain and mmr[1] not in plain


def test_bad_queries_are_refused(vector_store, index) -> None:
    with pytest.raises(InputError, match="query_str"):
        vector_store.query(VectorStoreQuery(query_embedding=[0.0] * 64, similarity_top_k=2))
    with pytest.raises(InputError, match="'svm' is not supported"):
        vector_store.query(VectorStoreQuery(query_str=QUESTION, mode="svm"))
    with pytest.raises(InputError, match="store directory"):
        Doc2LoRAVectorStore()
    ids = vector_store.query(VectorStoreQuery(query_str=QUESTION, similarity_top_k=4, doc_ids=["quinoa", "violin"])).ids
    assert len(ids) == 2


async def test_aquery_does_not_block_the_event_loop(engine, index, llm, monkeypatch) -> None:
    """Generation waits for an event that only the event loop sets: a blocking aquery would wait in vain."""
    released, waited = threading.Event(), []
    real_answer = engine.answer

    def gated(*args, **kwargs):
        waited.append(released.wait(timeout=20))
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(engine, "answer", gated)

    async def release() -> None:
        await asyncio.sleep(0.05)
        released.set()

    query_engine = index.as_query_engine(llm=llm, response_synthesizer=AdapterSynthesizer(llm), similarity_top_k=1)
    response, _ = await asyncio.gather(query_engine.aquery(QUESTION), release())
    assert waited == [True] and response.response and ref_ids(response.source_nodes) == ["lighthouse"]


async def test_async_add_delete_and_streaming(vector_store, llm, word_embed_model, calls) -> None:
    index = VectorStoreIndex.from_vector_store(vector_store, embed_model=word_embed_model, use_async=True)
    await index.ainsert_nodes(SentenceSplitter().get_nodes_from_documents(documents()))
    assert len(vector_store.store.doc_ids()) == len(DOCS)
    engine = index.as_query_engine(llm=llm, response_synthesizer=AdapterSynthesizer(llm, streaming=True), similarity_top_k=1)
    response = await engine.aquery(QUESTION)
    pieces = [p async for p in response.async_response_gen()]
    assert pieces and calls[-1].method == "stream" and calls[-1].adapter_ids == [response.source_nodes[0].node.node_id]
    await vector_store.adelete("lighthouse")
    assert "lighthouse" not in {n.ref_doc_id for n in await vector_store.aget_nodes()}
