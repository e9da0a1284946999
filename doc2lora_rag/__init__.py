"""doc2lora-rag: documents become LoRA adapters that a frozen LLM answers from, instead of prompt text."""

from __future__ import annotations

from .base_model import BaseModel, load_base_model
from .errors import (
    ConfigError,
    CorruptFileError,
    Doc2LoRAError,
    InputError,
    MissingDependencyError,
    ModelMismatchError,
    StoreError,
)
from .generator import AdapterGenerator
from .lora import LoraSlots, LoraWeights

__version__ = "0.1.0"

__all__ = [
    "AdapterGenerator",
    "BaseModel",
    "ConfigError",
    "CorruptFileError",
    "Doc2LoRAError",
    "InputError",
    "LoraSlots",
    "LoraWeights",
    "MissingDependencyError",
    "ModelMismatchError",
    "StoreError",
    "load_base_model",
]
