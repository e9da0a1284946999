"""MemoryGenerator (closed-form key/value adapters) on the tiny model: fitting, the write itself (each
stored key reads out its own rank direction), shapes and determinism, save/load, bad input; and one slow
real-model check that a document's own adapter makes its answers more likely than another's."""

from __future__ import annotations

import pytest
import torch

from doc2lora_rag import ConfigError, InputError, LoraWeights
from doc2lora_rag.chunking import split_equal
from doc2lora_rag.errors import CorruptFileError, ModelMismatchError
from doc2lora_rag.generators.memory import MemoryConfig, MemoryGenerator, cache_path

TEXTS = [
    "Merros Holdings sells kitchen scales. The founder of the firm was Wenmaine Ammann. "
    "The company has a staff of 1711. The main offices of Merros Holdings are in Great Norvenstead.",
    "Record card for Balrodun Robotics. Established in 1829. Started by Selios Merliworth. Headcount 4577.",
    "The Pramund Kite Festival is famous for chestnut pancakes. Its first edition took place in 1924.",
]
ANSWERS = [["Wenmaine Ammann", "1711", "Great Norvenstead"], ["1829", "Selios Merliworth", "4577"], ["chestnut pancakes", "1924"]]
SMALL = MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16)


@pytest.fixture
def fitted(make_tiny_base):
    base = make_tiny_base(num_layers=3)
    return MemoryGenerator.fit(base, TEXTS, ANSWERS, SMALL)


def test_fit_and_generate_shapes_and_determinism(fitted) -> None:
    gen = fitted
    assert gen.layers == (1, 2)  # num_layers // 3 onwards
    assert gen.fit_info["answer_positions"] > 0
    (lora,) = gen.generate([TEXTS[0]])
    chunks = -(-len(gen.tokenize(TEXTS[0])) // 16)
    assert isinstance(lora, LoraWeights)
    assert lora.layers == gen.layers and lora.rank == 4 * chunks and lora.meta["chunks"] == chunks
    assert lora.a["down_proj"].abs().sum() > 0 and lora.b["down_proj"].abs().sum() > 0
    (again,) = gen.generate([TEXTS[0]])
    assert torch.equal(lora.a["down_proj"], again.a["down_proj"]) and torch.equal(lora.b["down_proj"], again.b["down_proj"])
    (other,) = gen.generate([TEXTS[1]])
    assert not torch.equal(lora.a["down_proj"][:, :4], other.a["down_proj"][:, :4])


def test_each_stored_key_reads_out_its_own_value(fitted) -> None:
    gen = fitted
    ids = gen.tokenize(TEXTS[0])[:16]
    stored, value_ids, (top,) = gen.read([ids])
    a, b, _ = gen.write(stored, value_ids)
    m = len(top)
    assert m == 4 and bool((top < len(ids) - 1).all()) and a.shape[1] == b.shape[2] == m
    assert torch.equal(value_ids, torch.tensor(ids)[top + 1])
    emb = gen.emb.detach().float()
    for layer in range(len(gen.layers)):
        readout = a[layer] @ stored[layer].T  # stored key j -> unit vector e_j
        assert torch.allclose(readout, torch.eye(m), atol=1e-2)
        delta = b[layer] @ readout  # (D, m): the value written for each stored key
        want = emb[value_ids].T
        assert torch.allclose(torch.nn.functional.cosine_similarity(delta, want, dim=0), torch.ones(m), atol=1e-3)


def test_chunks_are_read_in_one_batch_and_written_jointly(fitted) -> None:
    """Batched (padded) reading equals reading each chunk alone; a key stored from one chunk reads out
    its own rank direction only, never another chunk's."""
    gen = fitted
    ids = gen.tokenize(TEXTS[0])
    chunks = split_equal(ids, gen.max_chunk_tokens)
    assert len(chunks) >= 2 and len({len(c) for c in chunks}) == 2  # unequal lengths: the batch is padded
    stored, value_ids, picks = gen.read(chunks)
    alone = [gen.read([c]) for c in chunks]
    assert all(torch.equal(p, q[2][0]) for p, q in zip(picks, alone))
    assert torch.allclose(stored, torch.cat([q[0] for q in alone], dim=1), atol=1e-4)
    (lora,) = gen.generate([TEXTS[0]])
    a = lora.a["down_proj"]
    assert a.shape[1] == stored.shape[1] == 4 * len(chunks)
    for layer in range(len(gen.layers)):
        assert torch.allclose(a[layer] @ stored[layer].T, torch.eye(a.shape[1]), atol=1e-2)


def test_forward_stops_at_last_read_layer_and_upper_keys_are_predicted(make_tiny_base) -> None:
    base = make_tiny_base(num_layers=6)
    gen = MemoryGenerator.fit(base, TEXTS, ANSWERS, MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16, last_read_layer=4))
    d_in = base.target_shape("down_proj")[0]
    assert gen.layers == (2, 3, 4, 5) and gen.last_read == 4 and gen.stats["maps"].shape == (1, base.config.hidden_size + 1, d_in)
    ran = []
    hooks = [layer.register_forward_hook(lambda m, i, o, n=n: ran.append(n)) for n, layer in enumerate(base.layers())]
    try:
        stored, _, (top,) = gen.read([gen.tokenize(TEXTS[1])[:16]])
    finally:
        for h in hooks:
            h.remove()
    assert max(ran) == 3  # layer 4 stops at its down_proj input; layer 5 never runs
    assert stored.shape[:2] == (4, 4) and stored[3].abs().sum() > 0  # predicted keys for layer 5
    (lora,) = gen.generate([TEXTS[1]])
    assert lora.layers == (2, 3, 4, 5) and lora.a["down_proj"][3].abs().sum() > 0
    with pytest.raises(ConfigError, match="last_read_layer"):
        MemoryGenerator.fit(base, TEXTS, ANSWERS, MemoryConfig(last_read_layer=1))


