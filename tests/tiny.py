"""The tests' tiny random model, in a module of its own: Ray workers, subprocesses and test modules import it
by name (`from tiny import build_tiny_model`), which works in one pytest run with the integrations' tests,
whose own `conftest` module takes that name there."""

from __future__ import annotations

import torch

TINY_NAME = "tiny-llama"


def build_tiny_model(num_layers: int = 2, seed: int = 0, vocab_size: int = 49152):
    """A random-initialised LlamaForCausalLM (hidden 64, 4 heads / 2 KV heads), fp32, eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.to(torch.float32).eval()
