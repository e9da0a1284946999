"""Meta-trained memory transforms on the tiny model: untrained = the closed form, save/load and its
errors, the trainer (the loss falls on a toy corpus, resume restores the step), the CLI switches."""

from __future__ import annotations

import json

import pytest
import torch
from tiny import ANSWERS, TEXTS

from doc2lora_rag import ConfigError, InputError
from doc2lora_rag.errors import CorruptFileError, ModelMismatchError
from doc2lora_rag.generators.memory import KVTransforms, MemoryConfig, MemoryGenerator, associative_write, factored_write
from doc2lora_rag.training import memory_trainer
from doc2lora_rag.training.memory_trainer import MemoryTrainConfig, _split, train_memory

QUESTIONS = [["Who founded Merros Holdings?", "How many staff does Merros Holdings have?"],
             ["When was Balrodun Robotics established?", "Who started Balrodun Robotics?"],
             ["What is the Pramund Kite Festival famous for?", "When was the first Pramund Kite Festival?"]]


@pytest.fixture
def fitted(make_tiny_base):
    return MemoryGenerator.fit(make_tiny_base(num_layers=3), TEXTS, ANSWERS, MemoryConfig(positions_per_chunk=4, max_chunk_tokens=16))


def _transforms(gen: MemoryGenerator, rank: int = 4) -> KVTransforms:
    return KVTransforms(len(gen.layers), gen.stats["c_inv"].shape[1], gen.base.config.hidden_size, rank)


def _corpus(tmp_path, copies: int = 3):
    """The three texts, `copies` times each: the held-back validation documents are also training documents (a toy set)."""
    lines = [json.dumps({"text": t, "questions": [{"question": q, "answers": [a]} for q, a in zip(qs, ans)]})
             for t, qs, ans in zip(TEXTS, QUESTIONS, ANSWERS)]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines * copies) + "\n")
    return path


def _cfg(tmp_path, **kw) -> MemoryTrainConfig:
    base = dict(out_dir=str(tmp_path / "run"), corpus=str(_corpus(tmp_path)), steps=4, docs_per_step=3, qas_per_doc=2,
                rank=4, warmup_steps=1, checkpoint_every=2, eval_every=2, eval_docs=3, lr=1e-2, scale_lr=1e-1)
    base.update(kw)
    return MemoryTrainConfig(**base)


def test_untrained_transforms_write_exactly_the_closed_form(fitted) -> None:
    keys, value_ids, _ = fitted.read([fitted.tokenize(TEXTS[0])[:16], fitted.tokenize(TEXTS[1])[:16]])
    args = (keys, fitted.values(value_ids), fitted.stats["c_inv"], fitted.value_gain())
    a0, b0 = associative_write(*args)
    a1, b1 = associative_write(*args, _transforms(fitted))
    assert torch.allclose(a0, a1, atol=1e-5) and torch.equal(b0, b1)
    t = _transforms(fitted)
    with torch.no_grad():
        t.P.normal_()
        t.U.normal_()
    a2, b2 = associative_write(*args, t)
    assert not torch.allclose(a0, a2, atol=1e-3) and not torch.allclose(b0, b2, atol=1e-3)
    a3, b3 = associative_write(*args, t, fitted.stats["c_inv"] @ t.P)  # C^-1 P computed once by the caller: same write
    assert torch.allclose(a2, a3, atol=1e-5) and torch.equal(b2, b3)
    a2.sum().backward()  # differentiable in the transforms
    assert t.P.grad is not None and t.Q.grad is not None


def test_factored_write_is_the_same_lora(fitted) -> None:
    """The trainer's write (keys and C^-1 keys given, solve against the values) gives B' A' = B A."""
    keys, value_ids, _ = fitted.read([fitted.tokenize(TEXTS[0])[:16], fitted.tokenize(TEXTS[1])[:16]])
    values, c_inv, gain = fitted.values(value_ids), fitted.stats["c_inv"], fitted.value_gain()
    t = _transforms(fitted)
    with torch.no_grad():
        t.P.normal_(std=0.1)
        t.U.normal_(std=0.1)
    a, b = associative_write(keys, values, c_inv, gain, t)
    a2, b2 = factored_write(keys.half(), (keys @ c_inv).half(), values, c_inv @ t.P, gain, t)
    x = torch.randn(len(fitted.layers), 5, keys.shape[-1])
    ref, got = b @ (a @ x.transpose(1, 2)), b2 @ (a2 @ x.transpose(1, 2))
    assert ((got - ref).norm() / ref.norm()) < 1e-2  # fp16 records
    assert not torch.allclose(b, b2)  # the factorisation differs, the product does not
    got.sum().backward()
    assert t.P.grad is not None and t.V.grad is not None


