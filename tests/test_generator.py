"""AdapterGenerator on the tiny model: zero adapters when untrained, chunking into rank 8*K,
save/load round trip, identity and config checks, input validation, and the differentiable path."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from doc2lora_rag import (
    AdapterGenerator,
    ConfigError,
    CorruptFileError,
    InputError,
    LoraSlots,
    ModelMismatchError,
)
from doc2lora_rag.chunking import split_equal
from doc2lora_rag.generators.hypernet import HyperNetConfig

TEXT_A = "The lighthouse on Kessel Point was built in 1871 by the engineer Ada Morrow."
TEXT_B = "Quinoa prices in the Altiplano doubled after the 2013 harvest, said the cooperative."


def perturb(gen: AdapterGenerator, seed: int = 0) -> AdapterGenerator:
    """Give the B-side scales random values so the (otherwise zero) adapters are non-zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        gen.hypernet.scale_b.copy_(torch.randn(gen.hypernet.scale_b.shape, generator=g) * 0.05)
    return gen


@torch.no_grad()
def logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, use_cache=False).logits


def question_ids(base, text: str = "Who built the lighthouse?") -> torch.Tensor:
    return torch.tensor([base.tokenizer(text)["input_ids"]])


def test_untrained_generator_emits_zero_adapters_and_leaves_logits_unchanged(make_tiny_base) -> None:
    base = make_tiny_base()
    ref = copy.deepcopy(base.model)
    gen = AdapterGenerator.untrained(base)
    (lora,) = gen.generate([TEXT_A])
    assert lora.rank == 8 and lora.layers == tuple(range(base.num_layers)) and lora.targets == ("down_proj",)
    assert lora.base_model == base.name and lora.model_type == "llama"
    assert torch.count_nonzero(lora.b["down_proj"]) == 0
    assert torch.count_nonzero(lora.a["down_proj"]) > 0  # A is not trivially zero; B's scale is
    assert all(torch.count_nonzero(lora.delta("down_proj", layer)) == 0 for layer in lora.layers)

    slots = LoraSlots(base, num_slots=1, max_rank=8)
    slots.load(0, lora)
    ids = question_ids(base)
    with slots.use(0):
        assert torch.equal(logits(base.model, ids), logits(ref, ids))


def test_perturbed_generator_gives_nonzero_text_dependent_adapters(tiny_base) -> None:
    gen = perturb(AdapterGenerator.untrained(tiny_base))
    a, b = gen.generate([TEXT_A, TEXT_B])
    a_again = gen.generate([TEXT_A])[0]
    delta_a, delta_b = a.delta("down_proj", 0), b.delta("down_proj", 0)
    assert delta_a.abs().max() > 1e-3
    assert (delta_a - delta_b).abs().max() > 1e-3 * delta_a.abs().max()
    # batching does not change a text's adapter
    torch.testing.assert_close(a_again.a["down_proj"], a.a["down_proj"], rtol=0, atol=1e-5)
    torch.testing.assert_close(a_again.b["down_proj"], a.b["down_proj"], rtol=0, atol=1e-5)


def test_long_text_is_split_into_chunks_and_ranks_concatenate(tiny_base) -> None:
    gen = perturb(AdapterGenerator.untrained(tiny_base))
    gen.max_chunk_tokens = 8
    text = " ".join([TEXT_A, TEXT_B, TEXT_A])
    n = len(gen.tokenize(text))
    k = math.ceil(n / 8)
    assert k >= 3
    (lora,) = gen.generate([text])
    assert lora.meta["chunks"] == k
    assert lora.rank == 8 * k
    assert lora.a["down_proj"].shape == (tiny_base.num_layers, 8 * k, 128)
    assert lora.b["down_proj"].shape == (tiny_base.num_layers, 64, 8 * k)
    chunks = split_equal(list(range(n)), 8)
    assert len(chunks) == k and sum(chunks, []) == list(range(n)) and max(map(len, chunks)) <= 8


def test_first_chunk_block_equals_that_chunk_alone(tiny_base) -> None:
    gen = perturb(AdapterGenerator.untrained(tiny_base))
    gen.max_chunk_tokens = 8
    ids = gen.tokenize(TEXT_A + " " + TEXT_B)
    chunks = split_equal(ids, 8)
    (lora,) = gen.generate([TEXT_A + " " + TEXT_B])
    a, b = gen.lora_tensors(gen.encode(*gen.pad([chunks[0]])))
    torch.testing.assert_close(lora.a["down_proj"][:, :8], a["down_proj"][0], rtol=0, atol=1e-5)
    torch.testing.assert_close(lora.b["down_proj"][:, :, :8], b["down_proj"][0], rtol=0, atol=1e-5)


