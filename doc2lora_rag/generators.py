"""Choosing a generator by name: "hypernet" (one forward pass, `AdapterGenerator`) or "distill"
(a few gradient steps of context distillation per chunk, `DistillGenerator`).

Both have the same interface: `generate(texts) -> list[LoraWeights]`, `identity()`, `base`,
`max_chunk_tokens`. This is the option point for a `--generator hypernet|distill` flag.
"""

from __future__ import annotations

from typing import Any

from .base_model import BaseModel
from .errors import InputError

GENERATOR_KINDS = ("hypernet", "distill")


def make_generator(kind: str, base: BaseModel | None = None) -> Any:
    """The generator of `kind` on `base` (None: the embedded base model).

    "hypernet": the packaged trained hypernetwork (`AdapterGenerator.default`);
    "distill": `DistillGenerator` with its default `DistillConfig`.
    """
    if kind not in GENERATOR_KINDS:
        raise InputError(f"unknown generator kind {kind!r}; choose from {list(GENERATOR_KINDS)}")
    if kind == "hypernet":
        from .generator import AdapterGenerator

        return AdapterGenerator.default(base)
    from .base_model import load_base_model
    from .distill import DistillGenerator

    return DistillGenerator(base if base is not None else load_base_model())
