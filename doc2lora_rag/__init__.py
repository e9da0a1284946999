"""doc2lora-rag: documents become LoRA adapters that a frozen LLM answers from, instead of prompt text."""

from __future__ import annotations

from .base_model import BaseModel, load_base_model
from .documents import Document
from .errors import (
    ConfigError,
    CorruptFileError,
    Doc2LoRAError,
    InputError,
    MissingDependencyError,
    ModelMismatchError,
    StoreError,
)
from .generators.hypernet import AdapterGenerator
from .llm import AnswerEngine
from .lora import LoraSlots, LoraWeights
from .rag import StoreQA
from .store import AdapterStore

__version__ = "0.1.0"

__all__ = [
    "AdapterGenerator",
    "AdapterStore",
    "AnswerEngine",
    "BaseModel",
    "ConfigError",
    "CorruptFileError",
    "Doc2LoRAError",
    "Document",
    "InputError",
    "LoraSlots",
    "LoraWeights",
    "MissingDependencyError",
    "ModelMismatchError",
    "StoreError",
    "StoreQA",
    "load_base_model",
]