def test_save_and_load_reproduce_identical_adapters(tiny_base, tmp_path: Path) -> None:
    gen = perturb(AdapterGenerator.untrained(tiny_base))
    gen.trained_steps = 7
    path = gen.save_pretrained(tmp_path / "gen", training={"note": "test"})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    back = AdapterGenerator.from_pretrained(path, tiny_base)
    assert back.trained_steps == 7 and back.hypernet.config == gen.hypernet.config
    (x,), (y,) = gen.generate([TEXT_A]), back.generate([TEXT_A])
    assert torch.equal(x.a["down_proj"], y.a["down_proj"]) and torch.equal(x.b["down_proj"], y.b["down_proj"])
    assert torch.count_nonzero(y.b["down_proj"]) > 0


def test_loading_onto_another_base_model_names_both(tiny_base, make_tiny_base, tmp_path: Path) -> None:
    path = AdapterGenerator.untrained(tiny_base).save_pretrained(tmp_path / "gen")
    other = make_tiny_base(name="other-tiny")
    with pytest.raises(ModelMismatchError) as err:
        AdapterGenerator.from_pretrained(path, other)
    assert "tiny-llama" in str(err.value) and "other-tiny" in str(err.value)
    deeper = make_tiny_base(num_layers=3)  # same name, different shape
    with pytest.raises(ModelMismatchError, match="num_layers"):
        AdapterGenerator.from_pretrained(path, deeper)


def _edit_config(path: Path, edit) -> None:
    cfg = json.loads((path / "config.json").read_text())
    edit(cfg)
    (path / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: c.update(colour="blue"), "unknown keys"),
        (lambda c: c.pop("hypernet"), "missing the key 'hypernet'"),
        (lambda c: c.pop("base_model"), "missing the key 'base_model'"),
        (lambda c: c["hypernet"].update(dropout=0.1), "unknown HyperNetConfig keys"),
        (lambda c: c["hypernet"].pop("d_model"), "missing required keys"),
        (lambda c: c.update(format="something-else"), "not a doc2lora generator"),
        (lambda c: c.update(format_version=99), "format version"),
    ],
)
def test_bad_generator_config_raises_config_error(tiny_base, tmp_path: Path, edit, match: str) -> None:
    path = AdapterGenerator.untrained(tiny_base).save_pretrained(tmp_path / "gen")
    _edit_config(path, edit)
    with pytest.raises(ConfigError, match=match):
        AdapterGenerator.from_pretrained(path, tiny_base)


def test_corrupt_or_missing_generator_files(tiny_base, tmp_path: Path) -> None:
    path = AdapterGenerator.untrained(tiny_base).save_pretrained(tmp_path / "gen")
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptFileError, match="model.safetensors"):
        AdapterGenerator.from_pretrained(path, tiny_base)
    weights.unlink()
    with pytest.raises(CorruptFileError, match="missing or corrupt"):
        AdapterGenerator.from_pretrained(path, tiny_base)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        AdapterGenerator.from_pretrained(path, tiny_base)
    with pytest.raises(InputError, match="not a generator directory"):
        AdapterGenerator.from_pretrained(tmp_path / "nothing-here", tiny_base)


def test_weights_that_do_not_match_config_are_corrupt(tiny_base, tmp_path: Path) -> None:
    small = AdapterGenerator.untrained(tiny_base, latent_dim=32)
    path = AdapterGenerator.untrained(tiny_base).save_pretrained(tmp_path / "gen")
    small.save_pretrained(tmp_path / "small")
    (tmp_path / "small" / "config.json").replace(path / "config.json")
    with pytest.raises(CorruptFileError, match="does not match its config.json"):
        AdapterGenerator.from_pretrained(path, tiny_base)


@pytest.mark.parametrize("texts", ["a string", [""], ["  \n"], [3], ["ok", None], None, 5])
def test_bad_texts_raise_input_error(tiny_base, texts) -> None:
    gen = AdapterGenerator.untrained(tiny_base)
    with pytest.raises(InputError):
        gen.generate(texts)


