"""The hypernetwork generator: encoder (frozen base model) + Perceiver hypernetwork, one forward pass per chunk.

  net.py        `HyperNet`, `HyperNetConfig`: per-layer activations -> rank-r LoRA A/B per layer
  generator.py  `AdapterGenerator`: text -> chunks -> activations -> `LoraWeights`; files and identity
"""

from __future__ import annotations

from .generator import FORMAT_VERSION, AdapterGenerator, default_generator_dir
from .net import HyperNet, HyperNetConfig

__all__ = ["FORMAT_VERSION", "AdapterGenerator", "HyperNet", "HyperNetConfig", "default_generator_dir"]
