"""Choosing a generator by name.

  "memory"    the default where trained transforms are packaged for the base model (the embedded
              SmolLM2): a key/value write into down_proj after one forward pass (`memory.MemoryGenerator`)
  "hypernet"  the Perceiver hypernetwork, one forward pass (`generator.AdapterGenerator`)
  "distill"   a few gradient steps of context distillation per chunk (`distill.DistillGenerator`)

All have the same interface: `generate(texts) -> list[LoraWeights]`, `identity()`, `base`,
`max_chunk_tokens`; the memory generator also `combine(adapters)` (one joint write over several of
its adapters, which the store uses when a question routes to more than one).
"""

from __future__ import annotations

from typing import Any

from .base_model import BaseModel
from .errors import InputError

GENERATOR_KINDS = ("memory", "hypernet", "distill")


def default_kind(base_name: str) -> str:
    """"memory" where meta-trained memory transforms are packaged for `base_name`, else "hypernet"."""
    from .memory import packaged_transforms_dir

    return "memory" if packaged_transforms_dir(base_name) is not None else "hypernet"


def make_generator(kind: str | None = None, base: BaseModel | None = None) -> Any:
    """The generator of `kind` (None: `default_kind`) on `base` (None: the embedded base model).

    "memory": `MemoryGenerator.default` (statistics fitted once per base model on first use, ~3 min
    on 2 CPU cores, then cached; packaged transforms); "hypernet": the packaged trained hypernetwork
    (`AdapterGenerator.default`); "distill": `DistillGenerator` with its default `DistillConfig`.
    """
    if kind is not None and kind not in GENERATOR_KINDS:
        raise InputError(f"unknown generator kind {kind!r}; choose from {list(GENERATOR_KINDS)}")
    from .base_model import load_base_model

    if base is None:
        base = load_base_model()
    kind = kind or default_kind(base.name)
    if kind == "memory":
        from .memory import MemoryGenerator

        return MemoryGenerator.default(base)
    if kind == "hypernet":
        from .generator import AdapterGenerator

        return AdapterGenerator.default(base)
    from .distill import DistillGenerator

    return DistillGenerator(base)