def test_generator_refuses_base_it_does_not_fit(tiny_base, make_tiny_base) -> None:
    gen = AdapterGenerator.untrained(make_tiny_base(num_layers=3))
    with pytest.raises(ModelMismatchError, match="does not fit"):
        AdapterGenerator(tiny_base, gen.hypernet)
    with pytest.raises(InputError, match="max_chunk_tokens"):
        AdapterGenerator(tiny_base, AdapterGenerator.untrained(tiny_base).hypernet, max_chunk_tokens=4)


GOOD = {"d_model": 64, "layers": [0, 1], "targets": {"down_proj": [128, 64]}}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"rank": 0}, "rank must be a positive int"),
        ({"rank": 2.5}, "rank must be a positive int"),
        ({"d_model": -1}, "d_model must be a positive int"),
        ({"num_heads": 3}, "divisible by num_heads"),
        ({"layers": []}, "layers must be a non-empty list"),
        ({"layers": [0, -1]}, "layers must be a non-empty list"),
        ({"targets": {}}, "targets must name at least one target"),
        ({"targets": {"down_proj": [128]}}, r"must be \[d_in, d_out\]"),
        ({"targets": {"up_proj": [64, 128]}}, "pooled needs every target"),
        ({"bias_rank": -1}, "bias_rank must be >= 0"),
    ],
)
def test_hypernet_config_validation(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HyperNetConfig(**{**GOOD, **change})


def test_hypernet_config_round_trip_and_defaults() -> None:
    cfg = HyperNetConfig(**GOOD)
    assert cfg.alpha == pytest.approx(2 * 8**1.5)
    assert HyperNetConfig.from_dict(cfg.to_dict()) == cfg
    assert HyperNetConfig(**{**GOOD, "targets": {"up_proj": [64, 128]}, "pooled": False}).pooled is False


def test_gradients_flow_from_student_logits_into_the_hypernet(make_tiny_base) -> None:
    base = make_tiny_base()
    base.slots = LoraSlots(base, num_slots=1, max_rank=8)
    gen = AdapterGenerator.untrained(base, bias_rank=2)
    layers = gen.hypernet.config.layers
    acts = gen.encode(*gen.pad([gen.tokenize(TEXT_A)]))
    a, b = gen.lora_tensors(acts)
    ids = question_ids(base)
    with base.slots.use_live(a, b, layers):
        out = base.model(input_ids=ids, use_cache=False).logits
    loss = torch.nn.functional.cross_entropy(out[0, :-1], ids[0, 1:])
    loss.backward()
    grad = gen.hypernet.scale_b.grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(p.grad is None for p in base.model.parameters())  # the base stays frozen
    assert all(m.live is None for m in base.slots.modules["down_proj"])

    # once B is non-zero, the gradient reaches the Perceiver body as well
    gen.hypernet.zero_grad()
    perturb(gen)
    a, b = gen.lora_tensors(acts)
    with base.slots.use_live(a, b, layers):
        out = base.model(input_ids=ids, use_cache=False).logits
    torch.nn.functional.cross_entropy(out[0, :-1], ids[0, 1:]).backward()
    for name in ("in_proj.weight", "latents", "heads.down_proj", "scale_a"):
        p = dict(gen.hypernet.named_parameters())[name]
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_token_pieces_keep_given_cuts_and_pack_them_up_to_the_limit() -> None:
    from doc2lora_rag.generators.protocol import PIECE_SLACK, check_texts, token_pieces

    def tokenize(text: str) -> list[int]:
        return [len(w) for w in text.split()]

    words = " ".join(["w"] * 30)
    assert token_pieces(tokenize, words, 8) == split_equal([1] * 30, 8)  # a string: near-equal pieces
    short = ("a b c ", "d e ", "f g h i j k l m n o p q r s t u v w ")
    got = token_pieces(tokenize, short, 8)
    assert got[0] == [1] * 5  # the first two pieces packed, kept apart from the third
    assert sum(len(p) for p in got) == 23 and len(got) == 4 and all(len(p) <= 8 + PIECE_SLACK for p in got)
    assert check_texts([short, "plain"]) == [short, "plain"]
    with pytest.raises(InputError, match="empty or whitespace"):
        check_texts([(" ", "\n")])
    with pytest.raises(InputError, match="must be a str"):
        check_texts([[1, 2]])
