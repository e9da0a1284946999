"""Fixtures shared by the tests of the three distributions under integrations/ (collected from the
repository root, as `make test` does): a tiny random Llama with the embedded model's tokenizer
(seconds), its shared AnswerEngine, a perturbed generator (non-zero adapters), a spy on what reached
the model, and a hashed bag-of-words vector for routing by shared words."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: no hub at test time
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import re  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from doc2lora_rag import AdapterGenerator, BaseModel, MissingDependencyError  # noqa: E402
from doc2lora_rag.llm import AnswerEngine  # noqa: E402
from doc2lora_rag.serving import shared_engine  # noqa: E402

torch.set_num_threads(2)


def word_vector(text: str, dim: int = 64) -> list[float]:
    """Bag of words hashed into `dim` dimensions: deterministic, and routes by shared words."""
    v = [0.0] * dim
    for word in re.findall(r"[a-z]+", text.lower()):
        v[zlib.crc32(word.encode()) % dim] += 1.0
    v[dim - 1] += 0.01  # never the zero vector
    return v


class WordEmbeddings:
    """`word_vector` behind embed_documents/embed_query (what an AdapterStore routes with)."""

    name = "word-hash-64"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [word_vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return word_vector(text)


@dataclass
class Call:
    method: str
    question: str
    adapter_ids: list[str]
    context: str | None


@pytest.fixture(scope="session")
def make_tiny_base() -> Callable[..., BaseModel]:
    """Factory: a FRESH tiny random Llama each call (same seed -> same weights), safe to wrap with slots."""
    from doc2lora_rag.base_model import tiny_random_base

    def make(num_layers: int = 2, seed: int = 0) -> BaseModel:
        try:
            return tiny_random_base(num_layers=num_layers, seed=seed, name="tiny-llama")
        except MissingDependencyError as exc:
            pytest.skip(f"embedded model (its tokenizer) unavailable: {exc}")

    return make


@pytest.fixture(scope="session")
def real_base() -> BaseModel:
    """The embedded SmolLM2-135M-Instruct on CPU, for the `real_model` tests (the slow standard suites among them)."""
    from doc2lora_rag import load_base_model

    try:
        return load_base_model(device="cpu")
    except MissingDependencyError as exc:
        pytest.skip(f"embedded model unavailable: {exc}")


@pytest.fixture(scope="module")
def engine(make_tiny_base) -> AnswerEngine:
    """Registered as the base's shared engine, so integration objects built from a store reuse it."""
    return shared_engine(make_tiny_base(), num_slots=2, max_rank=32)


@pytest.fixture(scope="module")
def generator(engine) -> AdapterGenerator:
    """The untrained hypernetwork with a random B-side scale: distinct, non-zero adapters per text."""
    with torch.random.fork_rng():  # the hypernetwork's random init must not depend on which tests ran first
        torch.manual_seed(0)
        gen = AdapterGenerator.untrained(engine.base)
        with torch.no_grad():
            gen.hypernet.scale_b.copy_(torch.randn(gen.hypernet.scale_b.shape) * 0.3)
    return gen


@pytest.fixture
def calls(engine, monkeypatch) -> list[Call]:
    """Every engine call (question, adapters by id, context text), adapter ids without their '@<content hash>' suffix."""
    seen: list[Call] = []
    real_answer, real_stream = engine.answer, engine.stream

    def record(method, question, adapters, context):
        seen.append(Call(method, question, [a.meta["id"].split("@")[0] for a in adapters or []], context))

    def answer(question, adapters=None, context=None, **kwargs):
        record("answer", question, adapters, context)
        return real_answer(question, adapters, context, **kwargs)

    def stream(question, adapters=None, context=None, **kwargs):
        record("stream", question, adapters, context)
        return real_stream(question, adapters, context, **kwargs)

    monkeypatch.setattr(engine, "answer", answer)
    monkeypatch.setattr(engine, "stream", stream)
    return seen


@pytest.fixture(scope="session")
def word_embeddings() -> WordEmbeddings:
    """Routing by shared words for an AdapterStore / AdapterVectorStore (any object with embed_documents/embed_query)."""
    return WordEmbeddings()


@pytest.fixture(scope="session")
def word_embed_model():
    """`word_vector` as a LlamaIndex embedding (defined here so llama-index-core is imported only by its tests)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class WordHashEmbedding(BaseEmbedding):
        model_name: str = "word-hash-64"

        def _get_query_embedding(self, query: str) -> list[float]:
            return word_vector(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return word_vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return word_vector(text)

    return WordHashEmbedding()


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global RNG state."""
    torch.manual_seed(1234)