def test_transforms_save_load_and_errors(fitted, make_tiny_base, tmp_path) -> None:
    t = _transforms(fitted)
    with torch.no_grad():
        t.P.normal_()
    t.trained_steps = 7
    path = t.save(tmp_path / "t", fitted.base)
    back = KVTransforms.load(path, fitted.base)
    assert back.trained_steps == 7 and torch.equal(back.P, t.P) and back.shape == t.shape
    gen = MemoryGenerator(fitted.base, fitted.stats, fitted.config, back)
    assert gen.identity()["transforms"]["trained_steps"] == 7
    (lora,) = gen.generate([TEXTS[2]])
    assert lora.meta["trained"] is True
    with pytest.raises(ModelMismatchError, match="made for base model"):
        KVTransforms.load(path, make_tiny_base(name="another-model", num_layers=3))
    with pytest.raises(ModelMismatchError, match="train transforms for this base model"):
        MemoryGenerator(fitted.base, fitted.stats, fitted.config, KVTransforms(5, 8, 8, 2))
    with pytest.raises(InputError, match="no transforms.json"):
        KVTransforms.load(tmp_path / "nowhere", fitted.base)
    info = json.loads((path / "transforms.json").read_text())
    (path / "transforms.json").write_text(json.dumps({**info, "stats_version": 1}))
    with pytest.raises(ModelMismatchError, match="statistics version 1"):
        KVTransforms.load(path, fitted.base)
    (path / "transforms.json").write_text(json.dumps(info))
    (path / "transforms.safetensors").write_bytes(b"junk")
    with pytest.raises(CorruptFileError, match="corrupt"):
        KVTransforms.load(path, fitted.base)


def test_training_lowers_the_loss_and_resume_restores_the_step(fitted, tmp_path) -> None:
    final = train_memory(_cfg(tmp_path, steps=12), progress=False, generator=fitted)
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    history = state["history"]
    assert state["step"] == 12 and [h["step"] for h in history] == [0, 2, 4, 6, 8, 10, 12]
    assert history[-1]["own"] < history[0]["own"] - 0.05, history  # the toy set is learnt
    trained = KVTransforms.load(final, fitted.base)
    assert trained.trained_steps == 12 and float(trained.P.abs().max()) > 0
    assert trained.generation == {"positions_per_chunk": 4}  # what reading the training documents used

    # resume: continues at step 12 and stops at 14, from the checkpoint's transforms and optimizer
    final = train_memory(_cfg(tmp_path, steps=14), progress=False, generator=fitted)
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 14 and [h["step"] for h in state["history"]][-2:] == [12, 14]
    assert KVTransforms.load(final, fitted.base).trained_steps == 14


def test_training_from_transforms_with_a_scorer_reads_with_that_scorer(fitted, tmp_path) -> None:
    """init transforms that carry a position scorer (the packaged ones do): the training documents are read with it,
    so the keys trained on are the ones generation with the result stores; the result counts the init's steps too."""
    t = _transforms(fitted)
    scorer = {k: fitted.stats[k].clone() for k in ("mu", "sd", "w")}
    scorer["w"] = -scorer["w"]
    t.scorer = scorer
    t.trained_steps = 5
    t.save(tmp_path / "init", fitted.base)
    own_w = fitted.stats["w"].clone()
    final = train_memory(_cfg(tmp_path, steps=2, init=str(tmp_path / "init")), progress=False, generator=fitted)
    assert torch.equal(fitted.stats["w"], scorer["w"]) and not torch.equal(own_w, scorer["w"])
    assert torch.equal(KVTransforms.load(final, fitted.base).scorer["w"], scorer["w"])
    assert KVTransforms.load(final, fitted.base).trained_steps == 5 + 2  # the starting transforms' steps and this run's


