"""The memory generator behind the store (tiny model): adapters keep their key Gram matrices on disk,
several routed adapters become one joint write (each stored key reads its own value, not the other
adapters'), the engine's slots grow to the combined rank, a store reloads and checks the generator
that built it, and the default generator kind."""

from __future__ import annotations

import pytest
import torch
from test_lora import random_lora
from test_store import HashEmbedder
from tiny import TEXTS, load_tiny_memory, save_tiny_memory

from doc2lora_rag import InputError, LoraSlots, LoraWeights
from doc2lora_rag.chunking import split_equal
from doc2lora_rag.errors import CorruptFileError, ModelMismatchError
from doc2lora_rag.generators import GENERATOR_KINDS, default_kind, make_generator
from doc2lora_rag.generators.memory import GRAM, KVTransforms, MemoryGenerator
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import AdapterStore

T = "down_proj"


@pytest.fixture
def saved(make_tiny_base, tmp_path):
    """A tiny memory generator with (random, non-zero) transforms, loaded from folders as a store would reload it."""
    base = make_tiny_base(num_layers=3)
    save_tiny_memory(base, tmp_path)
    return load_tiny_memory(base, tmp_path)


def deltas(lora: LoraWeights) -> torch.Tensor:
    """(L, d_out, d_in) weight updates of an adapter: what any two forms of one write must agree on."""
    return torch.stack([lora.delta(T, layer) for layer in lora.layers])


