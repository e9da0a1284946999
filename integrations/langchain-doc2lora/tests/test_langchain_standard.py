"""LangChain's standard suites (langchain-tests), unmodified, on the tiny random Llama.

The stores use an untrained generator (zero adapters: store semantics do not depend on adapter
values) and langchain-core's `DeterministicFakeEmbedding` for routing, as the suites prescribe.
`VectorStoreIntegrationTests` compares returned metadata with what was added, so its store runs
with `routing_metadata=False` (the adapter id is then `Document.id`); a test below pins the default.
"""

from __future__ import annotations

from collections.abc import Iterator

import langchain_doc2lora
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_doc2lora import AdapterRetriever, AdapterVectorStore, ChatDoc2LoRA
from langchain_tests.integration_tests import ChatModelIntegrationTests, RetrieversIntegrationTests, VectorStoreIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from doc2lora_rag import AdapterGenerator
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.serving import shared_engine

TEXTS = [
    "The lighthouse on Kessel Point was built in 1871 by the engineer Ada Morrow.",
    "Quinoa prices in the Altiplano doubled after the 2013 harvest.",
    "Seven ferries cross the strait every day in summer.",
    "The museum keeps a violin made in Cremona in 1698.",
    "Odile Santerre founded the Velmora Lantern Festival.",
]


@pytest.fixture(scope="module")
def generator(make_tiny_base) -> AdapterGenerator:
    return AdapterGenerator.untrained(make_tiny_base())


@pytest.fixture(scope="module")
def engine(make_tiny_base) -> AnswerEngine:
    return AnswerEngine(make_tiny_base(), num_slots=2, max_rank=32)


def test_public_api_is_pinned() -> None:
    assert langchain_doc2lora.__all__ == [
        "AdapterRetriever",
        "AdapterRoutingMiddleware",
        "AdapterVectorStore",
        "ChatDoc2LoRA",
        "MiniLMEmbeddings",
        "VectorStoreIndex",
        "VectorStoreRouter",
        "create_adapter_documents_chain",
        "create_cascade_chain",
    ]
    for name in langchain_doc2lora.__all__:
        assert getattr(langchain_doc2lora, name).__name__ == name


def test_default_search_results_carry_routing_metadata(tmp_path, generator) -> None:
    store = AdapterVectorStore(tmp_path / "s", DeterministicFakeEmbedding(size=6), generator=generator)
    ids = store.add_documents([Document(page_content="foo", metadata={"id": 1}), Document(page_content="bar", metadata={"id": 2})])
    docs = store.similarity_search("bar", k=2)
    assert [d.id for d in docs] == [ids[1], ids[0]]
    assert docs[0].metadata["adapter_id"] == ids[1] and docs[0].metadata["doc_id"] == ids[1]
    assert docs[0].metadata["group_index"] == 0 and docs[0].metadata["id"] == 2
    assert docs[0].metadata["score"] == pytest.approx(1.0, abs=1e-5)
    store.close()


class TestAdapterVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path, generator) -> Iterator[AdapterVectorStore]:
        store = AdapterVectorStore(tmp_path / "store", self.get_embeddings(), generator=generator, routing_metadata=False)
        try:
            yield store
        finally:
            store.close()


class TestAdapterRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, request, tmp_path, generator) -> Iterator[None]:
        store = AdapterVectorStore(tmp_path / "store", DeterministicFakeEmbedding(size=16), generator=generator)
        store.add_texts(TEXTS)
        request.instance.store = store
        yield
        store.close()

    @property
    def retriever_constructor(self) -> type[AdapterRetriever]:
        return AdapterRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"vectorstore": self.store, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Who built the lighthouse?"


class TestChatDoc2LoRAUnit(ChatModelUnitTests):
    @pytest.fixture(autouse=True)
    def _engine(self, request, engine) -> None:
        request.instance.engine = engine

    @property
    def chat_model_class(self) -> type[ChatDoc2LoRA]:
        return ChatDoc2LoRA

    @property
    def chat_model_params(self) -> dict:
        return {"engine": self.engine}


@pytest.mark.real_model
@pytest.mark.slow
class TestChatDoc2LoRAIntegration(ChatModelIntegrationTests):
    """Offline on the embedded SmolLM2-135M (a random tiny model may answer with no visible text,
    which the suite rightly rejects); answers are capped at 8 tokens to keep the suite fast."""

    @pytest.fixture(autouse=True)
    def _engine(self, request, real_base) -> None:
        request.instance.engine = shared_engine(real_base)

    @property
    def chat_model_class(self) -> type[ChatDoc2LoRA]:
        return ChatDoc2LoRA

    @property
    def chat_model_params(self) -> dict:
        return {"engine": self.engine, "max_tokens": 8}

    @property
    def supports_model_override(self) -> bool:
        return False
