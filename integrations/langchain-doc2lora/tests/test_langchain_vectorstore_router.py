"""VectorStoreRouter: an AdapterStore routing through a real Qdrant (local mode, on disk), kept in step with it."""

from __future__ import annotations

import pytest
from integration_corpus import DOCS
from langchain_core.embeddings import Embeddings

from doc2lora_rag import InputError, StoreError
from doc2lora_rag.store import AdapterStore

qdrant_client = pytest.importorskip("qdrant_client")
langchain_qdrant = pytest.importorskip("langchain_qdrant")
from langchain_doc2lora import VectorStoreRouter  # noqa: E402
from langchain_doc2lora.routing import point_id  # noqa: E402
from qdrant_client.models import Distance, VectorParams  # noqa: E402

COLLECTION = "routing"


class HashedWords(Embeddings):
    """The shared word-hashing embedder as LangChain Embeddings (Qdrant's vector store takes only those)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture
def vectorstore(word_embeddings):
    return lambda client: langchain_qdrant.QdrantVectorStore(client=client, collection_name=COLLECTION, embedding=HashedWords(word_embeddings))


@pytest.fixture
def client(tmp_path):
    c = qdrant_client.QdrantClient(path=str(tmp_path / "qdrant"))
    c.create_collection(COLLECTION, vectors_config=VectorParams(size=64, distance=Distance.COSINE))
    yield c
    c.close()


def points(client) -> dict[str, str]:
    """adapter_id -> text of every point in the collection."""
    found, _ = client.scroll(COLLECTION, limit=1000, with_payload=True)
    return {p.payload["metadata"]["adapter_id"]: p.payload["page_content"] for p in found}


def test_the_store_routes_through_qdrant_and_keeps_it_in_step(tmp_path, client, generator, vectorstore) -> None:
    store = AdapterStore(tmp_path / "s", generator, router=VectorStoreRouter(vectorstore(client)))
    store.add_texts(list(DOCS.values()), ids=list(DOCS))
    assert points(client) == {e.id: e.text for e in store.entries()}
    assert store.meta["router"]["mode"] == "external" and store.meta["router"]["embedder"] == f"QdrantVectorStore:{COLLECTION}"
    hits = store.search("Who built the lighthouse on Kessel Point?", k=2)
    assert hits[0][0].metadata["doc_id"] == "lighthouse" and 0 <= hits[1][1] <= hits[0][1] <= 1
    store.add_texts(["Nine ferries cross the strait every day in summer."], ids=["ferries"])  # replaced: one point, new text
    store.delete(["quinoa"])
    assert points(client) == {e.id: e.text for e in store.entries()} and "quinoa" not in points(client)
    assert all(d.metadata["doc_id"] != "quinoa" for d, _ in store.search("quinoa prices Altiplano harvest", k=4))
    store.close()
    with pytest.raises(InputError, match="VectorStoreRouter"):
        AdapterStore(tmp_path / "s", generator)


def test_reopening_adds_what_the_vector_store_lacks(tmp_path, client, generator, vectorstore) -> None:
    store = AdapterStore(tmp_path / "s", generator, router=VectorStoreRouter(vectorstore(client)))
    store.add_texts(list(DOCS.values()), ids=list(DOCS))
    store.close()
    client.delete(COLLECTION, points_selector=[point_id("violin")])  # lost, e.g. a write that failed after the commit
    assert "violin" not in points(client)
    reopened = AdapterStore(tmp_path / "s", generator, router=VectorStoreRouter(vectorstore(client)))
    assert points(client) == {e.id: e.text for e in reopened.entries()}
    assert reopened.search("violin made in Cremona", k=1)[0][0].metadata["doc_id"] == "violin"
    reopened.close()


def test_an_unreachable_collection_names_the_fix_and_the_manifest_keeps_the_commit(tmp_path, client, generator, vectorstore) -> None:
    vs = vectorstore(client)
    store = AdapterStore(tmp_path / "s", generator, router=VectorStoreRouter(vs))
    store.add_texts(list(DOCS.values())[:2], ids=list(DOCS)[:2])
    client.delete_collection(COLLECTION)
    with pytest.raises(StoreError, match="reachable and its collection exists"):
        store.add_texts([DOCS["violin"]], ids=["violin"])
    assert "violin" in store  # committed to the manifest before the vector store was told
    with pytest.raises(StoreError, match="failed to search"):
        store.search("violin", k=1)
    store.close()
    client.create_collection(COLLECTION, vectors_config=VectorParams(size=64, distance=Distance.COSINE))
    with AdapterStore(tmp_path / "s", generator, router=VectorStoreRouter(vectorstore(client))) as store:
        assert set(points(client)) == {e.id for e in store.entries()} and len(points(client)) == 3


def test_a_router_needs_a_vector_store() -> None:
    with pytest.raises(InputError, match="LangChain VectorStore"):
        VectorStoreRouter(object())