def _keys(gen: MemoryGenerator, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    keys, value_ids, _ = gen.read(split_equal(gen.tokenize(text), gen.max_chunk_tokens))
    return keys, value_ids


def _stored(gen: MemoryGenerator, keys: torch.Tensor) -> torch.Tensor:
    """(L, n, d_in) read keys -> the keys the write stores (through the transforms: k + P Q^T k)."""
    t = gen.transforms
    return keys + torch.einsum("lir,lnr->lni", t.P, torch.einsum("lir,lni->lnr", t.Q, keys)).detach()


def test_extra_tensors_travel_with_the_adapter_file(make_tiny_base, tmp_path) -> None:
    lora = random_lora(make_tiny_base(), rank=4)
    plain = LoraWeights.load(lora.save(tmp_path / "plain.safetensors"))
    assert plain.extras == {}
    gram = torch.randn(len(lora.layers), 4, 4)
    with_extra = LoraWeights(lora.a, lora.b, lora.layers, lora.scaling, lora.base_model, lora.model_type, {"x": 1}, {GRAM: gram})
    again = LoraWeights.load(with_extra.with_meta(id="a").save(tmp_path / "extra.safetensors", dtype=torch.float16))
    assert torch.equal(again.extras[GRAM], gram)  # extras stay fp32 in an fp16 file
    assert again.meta == {"x": 1, "id": "a"} and again.targets == lora.targets
    assert again.with_meta(y=2).extras.keys() == {GRAM} and again.to(dtype=torch.float32).extras.keys() == {GRAM}


def test_joint_write_equals_writing_every_key_at_once(saved) -> None:
    gen = saved
    loras = gen.generate(TEXTS[:2])
    assert all(GRAM in x.extras for x in loras) and loras[0].meta["trained"] is True
    (k0, v0), (k1, v1) = _keys(gen, TEXTS[0]), _keys(gen, TEXTS[1])
    keys, value_ids = torch.cat([k0, k1], 1), torch.cat([v0, v1])
    a_all, b_all, _ = gen.write(keys, value_ids)  # the write a single text holding both would get
    joint = gen.combine(loras)
    assert joint.rank == loras[0].rank + loras[1].rank and joint.extras[GRAM].shape[-1] == joint.rank
    assert torch.allclose(joint.b[T], b_all, atol=1e-6)
    assert torch.allclose(joint.a[T], a_all, rtol=1e-2, atol=1e-3 * a_all.abs().max().item())
    summed = LoraWeights.concat(loras)
    n0 = loras[0].rank
    stored, stored0 = _stored(gen, keys), _stored(gen, k0)
    for layer in range(len(gen.layers)):
        assert torch.allclose(joint.a[T][layer] @ stored[layer].T, torch.eye(joint.rank), atol=2e-2)
        # added instead, adapter 1's rows read document 0's keys: the cross-talk the joint write removes
        cross = summed.a[T][layer][n0:] @ stored0[layer].T
        assert cross.abs().max() > 10 * (joint.a[T][layer][n0:] @ stored0[layer].T).abs().max()
    assert gen.combine(loras[:1]) is loras[0]
    with pytest.raises(InputError, match="memory adapters"):
        gen.combine([loras[0], random_lora(gen.base, rank=4)])


def test_store_routes_to_one_joint_adapter_and_the_engine_grows_its_slots(saved, tmp_path) -> None:
    gen = saved
    store = AdapterStore(tmp_path / "store", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    assert store.meta["generator"]["kind"] == "memory"
    ids = [e.id for e in store.entries()][:2]
    (one,) = store.routed_adapters(ids[:1])
    assert one.meta["factored"] and one.meta["id"].startswith(f"{ids[0]}@")
    (joint,) = store.routed_adapters(ids)
    weights = ["", "*0.5"]  # the group routed second weighs ROUTE_DECAY in the joint write
    assert joint.meta["id"] == "joint:" + "|".join(f"{i}@{store.adapter(i).meta['content_hash'][:16]}@{store._tag}{w}"
                                                   for i, w in zip(ids, weights))
    assert joint.rank == sum(store.adapter(i).rank for i in ids)
    assert store.routed_adapters(ids)[0] is joint  # cached
    # the store keeps records, so its joint adapter is the write over all keys (factored: B'A' = BA); a store of
    # adapters gets the same update by combine(), which rebuilds the keys from A and H
    assert store.keeps_records
    loras = AdapterStore(tmp_path / "loras", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2,
                         adapter_format="lora")
    loras.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    (want,) = loras.routed_adapters(ids)
    assert (deltas(joint) - deltas(want)).norm() <= 2e-2 * deltas(want).norm()  # fp16 files on both sides
    # the weights are the values' scale: route_decay 1 is the plain joint write, and it differs
    store.route_decay = 1.0
    (plain,) = store.routed_adapters(ids)
    records = [store._file(i)[0] for i in ids]
    assert (deltas(plain) - deltas(gen.expand(records))).norm() <= 1e-4 * deltas(plain).norm()
    assert (deltas(joint) - deltas(gen.expand(records, [1.0, 0.5]))).norm() <= 1e-4 * deltas(joint).norm()
    assert (deltas(plain) - deltas(joint)).norm() > 0.05 * deltas(plain).norm()
    store.route_decay = 0.5

    engine = AnswerEngine(gen.base, num_slots=2, max_rank=4)  # smaller than any joint adapter: the slots grow
    qa = StoreQA(store, engine)
    res = qa.answer("Who founded Merros Holdings?", mode="adapter", k=2, max_new_tokens=6)
    assert len(res.adapter_ids) == 2 and engine.slots.max_rank >= joint.rank
    routed = store.routed_adapters(res.adapter_ids)
    assert res.answer == engine.answer("Who founded Merros Holdings?", routed, max_new_tokens=6).text
    store.close()

    # reopened with the generator that built it: accepted; with other transforms: refused, nothing changed
    again = MemoryGenerator.from_identity(gen.base, gen.identity(), progress=False)
    assert {k: v for k, v in again.identity().items() if k != "source"} == {k: v for k, v in gen.identity().items() if k != "source"}
    AdapterStore(tmp_path / "store", again, router=HashEmbedder()).close()
    other = MemoryGenerator(gen.base, gen.stats, gen.config, KVTransforms(*gen.transforms.shape[:3], 4, seed=1))
    with torch.no_grad():
        other.transforms.P.fill_(0.01)
    with pytest.raises(ModelMismatchError, match="generator"):
        AdapterStore(tmp_path / "store", other, router=HashEmbedder())


def test_from_identity_needs_the_recorded_transforms(saved, tmp_path) -> None:
    ident = saved.identity()
    assert ident["source"]["transforms"] == str((tmp_path / "transforms").resolve())
    ident["source"]["transforms"] = str(tmp_path / "gone")
    with pytest.raises(ModelMismatchError, match="not available here"):
        MemoryGenerator.from_identity(saved.base, ident, progress=False)


def test_slots_grow_and_keep_what_is_loaded(make_tiny_base) -> None:
    base = make_tiny_base()
    slots = LoraSlots(base, num_slots=2, max_rank=8)
    small, large = random_lora(base, rank=8), random_lora(base, rank=40, seed=5)
    ids = torch.tensor([[1, 2, 3, 4]])
    slots.load(0, small)
    with torch.no_grad(), slots.use(0):
        before = base.model(ids).logits
    slots.grow(40)
    assert slots.max_rank == 64
    with torch.no_grad(), slots.use(0):
        assert torch.allclose(base.model(ids).logits, before, atol=1e-5)
    slots.load(1, large)
    with torch.no_grad(), slots.use(1):
        assert not torch.allclose(base.model(ids).logits, before, atol=1e-3)
    with torch.no_grad(), slots.use_rows([0, 1]):  # the per-row path reads the grown buffers too
        assert torch.allclose(base.model(ids.repeat(2, 1)).logits[:1], before, atol=1e-5)


def test_default_generator_kind() -> None:
    assert GENERATOR_KINDS == ("memory", "hypernet", "distill")
    assert default_kind("smollm2-135m-instruct") == "memory"  # trained transforms are packaged for it
    assert default_kind("tiny-random-llama") == "memory"  # the closed-form write, never an all-zero hypernetwork
    with pytest.raises(InputError, match="unknown generator kind"):
        make_generator("oracle")


@pytest.mark.slow
@pytest.mark.real_model
def test_real_model_store_answers_from_joint_memory_adapters(real_base, tmp_path) -> None:
    """The embedded model's default store answers sample questions from two routed memory adapters (no text
    in the prompt) where the bare model answers none; reopened without a generator, the store reloads the one
    that built it. Uses (or fits, ~3 minutes) the cached memory statistics."""
    from pathlib import Path

    from doc2lora_rag.evaluation import is_correct, load_qa

    examples = Path(__file__).resolve().parent.parent / "examples"
    gen = make_generator(None, real_base)
    assert isinstance(gen, MemoryGenerator) and gen.transforms is not None
    with AdapterStore(tmp_path / "store", gen) as store:
        store.add_paths([examples / "sample_corpus"])
        qa = StoreQA(store)
        items = load_qa(examples / "sample_qa.jsonl")
        routed = [qa.answer(i.question, mode="adapter", k=2, max_new_tokens=24) for i in items]
        bare = [qa.answer(i.question, mode="none", max_new_tokens=24) for i in items]
    assert all(len(r.adapter_ids) == 2 for r in routed)
    hits = sum(is_correct(r.answer, i.answers) for r, i in zip(routed, items))
    assert hits >= 3 and sum(is_correct(r.answer, i.answers) for r, i in zip(bare, items)) == 0, hits  # measured: 6 of 20
    with AdapterStore(tmp_path / "store", read_only=True) as again:
        assert again.generator.identity()["transforms"] == gen.identity()["transforms"]


def test_reading_combines_memory_adapters_without_loading_the_generator(saved, tmp_path) -> None:
    gen = saved
    store = AdapterStore(tmp_path / "store", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2,
                         adapter_format="lora")  # the adapters themselves on disk
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    assert not store.keeps_records
    ids = [e.id for e in store.entries()][:2]
    want = gen.combine([store.adapter(i).scaled(w) for i, w in zip(ids, store.route_weights(2))])  # routed second: ROUTE_DECAY
    store.close()
    with pytest.raises(InputError, match="keeps adapter_format='lora'"):
        AdapterStore(tmp_path / "store", router=HashEmbedder(), adapter_format="record")
    reader = AdapterStore(tmp_path / "store", router=HashEmbedder(), read_only=True)  # no generator passed
    (joint,) = reader.routed_adapters(ids)
    assert reader._generator is None, "reading loaded the generator"
    assert torch.allclose(joint.a[T], want.a[T]) and torch.allclose(joint.b[T], want.b[T])
    assert not torch.allclose(joint.b[T], gen.combine([reader.adapter(i) for i in ids]).b[T])  # the weight is applied
    reader.close()


def test_a_base_without_packaged_transforms_gets_the_closed_form_write_with_a_warning(make_tiny_base, tmp_path, monkeypatch) -> None:
    """Never the untrained hypernetwork's all-zero adapters: the memory write carries the text without training."""
    monkeypatch.setenv("DOC2LORA_CACHE", str(tmp_path / "cache"))
    base = make_tiny_base()
    with pytest.warns(UserWarning, match="closed-form"):
        gen = make_generator(None, base)
    assert gen.identity()["kind"] == "memory" and gen.transforms is None
    (lora,) = gen.generate(["The rye bread is baked in the stone oven by Marta Quell every morning."])
    assert float(lora.b["down_proj"].abs().sum()) > 0


def test_the_store_chunks_once_and_the_generator_reads_those_chunks(saved, tmp_path) -> None:
    """A group reaches the generator as the chunks the store cut (overlap read once), not re-split its own way."""
    seen = []

    class Recording:
        reads_pieces = True

        def __init__(self, inner) -> None:
            self.inner, self.base, self.max_chunk_tokens = inner, inner.base, inner.max_chunk_tokens

        def identity(self) -> dict:
            return self.inner.identity()

        def generate(self, texts):
            seen.extend(texts)
            return self.inner.generate(texts)

    store = AdapterStore(tmp_path / "store", Recording(saved), router=HashEmbedder(), chunk_tokens=16, group_size=2,
                         overlap_tokens=3)
    store.add_texts([TEXTS[0] + " " + TEXTS[1]], ids=["both"])
    entries = list(store.entries())
    assert len(seen) == len(entries) >= 2 and all(isinstance(t, tuple) and len(t) == 2 for t in seen[:-1])
    for pieces, entry in zip(seen, entries, strict=True):
        assert "".join(pieces) == entry.text  # the cuts partition the group's text
    (lora,) = saved.generate([seen[0]])
    assert lora.meta["chunks"] == 2  # one piece per chunk the store cut (each within max_chunk_tokens)
    store.close()


def test_spd_solve_factors_a_gram_matrix_that_rounding_left_indefinite() -> None:
    from doc2lora_rag.generators.memory.write import spd_solve

    good = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    rhs = torch.tensor([[1.0], [2.0]])
    assert torch.allclose(spd_solve(good, rhs), torch.linalg.solve(good, rhs), atol=1e-6)
    nearly = torch.tensor([[1.0, 1.0], [1.0, 1.0 - 1e-6]])  # two nearly repeated keys, rounding below zero
    both = spd_solve(torch.stack([good, nearly]), torch.stack([rhs, rhs]))
    assert torch.isfinite(both).all() and torch.allclose(both[0], torch.linalg.solve(good, rhs), atol=1e-6)  # only the failing one moves
    far = torch.tensor([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1: no small ridge makes it factor
    mid = torch.tensor([[1.0, 1.0], [1.0, 1.0 - 2e-3]])  # factors with the second ridge, not the first
    mixed = spd_solve(torch.stack([good, nearly, mid, far]), torch.stack([rhs] * 4))  # each needs another remedy
    assert torch.isfinite(mixed).all() and torch.allclose(mixed[0], torch.linalg.solve(good, rhs), atol=1e-6)
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        spd_solve(torch.full((2, 2), float("nan")), rhs)


def test_one_adapter_manager_per_model_shares_files_and_keeps_stores_apart(saved, tmp_path) -> None:
    gen = saved
    closed = MemoryGenerator.load(tmp_path / "stats", gen.base, positions_per_chunk=4)  # same model, no transforms
    kw = dict(router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    first = AdapterStore(tmp_path / "a", gen, **kw)
    first.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    again = AdapterStore(tmp_path / "a", gen, **kw)  # a second object on the same folder
    other = AdapterStore(tmp_path / "b", closed, **kw)
    other.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])  # same ids and texts, other weights
    assert first.adapters is again.adapters is other.adapters  # one manager for the model
    ids = [e.id for e in first.entries()][:2]
    assert again.adapter(ids[0]).a[T] is first.adapter(ids[0]).a[T]  # the file is loaded once
    (mine,), (theirs,) = first.routed_adapters(ids), other.routed_adapters(ids)
    assert mine.meta["id"] != theirs.meta["id"] and not torch.allclose(mine.a[T], theirs.a[T])

    engine = AnswerEngine(gen.base, num_slots=2, max_rank=4)
    ask = dict(mode="adapter", k=2, max_new_tokens=4)
    alone = StoreQA(other, engine).answer("Who founded Merros Holdings?", **ask).answer
    StoreQA(first, engine).answer("Who founded Merros Holdings?", **ask)  # fills a slot with the first store's set
    assert StoreQA(other, engine).answer("Who founded Merros Holdings?", **ask).answer == alone
    slot = engine.adapters.activate(engine.slots, [theirs], theirs.meta["id"])
    assert engine.slots.loaded_key(slot) == theirs.meta["id"]

    first.delete(ids=["merros"])  # deleting a document forgets its files and the store's joint adapters
    with pytest.raises(InputError, match="no adapter"):
        first.adapter(ids[0])


def test_a_memory_store_keeps_records_smaller_than_adapters_and_reads_the_same(saved, tmp_path) -> None:
    gen = saved
    kw = dict(router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    records = AdapterStore(tmp_path / "records", gen, adapter_format="record", **kw)
    loras = AdapterStore(tmp_path / "loras", gen, adapter_format="lora", **kw)
    for store in (records, loras):
        store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    assert records.keeps_records and records.meta["adapter_format"] == "record"
    size = {name: sum(f.stat().st_size for f in (tmp_path / name / "adapters").iterdir()) for name in ("records", "loras")}
    assert size["records"] * 2 < size["loras"]  # tiny model (d_in = 2 x width); SmolLM2: ~4x
    ids = [e.id for e in records.entries()][:2]
    assert records.verify(deep=True) == {"missing_files": [], "orphan_files": [], "temp_files": [], "unreadable_files": []}
    for k in (1, 2):
        (mine,), (theirs,) = records.routed_adapters(ids[:k]), loras.routed_adapters(ids[:k])
        assert mine.rank == theirs.rank
        x, y = deltas(mine), deltas(theirs)
        assert (x - y).norm() <= 2e-2 * y.norm()  # fp16 rounding of the record against fp16 rounding of A and B
    (want,) = records.routed_adapters(ids)
    records.close()
    reader = AdapterStore(tmp_path / "records", gen, read_only=True, router=HashEmbedder())
    (again,) = reader.routed_adapters(ids)
    assert torch.allclose(again.a[T], want.a[T])


def test_a_damaged_record_is_named_and_the_rest_of_the_store_still_reads(saved, tmp_path) -> None:
    gen = saved
    store = AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    entries = store.entries()
    bad, good = entries[0], next(e for e in entries if e.content_hash != entries[0].content_hash)
    path = tmp_path / "s" / "adapters" / f"{bad.content_hash}.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    store.close()
    fresh = AdapterStore(tmp_path / "s", gen, router=HashEmbedder())
    with pytest.raises(CorruptFileError, match=bad.content_hash[:16]):
        fresh.routed_adapters([bad.id])
    assert fresh.routed_adapters([good.id])[0].rank > 0
    assert fresh.verify(deep=True)["unreadable_files"] == [path.name]


def test_exporting_a_record_file_says_to_export_through_the_store(saved, tmp_path, capsys) -> None:
    from doc2lora_rag.cli import main

    store = AdapterStore(tmp_path / "s", saved, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS[:1], ids=["merros"])
    record = next((tmp_path / "s" / "adapters").glob("*.safetensors"))
    assert main(["export", str(record), str(tmp_path / "peft")]) != 0
    assert "export --store" in capsys.readouterr().err and not (tmp_path / "peft").exists()


def test_scale_bench_builds_measures_and_removes_its_stores(saved, tmp_path) -> None:
    from doc2lora_rag.bench.scale import ScaleConfig, format_table, run_scale_bench

    cfg = ScaleConfig(out=str(tmp_path / "scale"), sizes=(12,), ks=(1, 3), group_tokens=24, queries=5, joint_trials=2)
    result = run_scale_bench(cfg, progress=False, generator=saved, embedder=HashEmbedder())
    (row,) = result["rows"]
    assert row["groups"] == 12 and row["bytes_per_group"] > 0 and row["route_p95_ms"] >= row["route_p50_ms"] > 0
    assert set(row["joint_write_p50_ms"]) == set(row["joint_write_warm_p50_ms"]) == {1, 3} and not (tmp_path / "scale" / "store-12").exists()
    assert "| 12 |" in format_table(result["rows"]) and (tmp_path / "scale" / "scale.md").is_file()
    assert row["route_recall_at_4"] == 1.0  # 12 groups: the exact scan


def test_scale_bench_routing_only_writes_small_records_and_no_joint_writes(saved, tmp_path) -> None:
    from doc2lora_rag.bench.scale import ScaleConfig, format_table, run_scale_bench

    full = ScaleConfig(out=str(tmp_path / "a"), sizes=(12,), ks=(1,), group_tokens=24, queries=3, joint_trials=1)
    small = ScaleConfig(out=str(tmp_path / "b"), sizes=(12,), ks=(1,), group_tokens=24, queries=3, routing_only=True)
    a = run_scale_bench(full, progress=False, generator=saved, embedder=HashEmbedder())["rows"][0]
    b = run_scale_bench(small, progress=False, generator=saved, embedder=HashEmbedder())["rows"][0]
    assert b["bytes_per_group"] < a["bytes_per_group"] and b["joint_write_p50_ms"] == {} and b["route_recall_at_4"] == 1.0
    assert "| 12 |" in format_table([b])


def test_a_store_written_before_records_keeps_its_adapters(saved, tmp_path) -> None:
    from doc2lora_rag.generators.memory import is_record_file
    from doc2lora_rag.store import sqlite

    gen = saved
    kw = dict(router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store = AdapterStore(tmp_path / "old", gen, adapter_format="lora", **kw)
    store.add_texts(TEXTS[:2], ids=["merros", "balrodun"])
    store.close()
    conn = sqlite.connect(str(tmp_path / "old" / "manifest.sqlite"))  # as a store of the previous version left it
    conn.execute("DELETE FROM meta WHERE key = 'adapter_format'")
    conn.close()
    reopened = AdapterStore(tmp_path / "old", gen, router=HashEmbedder())
    assert not reopened.keeps_records
    reopened.add_texts(TEXTS[2:], ids=["pramund"])  # new documents keep the store's format
    files = list((tmp_path / "old" / "adapters").glob("*.safetensors"))
    assert files and not any(is_record_file(f) for f in files)
    ids = [e.id for e in reopened.entries()][:2]
    assert reopened.routed_adapters(ids)[0].rank == sum(reopened.adapter(i).rank for i in ids)


def test_a_routed_sets_adapter_exported_to_peft_gives_the_engines_logits(saved, tmp_path) -> None:
    """What `doc2lora export --store --ids` writes: the joint adapter of routed records, as a PEFT folder."""
    import copy

    from peft import PeftModel

    gen = saved
    store = AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    ids = [e.id for e in store.entries()][:3]
    joint = LoraWeights.concat(store.routed_adapters(ids))
    out = joint.to_peft(tmp_path / "peft")
    peft_model = PeftModel.from_pretrained(copy.deepcopy(gen.base.model), str(out)).eval()
    tokens = torch.tensor([gen.base.tokenizer("Who founded Merros Holdings?")["input_ids"]])
    engine = AnswerEngine(gen.base, num_slots=1, max_rank=4)
    with torch.no_grad(), engine.slots.use(engine.adapters.activate(engine.slots, [joint], "export-test")):
        want = gen.base.model(input_ids=tokens).logits
    with torch.no_grad():
        got = peft_model(input_ids=tokens).logits
        bare = copy.deepcopy(peft_model)
        with bare.disable_adapter():
            plain = bare(input_ids=tokens).logits
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
    assert (got - plain).abs().max() > 1e-3  # the adapter changes the logits
    store.close()


def test_an_exported_folder_is_checked_against_the_base_model_it_is_served_with(saved, make_tiny_base, tmp_path, capsys) -> None:
    from doc2lora_rag.cli import main
    from doc2lora_rag.lora.weights import check_peft_folder

    gen = saved
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2) as store:
        store.add_texts(TEXTS[:2], ids=["merros", "balrodun"])
        out = LoraWeights.concat(store.routed_adapters([e.id for e in store.entries()][:2])).to_peft(tmp_path / "peft")
    assert check_peft_folder(out, gen.base) == len(gen.layers)
    with pytest.raises(ModelMismatchError, match="exported for base model"):
        check_peft_folder(out, make_tiny_base(name="another-model"))
    with pytest.raises(ModelMismatchError, match="does not have"):  # same name, one layer fewer
        check_peft_folder(out, make_tiny_base(num_layers=max(gen.layers)))
    (out / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CorruptFileError, match="export it again"):
        check_peft_folder(out, gen.base)
    assert main(["export", "--check", str(out)]) != 0  # the CLI's check, against the embedded model
    assert "export it again" in capsys.readouterr().err


def test_a_store_of_token_records_reads_them_when_routed_and_answers_as_a_store_of_records(saved, tmp_path) -> None:
    from doc2lora_rag.generators.memory import TokenRecord

    gen = saved
    stores = {}
    for fmt in ("record", "tokens"):  # tokens: the memory generator's default
        store = AdapterStore(tmp_path / fmt, gen, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2,
                             adapter_format=None if fmt == "tokens" else fmt)
        store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
        stores[fmt] = store
    tokens = stores["tokens"]
    assert tokens.keeps_records and tokens.meta["adapter_format"] == "tokens"
    size = {fmt: sum(f.stat().st_size for f in (s.path / "adapters").iterdir()) for fmt, s in stores.items()}
    assert size["tokens"] * 3 < size["record"]  # token ids against fp16 MLP inputs at every picked position (the tiny model's are small)
    ids = [e.id for e in tokens.entries()]
    assert ids == [e.id for e in stores["record"].entries()]
    record = tokens._file(ids[0])[0]
    assert isinstance(record, TokenRecord) and record.nbytes < 200
    for routed in (ids[:1], ids[:2], ids[1:3]):
        (want,) = stores["record"].routed_adapters(routed)
        (got,) = tokens.routed_adapters(routed)
        assert (deltas(got) - deltas(want)).norm() <= 1e-3 * deltas(want).norm()
    engine = AnswerEngine(gen.base, num_slots=2, max_rank=4)
    for q in ("Who founded Merros Holdings?", "When was Balrodun Robotics established?"):
        answers = {fmt: StoreQA(s, engine).answer(q, mode="adapter", k=2, max_new_tokens=6).answer for fmt, s in stores.items()}
        assert answers["tokens"] == answers["record"]
    tokens.close()
    # a damaged token record is named, with the fix; the store's other records still read
    again = AdapterStore(tmp_path / "tokens", gen, router=HashEmbedder())
    assert again.meta["adapter_format"] == "tokens"
    victim = again.path / "adapters" / again.manifest.entry_file(ids[2])[0]
    data = victim.read_bytes()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the last chunk length
    with pytest.raises(CorruptFileError, match="checksum"):
        again._read_file(victim)
    victim.write_bytes(data[:40])
    with pytest.raises(CorruptFileError, match="add the document again"):
        again._read_file(victim)
    assert again.routed_adapters(ids[:1])[0].rank > 0
    again.close()
    # a bit flipped in a float record's data is refused too
    records = stores["record"]
    victim = records.path / "adapters" / records.manifest.entry_file(ids[2])[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the fp16 MLP inputs
    victim.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checksum"):
        records._read_file(victim)
    records.close()
