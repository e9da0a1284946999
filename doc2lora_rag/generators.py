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
from .errors import InputError, MissingDependencyError

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
    import importlib

    from .base_model import EMBEDDED_MODEL, load_base_model

    kind = kind or default_kind(base.name if base is not None else EMBEDDED_MODEL)
    module, name = {"memory": ("memory", "MemoryGenerator"), "hypernet": ("generator", "AdapterGenerator"),
                    "distill": ("distill", "DistillGenerator")}[kind]
    try:  # before loading the model: a missing module is reported at once
        cls = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    except ImportError as exc:
        raise MissingDependencyError(f"the {kind} generator needs the module doc2lora_rag.{module}, which this installation "
                                     f"lacks ({exc}); choose another --generator or reinstall doc2lora-rag") from exc
    if base is None:
        base = load_base_model()
    return cls(base) if kind == "distill" else cls.default(base)


def describe(identity: dict[str, Any]) -> str:
    """One line about a generator from its `identity()`, e.g. "memory (meta-trained transforms, 361 steps)"."""
    kind = identity.get("kind")
    if kind == "memory":
        t = identity.get("transforms")
        return f"memory (meta-trained transforms, {t['trained_steps']} steps)" if t else "memory (closed-form write, no trained transforms)"
    if kind == "hypernet":
        if identity.get("source") == "untrained":
            return "hypernet (untrained: every adapter is zero)"
        return f"hypernet ({identity.get('source')}, {identity.get('trained_steps', 0)} training steps)"
    if kind == "distill":
        return f"distill ({identity.get('steps')} gradient steps per chunk)"
    return str(kind)


def zero_adapters(identity: dict[str, Any]) -> bool:
    """True for an untrained hypernetwork, whose adapters are all zero (adapter answers = the bare model's)."""
    return identity.get("kind") == "hypernet" and identity.get("source") == "untrained"
