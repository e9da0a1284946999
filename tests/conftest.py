"""Shared fixtures: a tiny random Llama (in-process, seconds) and the embedded SmolLM2 (`real_model`).

`LoraSlots` and `AnswerEngine` wrap a model's Linears in place, so a test that wraps must build its
own base with `make_tiny_base()`; the session-wide `tiny_base` fails the test that wrapped it.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: no hub at test time
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from tiny import TINY_NAME, build_tiny_model  # noqa: E402,F401 - the tiny model, importable where `conftest` is another one

from doc2lora_rag.base_model import BaseModel  # noqa: E402
from doc2lora_rag.errors import MissingDependencyError  # noqa: E402
from doc2lora_rag.lora import SlotLinear  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)



@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The SmolLM2 tokenizer (vocab 49152, chat template), shared: tokenizers are not mutated by tests."""
    from transformers import AutoTokenizer

    from doc2lora_rag.base_model import embedded_model_dir

    try:
        path = embedded_model_dir()
    except MissingDependencyError as exc:
        pytest.skip(f"embedded model unavailable: {exc}")
    return AutoTokenizer.from_pretrained(str(path))


@pytest.fixture(scope="session")
def make_tiny_base(smollm2_tokenizer) -> Callable[..., BaseModel]:
    """Factory: a FRESH tiny base each call (same seed -> same weights), safe to wrap with slots."""

    def make(name: str = TINY_NAME, num_layers: int = 2, seed: int = 0) -> BaseModel:
        model = build_tiny_model(num_layers=num_layers, seed=seed, vocab_size=len(smollm2_tokenizer))
        return BaseModel(model=model, tokenizer=smollm2_tokenizer, name=name)

    return make


@pytest.fixture(scope="session")
def _tiny_base_session(make_tiny_base) -> BaseModel:
    return make_tiny_base()


@pytest.fixture
def tiny_base(_tiny_base_session) -> Iterator[BaseModel]:
    """The session's shared tiny base, read-only: wrapping it (slots, engine) fails the test."""
    yield _tiny_base_session
    wrapped = any(isinstance(m, SlotLinear) for m in _tiny_base_session.model.modules())
    if wrapped or getattr(_tiny_base_session, "slots", None) is not None:
        pytest.fail("a test wrapped the shared tiny_base; use make_tiny_base() for a fresh model")


@pytest.fixture(scope="session")
def real_base() -> BaseModel:
    """The embedded SmolLM2-135M-Instruct on CPU (mark tests `@pytest.mark.real_model`).

    Shared by the session: an AnswerEngine reuses `real_base.slots`, so engines may share it, but a
    test must not create a second LoraSlots on it.
    """
    from doc2lora_rag import load_base_model

    try:
        return load_base_model(device="cpu")
    except MissingDependencyError as exc:
        pytest.skip(f"embedded model unavailable: {exc}")


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global RNG state."""
    torch.manual_seed(1234)
