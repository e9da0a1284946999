"""MemoryConfig and the layer layout it gives on a base model."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ...base_model import BaseModel
from ...errors import ConfigError

TARGET = "down_proj"
GENERATION_KEYS = ("positions_per_chunk", "value_scale", "selected_value_scale")  # settings `load` does not take from the file


@dataclass
class MemoryConfig:
    first_layer: int = -1  # first target layer; -1 = num_layers // 3
    positions_per_chunk: int = 24  # rank per chunk
    value_scale: float = 0.05
    # the selected write's (`MemoryGenerator.generate_for`): ~25 keys of one sentence instead of ~24 per chunk of a
    # document (prose dev, session 16: 0.07 -> 0.307, 0.05 -> 0.400, 0.035 -> 0.453)
    selected_value_scale: float = 0.035
    max_chunk_tokens: int = 128
    ridge: float = 0.01  # C + ridge * mean(diag C) * I before inverting
    scorer_ridge: float = 10.0
    last_read_layer: int = -1  # the forward pass stops here; keys of later layers are predicted. -1 = the last layer

    def __post_init__(self) -> None:
        if not isinstance(self.positions_per_chunk, int) or self.positions_per_chunk < 1:
            raise ConfigError(f"MemoryConfig.positions_per_chunk must be an int >= 1, got {self.positions_per_chunk!r}")
        if not isinstance(self.max_chunk_tokens, int) or self.max_chunk_tokens < 8:
            raise ConfigError(f"MemoryConfig.max_chunk_tokens must be an int >= 8, got {self.max_chunk_tokens!r}")
        if not isinstance(self.last_read_layer, int) or self.last_read_layer < -1:
            raise ConfigError(f"MemoryConfig.last_read_layer must be an int >= 0 or -1 (default), got {self.last_read_layer!r}")
        for name in ("value_scale", "selected_value_scale", "ridge", "scorer_ridge"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"MemoryConfig.{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown MemoryConfig keys {unknown}; allowed {sorted(f.name for f in fields(cls))}")
        return cls(**data)



def layout(base: BaseModel, config: MemoryConfig) -> tuple[tuple[int, ...], int, int]:
    """(target layers, how many of them have their keys read, index of the layer the position scorer reads).

    The scorer reads the residual entering the middle target layer; the forward pass stops after
    `last_read_layer` and the keys of the target layers above it are predicted.
    """
    first = config.first_layer if config.first_layer >= 0 else base.num_layers // 3
    if first >= base.num_layers:
        raise ConfigError(f"MemoryConfig.first_layer {first} >= the base model's {base.num_layers} layers")
    layers = tuple(range(first, base.num_layers))
    score_index = len(layers) // 2
    last = config.last_read_layer if config.last_read_layer >= 0 else base.num_layers - 1
    last = min(last, base.num_layers - 1)
    if last < layers[score_index]:
        raise ConfigError(f"MemoryConfig.last_read_layer {last} is below layer {layers[score_index]}, the layer the position "
                          f"scorer reads; use a value >= {layers[score_index]}")
    return layers, last - first + 1, score_index
