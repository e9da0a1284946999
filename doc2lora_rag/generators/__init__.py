"""Generators: text in, one LoRA adapter per text out, for one frozen base model; the registry of kinds.

  "memory"    the default where trained transforms are packaged for the base model (the embedded
              SmolLM2): a key/value write into down_proj after one forward pass (`memory.MemoryGenerator`)
  "hypernet"  the Perceiver hypernetwork, one forward pass (`hypernet.AdapterGenerator`)
  "distill"   a few gradient steps of context distillation per chunk (`distill.DistillGenerator`)

Every kind implements `protocol.Generator`: `generate(texts) -> list[LoraWeights]`, `identity()`,
`base`, `max_chunk_tokens`, and a classmethod `from_identity(base, identity)`; the memory generator
also `combine(adapters)` (one joint write over several of its adapters, which the store uses when a
question routes to more than one). The store and the command line reach a generator only through
this registry: `make` (by kind), `from_identity` (the generator a store recorded), `combiner`
(combining a store's adapters without loading its generator), `describe`.

Adding a kind: a sub-package with a class that implements the protocol, one line in `KINDS`, one
branch in `describe`.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..base_model import BaseModel
from ..errors import InputError, MissingDependencyError, ModelMismatchError
from .protocol import Generator, check_texts

KINDS = {"memory": ("memory", "MemoryGenerator"), "hypernet": ("hypernet", "AdapterGenerator"), "distill": ("distill", "DistillGenerator")}
GENERATOR_KINDS = tuple(KINDS)

__all__ = ["GENERATOR_KINDS", "KINDS", "Generator", "check_texts", "combiner", "default_kind", "describe", "from_identity", "generator_class",
           "make", "make_generator", "zero_adapters"]


def default_kind(base_name: str) -> str:
    """Always "memory": with the meta-trained transforms where they are packaged for `base_name`, else the
    closed-form write (which carries documents without training; `MemoryGenerator.default` warns). The
    untrained hypernetwork would emit all-zero adapters, so it is never a default."""
    return "memory"


def generator_class(kind: str) -> type:
    """The class of a generator kind, its sub-package imported on first use."""
    if kind not in KINDS:
        raise InputError(f"unknown generator kind {kind!r}; choose from {list(GENERATOR_KINDS)}")
    module, name = KINDS[kind]
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ImportError as exc:
        raise MissingDependencyError(f"the {kind} generator needs the module {__name__}.{module}, which this installation "
                                     f"lacks ({exc}); choose another --generator or reinstall doc2lora-rag") from exc


def make(kind: str | None = None, base: BaseModel | None = None) -> Any:
    """The generator of `kind` (None: `default_kind`) on `base` (None: the embedded base model).

    "memory": `MemoryGenerator.default` (statistics fitted once per base model on first use, ~3 min
    on 2 CPU cores, then cached; packaged transforms); "hypernet": the packaged trained hypernetwork
    (`AdapterGenerator.default`); "distill": `DistillGenerator` with its default `DistillConfig`.
    """
    from ..base_model import EMBEDDED_MODEL, load_base_model

    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown generator kind {kind!r}; choose from {list(GENERATOR_KINDS)}")
    kind = kind or default_kind(base.name if base is not None else EMBEDDED_MODEL)
    cls = generator_class(kind)  # before loading the model: a missing module is reported at once
    if base is None:
        base = load_base_model()
    return cls(base) if kind == "distill" else cls.default(base)


make_generator = make  # the name the README and the examples use


def from_identity(identity: dict[str, Any], base_name: str | None = None, what: str = "the adapters") -> Any:
    """The generator an `identity()` describes, on the base model `base_name` (None: the embedded one).

    How a store reloads the generator that built it; an empty identity gives the default generator.
    The caller compares the result's identity with `identity`.
    """
    from ..base_model import load_base_model

    if not identity:
        return make()
    kind = identity.get("kind")
    if kind not in KINDS:
        raise ModelMismatchError(f"{what} were made by a generator of kind {kind!r}, which this registry does not know "
                                 f"({list(GENERATOR_KINDS)}); pass that generator object")
    try:
        cls = generator_class(kind)
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{what} were made by the {kind} generator, which this installation lacks ({exc})") from exc
    return cls.from_identity(load_base_model(base_name), identity)


def combiner(identity: dict[str, Any], base_identity: dict[str, Any]) -> Any:
    """How to combine adapters of the generator `identity` describes without loading it (reading needs no generator).

    Memory adapters: one joint write with the recorded statistics, when they are on disk
    (`memory.files.stored_combiner`). None otherwise: the caller asks the generator itself
    (`combine`, if it has one) or rank-concatenates.
    """
    if identity.get("kind") != "memory":
        return None
    from .memory.files import stored_combiner

    return stored_combiner(identity, base_identity)


RECORD_METHODS = {"record": "records", "tokens": "token_records"}  # a store's adapter_format -> the generator method writing its files


def keeps_records(generator: Any, adapter_format: str = "record") -> bool:
    """True for a generator whose stores can keep records (what fixes an adapter) instead of adapters:
    it has `records(texts)` ("tokens": `token_records(texts)`) and `expand(records) -> LoraWeights` (the memory generator)."""
    return callable(getattr(generator, RECORD_METHODS[adapter_format], None)) and callable(getattr(generator, "expand", None))


def load_record(path: Any) -> Any:
    """A record file a store keeps (`keeps_records`); CorruptFileError naming it when damaged or foreign."""
    from .memory.records import MemoryRecord

    return MemoryRecord.load(path)


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
