"""What every generator is: text in, one `LoraWeights` per text out, for one frozen base model.

A generator reads a chunk group's text (splitting it into at most `max_chunk_tokens`-token pieces of
its own, `chunking.split_equal`), and says what it is with `identity()`: a JSON-able dict with at
least "kind" (the registry's name for it) and "base_model"; a store records it and refuses adapters
from any other generator. `generators.from_identity` rebuilds the generator an identity describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..base_model import BaseModel
from ..errors import InputError
from ..lora import LoraWeights


@runtime_checkable
class Generator(Protocol):
    """The interface the store, the CLI and the evaluation use (memory, hypernet and distill implement it)."""

    base: BaseModel
    max_chunk_tokens: int  # the longest piece of text it reads at once, in base-model tokens

    def generate(self, texts: Sequence[str]) -> list[LoraWeights]:
        """One adapter per text."""
        ...

    def identity(self) -> dict[str, Any]:
        """What the generator is ("kind", "base_model", its settings and weights), JSON-able."""
        ...


def check_texts(texts: Any) -> list[str]:
    """Validate a list of non-empty strings (a single string is refused to avoid char iteration)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputError(f"texts must be a list of strings, got {type(texts).__name__}; wrap one text as [text]")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"texts[{i}] must be a str, got {type(t).__name__}")
        if not t.strip():
            raise InputError(f"texts[{i}] is empty or whitespace; remove it or pass real text")
    return list(texts)
