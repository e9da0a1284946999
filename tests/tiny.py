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


TEXTS = [
    "Merros Holdings sells kitchen scales. The founder of the firm was Wenmaine Ammann. The company has a staff of 1711.",
    "Record card for Balrodun Robotics. Established in 1829. Started by Selios Merliworth. Headcount 4577.",
    "The Pramund Kite Festival is famous for chestnut pancakes. Its first edition took place in 1924.",
]
ANSWERS = [["Wenmaine Ammann", "1711"], ["1829", "Selios Merliworth"], ["chestnut pancakes", "1924"]]


def save_tiny_memory(base, folder) -> None:  # noqa: ANN001 - a BaseModel and a folder path
    """A tiny memory generator's files under `folder`: statistics fitted on TEXTS in stats/, random non-zero
    transforms (seed 3) in transforms/."""
    from doc2lora_rag.generators.memory import KVTransforms, MemoryConfig, MemoryGenerator

    fitted = MemoryGenerator.fit(base, TEXTS, ANSWERS, MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16))
    fitted.save(folder / "stats")
    t = KVTransforms(len(fitted.layers), fitted.stats["c_inv"].shape[1], base.config.hidden_size, 4)
    with torch.no_grad():
        for p in (t.P, t.U):
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.05)
    t.save(folder / "transforms", base)


def load_tiny_memory(base, folder):  # noqa: ANN001, ANN201
    """The memory generator of `save_tiny_memory`'s folders on `base`, loaded as a store would reload it."""
    from doc2lora_rag.generators.memory import KVTransforms, MemoryGenerator

    return MemoryGenerator.load(folder / "stats", base, KVTransforms.load(folder / "transforms", base), positions_per_chunk=4)


def tiny_base(num_layers: int = 2):  # noqa: ANN201
    """The tiny model with the embedded model's tokenizer as a BaseModel, built alone (a Ray worker, a subprocess)."""
    from transformers import AutoTokenizer

    from doc2lora_rag.base_model import BaseModel, embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    return BaseModel(build_tiny_model(num_layers=num_layers, vocab_size=len(tok)), tok, TINY_NAME)
