"""langchain-doc2lora test fixtures: the shared corpus in an AdapterVectorStore (routed by shared words,
perturbed generator) and the ChatDoc2LoRA on the shared tiny engine (see ../../conftest.py)."""

from __future__ import annotations

import pytest
from integration_corpus import DOCS, MAX_TOKENS
from langchain_doc2lora import AdapterVectorStore, ChatDoc2LoRA


@pytest.fixture
def store(tmp_path, generator, word_embeddings):
    vs = AdapterVectorStore(tmp_path / "store", word_embeddings, generator=generator)
    vs.add_texts(list(DOCS.values()), [{"source": f"{k}.txt"} for k in DOCS], ids=list(DOCS))
    yield vs
    vs.close()


@pytest.fixture
def llm(engine, store) -> ChatDoc2LoRA:
    return ChatDoc2LoRA(engine=engine, store=store, max_tokens=MAX_TOKENS)
