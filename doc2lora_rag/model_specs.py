"""Per `model_type`: where the decoder layers live and which module inside a layer each LoRA target name means.

An explicit table, not a guess from substrings. Adding a base-model family = one row here (and a test
that loads a tiny random model of it).
"""

from __future__ import annotations

from dataclasses import dataclass

LLAMA_LIKE = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "o_proj": "self_attn.o_proj",
    "gate_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "down_proj": "mlp.down_proj",
}


@dataclass(frozen=True)
class ModelSpec:
    """Where the decoder layers are and which Linear each LoRA target name means inside one layer."""

    layers_path: str
    targets: dict[str, str]


MODEL_SPECS: dict[str, ModelSpec] = {
    name: ModelSpec("model.layers", dict(LLAMA_LIKE))
    for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo2")
}
MODEL_SPECS["gemma3"] = ModelSpec("model.language_model.layers", dict(LLAMA_LIKE))
MODEL_SPECS["phi3"] = ModelSpec(
    "model.layers",
    {"qkv_proj": "self_attn.qkv_proj", "o_proj": "self_attn.o_proj",
     "gate_up_proj": "mlp.gate_up_proj", "down_proj": "mlp.down_proj"},
)