def test_statistics_without_key_maps_are_refused(fitted) -> None:
    stats = {k: v for k, v in fitted.stats.items() if k != "maps"}
    with pytest.raises(ModelMismatchError, match="'maps'.*refit"):
        MemoryGenerator(fitted.base, stats, fitted.config)


def test_load_takes_generation_settings_from_the_caller(fitted, tmp_path) -> None:
    gen = fitted
    gen.save(tmp_path / "m")
    loaded = MemoryGenerator.load(tmp_path / "m", gen.base)
    assert loaded.config.value_scale == MemoryConfig().value_scale and loaded.config.max_chunk_tokens == 16
    assert MemoryGenerator.load(tmp_path / "m", gen.base, value_scale=0.3, positions_per_chunk=2).config.value_scale == 0.3
    with pytest.raises(ConfigError, match="generation-time"):
        MemoryGenerator.load(tmp_path / "m", gen.base, max_chunk_tokens=64)


def test_save_load_round_trip_and_mismatch(fitted, make_tiny_base, tmp_path) -> None:
    path = fitted.save(tmp_path / "mem")
    loaded = MemoryGenerator.load(path, fitted.base, positions_per_chunk=4, value_scale=fitted.config.value_scale)
    (x,), (y,) = fitted.generate([TEXTS[2]]), loaded.generate([TEXTS[2]])
    assert torch.equal(x.a["down_proj"], y.a["down_proj"]) and torch.equal(x.b["down_proj"], y.b["down_proj"])
    assert loaded.identity()["kind"] == "memory" and loaded.identity()["positions_per_chunk"] == 4
    with pytest.raises(ModelMismatchError, match="refit"):
        MemoryGenerator.load(path, make_tiny_base(num_layers=4))
    with pytest.raises(InputError, match="no config.json"):
        MemoryGenerator.load(tmp_path / "nowhere", fitted.base)
    (path / "stats.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CorruptFileError, match="refit"):
        MemoryGenerator.load(path, fitted.base)


def test_bad_input_and_config(make_tiny_base, fitted) -> None:
    base = make_tiny_base(num_layers=3)
    with pytest.raises(InputError, match="verbatim"):
        MemoryGenerator.fit(base, TEXTS[:1], [["not in the text"]], SMALL)
    long_text = "Roads in the district were poor for a long time. " * 20 + "The mill was built by Osric Pellham."
    gen = MemoryGenerator.fit(base, [TEXTS[0], long_text], [ANSWERS[0], ["Osric Pellham"]], SMALL)  # answer past the read window
    assert gen.fit_info["answer_positions"] > 0
    with pytest.raises(InputError, match="one answer list per text"):
        MemoryGenerator.fit(base, TEXTS, ANSWERS[:1], SMALL)
    with pytest.raises(ConfigError, match="positions_per_chunk"):
        MemoryConfig(positions_per_chunk=0)
    with pytest.raises(ConfigError, match="unknown MemoryConfig keys"):
        MemoryConfig.from_dict({"rank": 8})
    with pytest.raises(InputError, match="list of strings"):
        fitted.generate(TEXTS[0])
    with pytest.raises(InputError, match="empty"):
        fitted.generate(["  "])


def _gold_nll(base, docs, adapters, shift: int) -> list[float]:
    """Gold-answer NLL per token (question only) of each document's first 4 questions with the adapter of document i + shift."""
    from doc2lora_rag.objective import answer_logprobs, build_answer_batch

    tok, out = base.tokenizer, []
    for i, doc in enumerate(docs):
        qas = [q for q in doc.qas if q.answers][:4]
        batch = build_answer_batch(tok, [q.question for q in qas], [tok(q.answers[0], add_special_tokens=False)["input_ids"] for q in qas], base.device)
        ad = adapters[(i + shift) % len(docs)]
        live = ({"down_proj": ad.a["down_proj"][None].expand(len(qas), -1, -1, -1)},
                {"down_proj": ad.b["down_proj"][None].expand(len(qas), -1, -1, -1)}, ad.layers)
        with torch.no_grad():
            logp = answer_logprobs(base, batch, live)
        out.append(float(-logp.gather(1, batch.targets[:, None]).mean()))
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.slow
def test_real_model_own_adapter_beats_another_documents(real_base) -> None:
    """Fitted on 40 training-split synthetic documents; on held-out-split documents the own adapter lowers
    the gold answers' NLL (question only) more than another document's adapter does."""
    from doc2lora_rag.llm import AnswerEngine
    from doc2lora_rag.synth import make_corpus

    train = make_corpus(40, "train", seed=3, min_tokens=60, max_tokens=160)
    gen = MemoryGenerator.fit(real_base, [d.text for d in train], [[q.answers[0] for q in d.qas if q.answers] for d in train])
    AnswerEngine(real_base)  # slots on the base model
    docs = make_corpus(4, "heldout", seed=9, min_tokens=60, max_tokens=160)
    adapters = gen.generate([d.text for d in docs])
    own, wrong = _gold_nll(real_base, docs, adapters, 0), _gold_nll(real_base, docs, adapters, 1)
    assert _mean(own) < _mean(wrong) - 0.1, (own, wrong)


@pytest.mark.slow
def test_real_model_packaged_transforms_beat_the_closed_form(real_base) -> None:
    """The shipped meta-trained transforms load by default for the embedded model; on held-out-split documents
    their own adapter makes the gold answers more likely than the closed-form write and than another
    document's adapter. Uses (or fits, ~3 minutes) the cached statistics."""
    from doc2lora_rag.generators.memory import packaged_transforms_dir
    from doc2lora_rag.llm import AnswerEngine
    from doc2lora_rag.synth import make_corpus

    assert packaged_transforms_dir(real_base.name) is not None
    gen = MemoryGenerator.default(real_base)
    assert gen.transforms is not None and gen.transforms.trained_steps > 0
    AnswerEngine(real_base)
    docs = make_corpus(6, "heldout", seed=9, min_tokens=60, max_tokens=400)
    trained = gen.generate([d.text for d in docs])
    gen.transforms = None
    closed = gen.generate([d.text for d in docs])
    own, wrong = _gold_nll(real_base, docs, trained, 0), _gold_nll(real_base, docs, trained, 1)
    assert _mean(own) < _mean(wrong) - 0.3, (own, wrong)
    assert _mean(own) < _mean(_gold_nll(real_base, docs, closed, 0)) - 0.3, own


def test_cli_loads_statistics_from_a_path_or_the_cache(fitted, tmp_path, monkeypatch) -> None:
    from doc2lora_rag.cli_model import _generator

    path = fitted.save(tmp_path / "stats")
    assert _generator("memory", str(path), fitted.base).identity()["kind"] == "memory"
    monkeypatch.setenv("DOC2LORA_CACHE", str(tmp_path / "cache"))
    fitted.save(cache_path(fitted.base.name))
    gen = _generator("memory", None, fitted.base)  # found in the cache: no fitting
    (x,), (y,) = gen.generate([TEXTS[1]]), MemoryGenerator.load(path, fitted.base).generate([TEXTS[1]])
    assert torch.equal(x.a["down_proj"], y.a["down_proj"])


def test_eval_harness_runs_memory_adapters(fitted, tmp_path) -> None:
    from doc2lora_rag.evaluation import QAItem, evaluate
    from doc2lora_rag.llm import AnswerEngine

    (tmp_path / "a.txt").write_text(TEXTS[0])
    (tmp_path / "b.txt").write_text(TEXTS[1])
    items = [QAItem("a.txt", "Who founded Merros Holdings?", ("Wenmaine Ammann",)), QAItem("b.txt", "When was Balrodun Robotics established?", ("1829",))]
    engine = AnswerEngine(fitted.base)
    for mode in ("adapter", "wrong-adapter"):
        summary = evaluate(items, tmp_path, mode, engine, fitted, max_new_tokens=4)
        assert summary["n"] == 2 and summary["generation_s_per_doc_p50"] > 0


def test_compact_statistics_rebuild_c_inv_and_c(fitted, tmp_path, monkeypatch) -> None:
    """The shipped form: C^-1 as tau I + U diag(ev - tau) U^T; a generator loads it, writes and combines with it."""
    import json

    from safetensors.torch import save_file

    from doc2lora_rag.generators.memory import compact, files

    c_inv = fitted.stats["c_inv"]
    d = c_inv.shape[-1]
    full = compact.compress(c_inv, d)  # every eigenpair kept: exact up to fp16 eigenvectors
    assert torch.allclose(compact.expand(full), c_inv, rtol=1e-2, atol=1e-2 * c_inv.abs().max())
    eye = torch.eye(d).expand_as(c_inv)
    assert torch.allclose(compact.second_moments_from(full) @ compact.expand(full), eye, atol=2e-2)
    small = compact.compress(c_inv, d // 4)
    assert small["c_inv_u"].shape == (len(c_inv), d, d // 4) and small["c_inv_u"].dtype == torch.float16

    fitted.save(tmp_path / "dense")
    packed = {k: v for k, v in fitted.stats.items() if k != "c_inv"} | small
    (tmp_path / "packed").mkdir()
    save_file({k: v.contiguous() for k, v in packed.items()}, str(tmp_path / "packed" / "stats.safetensors"))
    meta = json.loads((tmp_path / "dense" / "config.json").read_text())
    meta["fit"] = {**meta["fit"], "c_inv_rank": d // 4}
    (tmp_path / "packed" / "config.json").write_text(json.dumps(meta))
    monkeypatch.setattr(files, "resources", type("R", (), {"files": staticmethod(lambda _: tmp_path / "pkg")}))
    (tmp_path / "pkg" / "weights" / fitted.base.name).mkdir(parents=True)
    (tmp_path / "pkg" / "weights" / fitted.base.name / "memory").symlink_to(tmp_path / "packed")
    gen = MemoryGenerator.default(fitted.base, trained=False, progress=False)  # the packaged statistics: nothing fitted
    assert gen.identity()["source"]["statistics"] == "packaged" and gen.identity()["fit"]["c_inv_rank"] == d // 4
    assert torch.allclose(gen.stats["c_inv"], compact.expand(small))
    parts = gen.generate(TEXTS[:2])
    joint = gen.combine(parts)
    again = MemoryGenerator.from_identity(fitted.base, gen.identity(), progress=False)
    assert torch.allclose(again.combine(parts).a["down_proj"], joint.a["down_proj"], atol=1e-5)
    combiner = files.stored_combiner(gen.identity(), fitted.base.identity())  # reading, no generator
    assert combiner is not None and torch.allclose(combiner(parts).a["down_proj"], joint.a["down_proj"], atol=1e-4)