def test_selected_training_writes_each_question_its_sentence(fitted, tmp_path) -> None:
    """write="selected": one record per question over the sentence that holds its answer; the loss falls."""
    from test_store import HashEmbedder

    from doc2lora_rag.generators.memory.select import positions_in
    from doc2lora_rag.training.memory_trainer import per_question

    docs, _ = _split(_cfg(tmp_path))
    items = per_question(docs[:3], 2, 1, HashEmbedder(), 0)
    assert len(items) == 6 and all(len(d.qas) == 1 for d, _ in items)
    for doc, spans in items:
        (a, b), answer = spans[0], doc.qas[0].answers[0]
        assert answer in doc.text[a:b]  # the chosen sentence, or the one holding the answer
        record = fitted.selected_record(doc.text, spans)
        enc = fitted.base.tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
        want = positions_in(enc["offset_mapping"], spans)
        assert 0 < record.value_ids.numel() <= len(want)  # a chunk's last position is not stored
        assert set(record.value_ids.tolist()) <= {enc["input_ids"][p + 1] for p in want}
    final = train_memory(_cfg(tmp_path, steps=12, write="selected", docs_per_step=2), progress=False, generator=fitted,
                         embedder=HashEmbedder())
    history = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["history"]
    assert history[-1]["own"] < history[0]["own"] - 0.05, history
    assert KVTransforms.load(final, fitted.base).trained_steps == 12


def _gold_teacher(gen: MemoryGenerator, docs, folder, wrong: str = "") -> None:
    """A teacher cache whose answers are the gold ones with all probability on them (the format `build_teacher_cache`
    writes), so that the teacher loss must teach what the gold loss teaches; the question `wrong` answered "nobody"."""
    from safetensors.torch import save_file

    from doc2lora_rag.training.common import answer_ids
    from doc2lora_rag.training.teacher import _key

    folder.mkdir(parents=True)
    ids, index, offsets = [], {}, [0]
    for doc in docs:
        for qa in doc.qas:
            index[_key(doc.doc_id, qa.question)] = ["shard-00000.safetensors", len(offsets) - 1]
            ids += answer_ids(gen.base.tokenizer, "nobody" if qa.question == wrong else qa.answers[0])
            offsets.append(len(ids))
    top = torch.tensor(ids)[:, None].repeat(1, 16)
    top[:, 1:] = (top[:, 1:] + torch.arange(1, 16)) % gen.base.config.vocab_size
    logp = torch.full(top.shape, -30.0)
    logp[:, 0] = 0.0
    save_file({"ids": torch.tensor(ids, dtype=torch.int32), "topk_ids": top.to(torch.int32),
               "topk_logp": logp.half(), "offsets": torch.tensor(offsets)}, str(folder / "shard-00000.safetensors"))
    (folder / "index.json").write_text(json.dumps(index))


def test_teacher_loss_trains_on_the_cached_answers(fitted, tmp_path) -> None:
    """loss="teacher": the rows are the teacher's answers (here the gold ones) and their top-k; the text the teacher
    reads for a selected record is its sentence after the document's first line."""
    from test_store import HashEmbedder

    from doc2lora_rag.training.memory_trainer import _taught, per_question, stored_text
    from doc2lora_rag.training.teacher import TeacherCache

    docs, _ = _split(_cfg(tmp_path))
    doc, spans = per_question(docs[:3], 2, 1, HashEmbedder(), 0)[1]
    shown = stored_text(doc, spans)
    first = doc.text[: doc.text.index(".")]
    assert shown.doc_id == doc.doc_id and shown.qas == doc.qas and doc.text[slice(*spans[0])] in shown.text
    assert shown.text.startswith(first) and len(shown.text) < len(doc.text)
    assert stored_text(doc, None) is doc
    _gold_teacher(fitted, docs, tmp_path / "teacher", wrong=QUESTIONS[0][0])
    cache = TeacherCache(tmp_path / "teacher")
    every = {(d.doc_id, q.question) for d in docs for q in d.qas}
    assert _taught(docs, cache, fitted.base.tokenizer, False) == every  # all answered
    assert _taught(docs, cache, fitted.base.tokenizer, True) == {k for k in every if k[1] != QUESTIONS[0][0]}  # holding gold
    final = train_memory(_cfg(tmp_path, steps=12, write="selected", docs_per_step=2, loss="teacher",
                              teacher_cache=str(tmp_path / "teacher")), progress=False, generator=fitted, embedder=HashEmbedder())
    history = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["history"]
    assert history[-1]["own"] < history[0]["own"] - 0.05, history  # gold NLL on the validation documents
    assert KVTransforms.load(final, fitted.base).trained_steps == 12
    with pytest.raises(ConfigError, match="loss"):
        MemoryTrainConfig(loss="kl")


