"""LoRA weights and slots.

  weights.py  `LoraWeights`: one adapter, its safetensors file, PEFT export, rank concatenation
  slots.py    `LoraSlots` / `SlotLinear`: target Linears wrapped once, adapters copied into rank-padded slots
"""

from __future__ import annotations

from .slots import LoraSlots, SlotLinear
from .weights import EXTRA_PREFIX, FORMAT_VERSION, LoraWeights

__all__ = ["EXTRA_PREFIX", "FORMAT_VERSION", "LoraSlots", "LoraWeights", "SlotLinear"]
