"""LoraWeights and LoraSlots: zero slot == base model bit for bit, parity with PEFT, rank
concatenation == sum of deltas, mixed batches, live (differentiable) adapters, files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from doc2lora_rag import CorruptFileError, InputError, LoraSlots, LoraWeights

TOL = 1e-5


def random_lora(base, rank: int = 8, scaling: float = 2.0, scale: float = 0.3, seed: int = 0, meta=None) -> LoraWeights:
    """Random A and B over all layers of `base` on down_proj (large enough to move the logits)."""
    g = torch.Generator().manual_seed(seed)
    d_in, d_out = base.target_shape("down_proj")
    L = base.num_layers
    return LoraWeights(
        {"down_proj": torch.randn(L, rank, d_in, generator=g) * scale},
        {"down_proj": torch.randn(L, d_out, rank, generator=g) * scale},
        tuple(range(L)),
        scaling,
        base.name,
        base.config.model_type,
        dict(meta or {}),
    )


def prompts(n: int = 1, T: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 49152, (n, T), generator=g)


@torch.no_grad()
def logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, use_cache=False).logits


def max_diff(x: torch.Tensor, y: torch.Tensor) -> float:
    return (x - y).abs().max().item()


# -- (a) zero slot == base model ---------------------------------------------------------------


def test_inactive_and_zero_slots_reproduce_base_logits_exactly(make_tiny_base) -> None:
    base = make_tiny_base()
    ref = copy.deepcopy(base.model)  # the unwrapped model
    ids = prompts(2)
    expected = logits(ref, ids)
    slots = LoraSlots(base, num_slots=2, max_rank=16)

    assert torch.equal(logits(base.model, ids), expected)  # wrapped, nothing active
    with slots.use(None):
        assert torch.equal(logits(base.model, ids), expected)
    with slots.use(1):  # an active slot that was never loaded: all zeros
        assert torch.equal(logits(base.model, ids), expected)
    with slots.use_rows([None, None]):
        assert torch.equal(logits(base.model, ids), expected)

    slots.load(0, random_lora(base))
    with slots.use(0):
        assert max_diff(logits(base.model, ids), expected) > 1e-2  # the slot is live ...
    slots.clear(0)
    with slots.use(0):  # ... and a cleared slot is exactly the base model again
        assert torch.equal(logits(base.model, ids), expected)
    assert torch.equal(logits(base.model, ids), expected)  # state restored after the blocks


# -- (b) parity with PEFT --------------------------------------------------------------------


def test_slot_equals_peft_with_the_same_weights(make_tiny_base, tmp_path: Path) -> None:
    from peft import PeftModel

    base = make_tiny_base()
    ref = copy.deepcopy(base.model)
    lora = random_lora(base, scaling=2.0)
    lora.to_peft(tmp_path / "peft")
    peft_model = PeftModel.from_pretrained(copy.deepcopy(ref), str(tmp_path / "peft")).eval()

    slots = LoraSlots(base, num_slots=1, max_rank=16)
    slots.load(0, lora)
    ids = prompts(2)
    with slots.use(0):
        ours = logits(base.model, ids)
    theirs = logits(peft_model, ids)
    assert max_diff(ours, logits(ref, ids)) > 1e-2  # the adapter matters at all
    assert max_diff(ours, theirs) <= TOL


# -- (c) rank concatenation == sum of deltas ---------------------------------------------------


def test_concat_equals_sum_of_deltas(make_tiny_base) -> None:
    base = make_tiny_base()
    x = random_lora(base, rank=8, scaling=2.0, seed=1, meta={"id": "x"})
    y = random_lora(base, rank=4, scaling=0.5, seed=2, meta={"id": "y"})
    xy = LoraWeights.concat([x, y])
    assert xy.rank == 12 and xy.scaling == 1.0 and xy.meta["parts"] == ["x", "y"]
    for layer in xy.layers:
        torch.testing.assert_close(xy.delta("down_proj", layer), x.delta("down_proj", layer) + y.delta("down_proj", layer), rtol=0, atol=1e-6)

    summed = copy.deepcopy(base.model)  # down_proj weights with both deltas added
    with torch.no_grad():
        for layer in range(base.num_layers):
            w = summed.model.layers[layer].mlp.down_proj.weight
            w += x.delta("down_proj", layer) + y.delta("down_proj", layer)

    slots = LoraSlots(base, num_slots=1, max_rank=16)
    slots.load(0, xy)
    ids = prompts(2)
    with slots.use(0):
        ours = logits(base.model, ids)
    assert max_diff(ours, logits(summed, ids)) <= TOL
    slots.load(0, x)  # only one of the two: clearly different
    with slots.use(0):
        assert max_diff(logits(base.model, ids), ours) > 1e-2


def test_concat_refuses_mismatched_adapters(tiny_base) -> None:
    x = random_lora(tiny_base)
    other_layers = LoraWeights({t: v[:1] for t, v in x.a.items()}, {t: v[:1] for t, v in x.b.items()}, (0,), 1.0, x.base_model, x.model_type)
    with pytest.raises(InputError, match="different layers"):
        LoraWeights.concat([x, other_layers])
    with pytest.raises(InputError, match="at least one"):
        LoraWeights.concat([])


# -- (d) PEFT export round trip ----------------------------------------------------------------


def test_to_peft_round_trip_tensors_and_scaling(tiny_base, tmp_path: Path) -> None:
    from peft import PeftModel

    lora = random_lora(tiny_base, rank=8, scaling=2.0)
    out = lora.to_peft(tmp_path / "peft")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16.0 and config["target_modules"] == ["down_proj"]
    peft_model = PeftModel.from_pretrained(copy.deepcopy(tiny_base.model), str(out))
    for i, layer in enumerate(lora.layers):
        module = peft_model.base_model.model.model.layers[layer].mlp.down_proj
        assert torch.equal(module.lora_A["default"].weight, lora.a["down_proj"][i])
        assert torch.equal(module.lora_B["default"].weight, lora.b["down_proj"][i])
        assert module.scaling["default"] == lora.scaling


# -- (e) mixed batches -------------------------------------------------------------------------


def test_mixed_batch_rows_equal_each_row_alone(make_tiny_base) -> None:
    base = make_tiny_base()
    slots = LoraSlots(base, num_slots=2, max_rank=16)
    slots.load(0, random_lora(base, rank=8, seed=1))
    slots.load(1, random_lora(base, rank=4, seed=2))
    ids = prompts(3, seed=5)
    with slots.use_rows([0, None, 1]):
        mixed = logits(base.model, ids)
    alone = []
    for row, slot in enumerate([0, None, 1]):
        with slots.use(slot):
            alone.append(logits(base.model, ids[row : row + 1]))
    for row in range(3):
        assert max_diff(mixed[row], alone[row][0]) <= TOL
    with slots.use(1):  # the rows really do see different adapters
        assert max_diff(logits(base.model, ids[:1])[0], mixed[0]) > 1e-2


def test_slot_indices_are_validated(make_tiny_base) -> None:
    slots = LoraSlots(make_tiny_base(), num_slots=2, max_rank=8)
    for bad in (2, -1, "0", None):
        with pytest.raises(InputError, match="slot must be"):
            slots.load(bad, random_lora(slots.base))
    with pytest.raises(InputError, match="slot must be"), slots.use(5):
        pass
    with pytest.raises(InputError, match="slot must be"), slots.use_rows([0, 7]):
        pass


# -- (f) files ---------------------------------------------------------------------------------


def test_save_load_round_trip_is_bit_exact(tiny_base, tmp_path: Path) -> None:
    lora = random_lora(tiny_base, scaling=0.75, meta={"id": "doc-1", "source": "a.txt", "chunks": 2})
    path = lora.save(tmp_path / "a" / "x.safetensors")
    back = LoraWeights.load(path)
    assert back.layers == lora.layers and back.scaling == 0.75
    assert (back.base_model, back.model_type, back.meta) == (lora.base_model, lora.model_type, lora.meta)
    for t in lora.targets:
        assert torch.equal(back.a[t], lora.a[t]) and torch.equal(back.b[t], lora.b[t])
    half = LoraWeights.load(lora.save(tmp_path / "h.safetensors", dtype=torch.float16))
    assert half.a["down_proj"].dtype == torch.float16
    assert torch.equal(half.b["down_proj"], lora.b["down_proj"].half())
    assert list(tmp_path.glob("**/.*")) == []  # no temporary files left behind


@pytest.mark.parametrize("damage", ["truncated", "random_bytes", "empty"])
def test_corrupt_adapter_files_raise_and_are_left_alone(tiny_base, tmp_path: Path, damage: str) -> None:
    path = random_lora(tiny_base).save(tmp_path / "x.safetensors")
    data = path.read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "random_bytes":
        data = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy().tobytes()
    else:
        data = b""
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match=str(path.name)):
        LoraWeights.load(path)
    assert path.read_bytes() == data


def test_foreign_safetensors_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CorruptFileError, match="not a doc2lora adapter"):
        LoraWeights.load(tmp_path / "other.safetensors")


def test_missing_adapter_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no adapter file"):
        LoraWeights.load(tmp_path / "nope.safetensors")


def test_weights_validate_shapes(tiny_base) -> None:
    x = random_lora(tiny_base)
    with pytest.raises(InputError, match="rank of a"):
        LoraWeights({"down_proj": x.a["down_proj"]}, {"down_proj": x.b["down_proj"][..., :4]}, x.layers)
    with pytest.raises(InputError, match="same non-empty targets"):
        LoraWeights({}, {}, x.layers)
    with pytest.raises(InputError, match="expected a"):
        LoraWeights(x.a, x.b, (0,))


# -- (g) limits --------------------------------------------------------------------------------


def test_rank_above_max_rank_and_double_wrapping_raise(make_tiny_base) -> None:
    base = make_tiny_base()
    slots = LoraSlots(base, num_slots=1, max_rank=8)
    with pytest.raises(InputError, match="max_rank"):
        slots.load(0, random_lora(base, rank=9))
    slots.load(0, random_lora(base, rank=8))  # exactly max_rank is fine
    with pytest.raises(InputError, match="already wrapped"):
        LoraSlots(base, num_slots=1, max_rank=8)
    with pytest.raises(InputError, match=">= 1"):
        LoraSlots(make_tiny_base(), num_slots=0)


# -- (h) live adapters -------------------------------------------------------------------------


def test_use_live_matches_slot_and_carries_gradients(make_tiny_base) -> None:
    base = make_tiny_base()
    slots = LoraSlots(base, num_slots=1, max_rank=8)
    lora = random_lora(base, rank=8, scaling=2.0)
    slots.load(0, lora)
    ids = prompts(1)
    with slots.use(0):
        expected = logits(base.model, ids)

    folded = lora.folded()
    a = {t: v[None].clone().requires_grad_(True) for t, v in folded.a.items()}  # (1, L, r, d_in)
    b = {t: v[None].clone().requires_grad_(True) for t, v in folded.b.items()}  # (1, L, d_out, r)
    with slots.use_live(a, b, lora.layers):
        out = base.model(input_ids=ids, use_cache=False).logits
    assert max_diff(out.detach(), expected) <= TOL
    out.float().pow(2).mean().backward()
    for t in a:
        assert a[t].grad is not None and a[t].grad.abs().sum() > 0
        assert b[t].grad is not None and b[t].grad.abs().sum() > 0
    assert all(m.live is None for m in slots.modules["down_proj"])  # cleared after the block


def test_atomic_writes_leave_files_with_the_usual_permissions(tmp_path: Path) -> None:
    """A safetensors writer replaces the temporary file with its own (0600): the final file still gets 0666 & ~umask."""
    import os

    from safetensors.torch import save_file

    from doc2lora_rag.files import atomic_write

    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "t.safetensors", lambda tmp: save_file({"x": torch.zeros(2)}, tmp))
        atomic_write(tmp_path / "t.json", lambda tmp: Path(tmp).write_text("{}"))
    finally:
        os.umask(umask)
    for name in ("t.safetensors", "t.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