def test_sentence_targets_put_the_sentence_holding_the_answer_first() -> None:
    from doc2lora_rag.synth.documents import QA, SynthDoc
    from doc2lora_rag.training.memory_trainer import sentence_targets

    long = "Later " + " ".join(["very"] * 40) + " long sentence naming Oslo."
    doc = SynthDoc("d", "Merros Holdings was founded by Ada Quist. It employs 212 people. " + long,
                   (QA("Who founded Merros Holdings?", ("Ada Quist", "Quist"), "x"),
                    QA("How many staff?", ("212",), "x"), QA("Where?", ("Oslo",), "x"), QA("What?", ("absent",), "x")))
    qas = sentence_targets(doc).qas
    assert qas[0].answers == ("Merros Holdings was founded by Ada Quist.", "Ada Quist", "Quist")
    assert qas[1].answers == ("It employs 212 people.", "212")
    assert qas[2].answers == ("Oslo",) and qas[3].answers == ("absent",)  # too long a sentence; not in the text


def test_clause_targets_put_the_clause_holding_the_answer_first() -> None:
    from doc2lora_rag.synth.documents import QA, SynthDoc
    from doc2lora_rag.training.memory_trainer import clause_targets

    text = ("Mehdi Dogguy led Debian from April 2016 until April 2017, when Chris Lamb took over. The ferry, run by "
            "Cal Mac since 1967, carries cars. Later " + " ".join(["very"] * 20) + " long clause naming Oslo at last.")
    doc = SynthDoc("d", text, (QA("When?", ("April 2016",), "x"), QA("Who?", ("Chris Lamb",), "x"),
                               QA("Since?", ("1967",), "x"), QA("Where?", ("Oslo",), "x"), QA("What?", ("absent",), "x"),
                               QA("Whole?", ("The ferry",), "x")))
    qas = clause_targets(doc).qas
    assert qas[0].answers == ("Mehdi Dogguy led Debian from April 2016 until April 2017", "April 2016")
    assert qas[1].answers == ("when Chris Lamb took over.", "Chris Lamb")
    assert qas[2].answers == ("run by Cal Mac since 1967", "1967")
    assert qas[3].answers == ("long clause naming Oslo at last.", "Oslo")  # over 12 words: the answer and 3 words a side
    assert qas[4].answers == ("absent",)  # not in the text: unchanged
    assert qas[5].answers == ("The ferry",)  # the clause is the answer itself: nothing to put first


def test_prefix_targets_say_the_sentence_up_to_the_answer() -> None:
    from doc2lora_rag.synth.documents import QA, SynthDoc
    from doc2lora_rag.training.memory_trainer import prefix_targets

    text = ("Mehdi Dogguy led Debian from April 2016 until April 2017, when Chris Lamb took over. Cal Mac runs it, "
            "they say. The ferry, run by Cal Mac, carries cars. Later " + " ".join(["very"] * 30) + " Oslo.")
    doc = SynthDoc("d", text, (QA("When?", ("April 2016",), "x"), QA("Who?", ("Chris Lamb",), "x"),
                               QA("Which?", ("Cal Mac",), "x"), QA("Where?", ("Oslo",), "x"),
                               QA("What?", ("absent",), "x"), QA("Whole?", ("The ferry",), "x")))
    qas = prefix_targets(doc).qas
    assert qas[0].answers == ("Mehdi Dogguy led Debian from April 2016", "April 2016")  # stops at the answer
    assert qas[1].answers == ("Mehdi Dogguy led Debian from April 2016 until April 2017, when Chris Lamb", "Chris Lamb")
    assert qas[2].answers == ("Cal Mac runs it", "Cal Mac")  # opens its sentence: through the end of its clause
    assert qas[3].answers == ("Oslo",)  # over 30 words: unchanged
    assert qas[4].answers == ("absent",)  # not in the text: unchanged
    assert qas[5].answers == ("The ferry",)  # opens its sentence and is its whole clause: nothing to put first


