"""MemoryGenerator (closed-form key/value adapters) on the tiny model: fitting, the write itself (each
stored key reads out its own rank direction), shapes and determinism, save/load, bad input; and one slow
real-model check that a document's own adapter makes its answers more likely than another's."""

from __future__ import annotations

import pytest
import torch

from doc2lora_rag import ConfigError, InputError, LoraWeights
from doc2lora_rag.errors import CorruptFileError, ModelMismatchError
from doc2lora_rag.memory import MemoryConfig, MemoryGenerator

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
    keys, top = gen.read(ids)
    a, b = gen.write(keys, top, ids)
    m = len(top)
    assert m == 4 and bool((top < len(ids) - 1).all())
    emb = gen.emb.detach().float()
    for layer in range(len(gen.layers)):
        stored = keys[layer, top]  # (m, d_in)
        readout = a[layer, :m] @ stored.T  # stored key j -> unit vector e_j
        assert torch.allclose(readout, torch.eye(m), atol=1e-2)
        delta = b[layer] @ (a[layer] @ stored.T)  # (D, m): the value written for each stored key
        want = emb[torch.tensor(ids)[top + 1]].T
        assert torch.allclose(torch.nn.functional.cosine_similarity(delta, want, dim=0), torch.ones(m), atol=1e-3)


def test_save_load_round_trip_and_mismatch(fitted, make_tiny_base, tmp_path) -> None:
    path = fitted.save(tmp_path / "mem")
    loaded = MemoryGenerator.load(path, fitted.base)
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


@pytest.mark.slow
def test_real_model_own_adapter_beats_another_documents(real_base) -> None:
    """Fitted on 40 training-split synthetic documents; on held-out-split documents the own adapter lowers
    the gold answers' NLL (question only) more than another document's adapter does."""
    from doc2lora_rag.llm import AnswerEngine
    from doc2lora_rag.objective import answer_logprobs, build_answer_batch
    from doc2lora_rag.training.synth import make_corpus

    train = make_corpus(40, "train", seed=3, min_tokens=60, max_tokens=160)
    gen = MemoryGenerator.fit(real_base, [d.text for d in train], [[q.answers[0] for q in d.qas if q.answers] for d in train])
    AnswerEngine(real_base)  # slots on the base model
    docs = make_corpus(4, "heldout", seed=9, min_tokens=60, max_tokens=160)
    adapters = gen.generate([d.text for d in docs])
    tok = real_base.tokenizer
    own, wrong = [], []
    for i, doc in enumerate(docs):
        qas = [q for q in doc.qas if q.answers][:4]
        batch = build_answer_batch(tok, [q.question for q in qas], [tok(q.answers[0], add_special_tokens=False)["input_ids"] for q in qas], real_base.device)
        for ad, out in ((adapters[i], own), (adapters[(i + 1) % len(docs)], wrong)):
            live = ({"down_proj": ad.a["down_proj"][None].expand(len(qas), -1, -1, -1)},
                    {"down_proj": ad.b["down_proj"][None].expand(len(qas), -1, -1, -1)}, ad.layers)
            with torch.no_grad():
                logp = answer_logprobs(real_base, batch, live)
            out.append(float(-logp.gather(1, batch.targets[:, None]).mean()))
    assert sum(own) / len(own) < sum(wrong) / len(wrong) - 0.1, (own, wrong)


def test_cli_loads_statistics_from_a_path_or_the_cache(fitted, tmp_path, monkeypatch) -> None:
    from doc2lora_rag.cli_model import _generator

    path = fitted.save(tmp_path / "stats")
    assert _generator("memory", str(path), fitted.base).identity()["kind"] == "memory"
    monkeypatch.setenv("DOC2LORA_CACHE", str(tmp_path / "cache"))
    fitted.save(tmp_path / "cache" / "memory" / fitted.base.name)
    gen = _generator("memory", None, fitted.base)  # found in the cache: no fitting
    (x,), (y,) = gen.generate([TEXTS[1]]), fitted.generate([TEXTS[1]])
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
