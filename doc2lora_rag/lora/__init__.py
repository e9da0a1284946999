"""LoRA weights and slots.

  weights.py  `LoraWeights`: one adapter, its safetensors file, PEFT export, rank concatenation
  slots.py    `LoraSlots` / `SlotLinear`: target Linears wrapped once, adapters copied into rank-padded slots
  manager.py  `AdapterManager`: every adapter in memory for one base model (files, joint adapters, slot placement)
"""

from __future__ import annotations

from .manager import AdapterManager, adapter_manager
from .slots import LoraSlots, SlotLinear
from .weights import EXTRA_PREFIX, FORMAT_VERSION, LoraWeights

__all__ = ["EXTRA_PREFIX", "AdapterManager", "adapter_manager", "FORMAT_VERSION", "LoraSlots", "LoraWeights", "SlotLinear"]