def test_training_config_is_checked(tmp_path) -> None:
    with pytest.raises(ConfigError, match="kind"):
        MemoryTrainConfig(kind="hypernet")
    with pytest.raises(ConfigError, match="rank"):
        MemoryTrainConfig(rank=0)
    with pytest.raises(ConfigError, match="write"):
        MemoryTrainConfig(write="sentences")
    with pytest.raises(ConfigError, match="target"):
        MemoryTrainConfig(target="span")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"kind": "memory", "docs": 10, "ranks": 4}))
    with pytest.raises(ConfigError, match="unknown training config keys \\['ranks'\\]"):
        MemoryTrainConfig.from_file(path)
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"text": TEXTS[0], "questions": [{"question": "Who?", "answers": ["Wenmaine Ammann"]}]}) + "\n")
    with pytest.raises(ConfigError, match="at least eval_docs"):
        _split(_cfg(tmp_path, corpus=str(small)))


def test_cli_memory_generator_trained_or_closed_form(fitted, tmp_path, monkeypatch) -> None:
    from doc2lora_rag.cli_model import _generator

    monkeypatch.setenv("DOC2LORA_CACHE", str(tmp_path / "cache"))
    folder = fitted.save(tmp_path / "both")
    _transforms(fitted).save(folder, fitted.base)
    assert _generator("memory", str(folder), fitted.base).transforms is not None
    assert _generator("memory", str(folder), fitted.base, closed_form=True).transforms is None
    with pytest.raises(InputError, match="--generator memory only"):
        _generator("hypernet", None, fitted.base, closed_form=True)
    with pytest.raises(InputError, match="not a folder"):
        _generator("memory", str(tmp_path / "missing"), fitted.base)


def test_default_fits_statistics_on_first_use_and_attaches_transforms(make_tiny_base, tmp_path, monkeypatch) -> None:
    from doc2lora_rag.generators.memory import cache_path

    monkeypatch.setenv("DOC2LORA_CACHE", str(tmp_path / "cache"))
    base = make_tiny_base(num_layers=3)
    folder = KVTransforms(2, base.target_shape("down_proj")[0], base.config.hidden_size, 4).save(tmp_path / "t", base)
    gen = MemoryGenerator.default(base, folder, progress=False)  # no statistics anywhere: fitted and cached
    assert gen.transforms is not None and gen.fit_info["texts"] == 200
    assert (cache_path(base.name) / "config.json").is_file()
    (lora,) = gen.generate([TEXTS[1]])
    assert lora.meta["trained"] is True
    wrong = KVTransforms(5, 8, 8, 2).save(tmp_path / "wrong", base)
    with pytest.raises(ModelMismatchError, match="train transforms for this base model"):
        MemoryGenerator.default(base, wrong, progress=False)


def test_transforms_bring_the_positions_they_were_trained_with(fitted, tmp_path) -> None:
    folder = fitted.save(tmp_path / "both")
    t = _transforms(fitted)
    t.generation = {"positions_per_chunk": 3}
    t.save(folder, fitted.base)
    assert MemoryGenerator.default(fitted.base, folder).config.positions_per_chunk == 3
    assert MemoryGenerator.default(fitted.base, folder, positions_per_chunk=5).config.positions_per_chunk == 5  # the caller wins
    assert MemoryGenerator.default(fitted.base, folder, trained=False).config.positions_per_chunk == MemoryConfig().positions_per_chunk
    info = json.loads((folder / "transforms.json").read_text())
    (folder / "transforms.json").write_text(json.dumps({**info, "generation": [3]}))
    with pytest.raises(CorruptFileError, match="'generation' must be an object"):
        KVTransforms.load(folder, fitted.base)


def test_transforms_carry_the_position_scorer_they_were_trained_with(fitted, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    t = _transforms(fitted)
    plain = t.fingerprint()
    scorer = {k: fitted.stats[k].clone() for k in ("mu", "sd", "w")}
    scorer["w"] = -scorer["w"]  # the opposite ranking of positions
    t.scorer = scorer
    assert t.fingerprint() != plain
    t.save(tmp_path / "t", fitted.base)
    back = KVTransforms.load(tmp_path / "t", fitted.base)
    assert back.fingerprint() == t.fingerprint() and torch.equal(back.scorer["w"], scorer["w"])
    gen = MemoryGenerator(fitted.base, fitted.stats, fitted.config, back)
    assert torch.equal(gen.stats["w"], scorer["w"]) and not torch.equal(fitted.stats["w"], scorer["w"])
    _, _, picks_own = fitted.read([fitted.tokenize(TEXTS[0])[:16]])
    _, _, picks_new = gen.read([gen.tokenize(TEXTS[0])[:16]])
    assert not torch.equal(picks_own[0], picks_new[0])
    tensors = load_file(str(tmp_path / "t" / "transforms.safetensors"))
    del tensors["scorer.w"]
    save_file(tensors, str(tmp_path / "t" / "transforms.safetensors"))
    with pytest.raises(CorruptFileError, match="partial position scorer"):
        KVTransforms.load(tmp_path / "t", fitted.base)


def test_hold_out_keeps_a_development_sets_passages_out_of_training(tmp_path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": TEXTS[i % len(TEXTS)],
                                          "questions": [{"question": "Who?", "answers": ["x"]}]}) + "\n" for i in range(12)))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(["d0", "d5", "d11"]))
    train, held = _split(_cfg(tmp_path, corpus=str(corpus), hold_out=str(ids), eval_docs=2, docs_per_step=2))
    assert [d.doc_id for d in train + held] == [f"d{i}" for i in range(12) if i not in (0, 5, 11)]
    ids.write_text(json.dumps({"d0": 1}))
    with pytest.raises(ConfigError, match="list of document ids"):
        _split(_cfg(tmp_path, corpus=str(corpus), hold_out=str(ids)))
    with pytest.raises(ConfigError, match="not a readable JSON"):
        _split(_cfg(tmp_path, corpus=str(corpus), hold_out=str(tmp_path / "missing.json")))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(["d3"]))
    (tmp_path / "more.json").write_text(json.dumps(["d7"]))
    train, held = _split(_cfg(tmp_path, corpus=str(corpus), hold_out=[str(other), str(tmp_path / "more.json")],
                              eval_docs=2, docs_per_step=2))
    assert [d.doc_id for d in train + held] == [f"d{i}" for i in range(12) if i not in (3, 7)]
    other.write_text(json.dumps(["n0", "n1"]))  # the ids of another corpus: training would read the development passages
    with pytest.raises(ConfigError, match="none of the 2 ids"):
        _split(_cfg(tmp_path, corpus=str(corpus), hold_out=str(other)))


def test_selected_training_with_a_whole_document_term(fitted, tmp_path, monkeypatch) -> None:
    """doc_weight: a selected-write step also trains the whole-document write; its validation NLL is logged and falls."""
    from test_store import HashEmbedder

    train_memory(_cfg(tmp_path, steps=12, write="selected", docs_per_step=2, doc_weight=0.5), progress=False,
                 generator=fitted, embedder=HashEmbedder())
    history = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["history"]
    assert history[-1]["document_own"] < history[0]["document_own"] - 0.05, history
    assert history[-1]["own"] < history[0]["own"] - 0.05, history
    assert len(list((tmp_path / "run" / "records").glob("records-*.pt"))) == 4  # selected and whole, training and held out

    def no_reading(*args, **kwargs):
        raise AssertionError("a resumed run read its corpus again")

    monkeypatch.setattr(memory_trainer, "_records", no_reading)
    train_memory(_cfg(tmp_path, steps=14, write="selected", docs_per_step=2, doc_weight=0.5), progress=False,
                 generator=fitted, embedder=HashEmbedder())
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["step"] == 14
    with pytest.raises(ConfigError, match="doc_weight"):
        _cfg(tmp_path, doc_weight=0.5)  # write 'document'
    with pytest.raises(ConfigError, match="doc_weight"):
        _cfg(tmp_path, write="selected", doc_weight=-1.0)

