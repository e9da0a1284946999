"""Meta-training pieces: trainer steps, checkpoint + resume, held-out NLL; teacher cache on the real model."""

from __future__ import annotations

import json

import pytest
import torch

from doc2lora_rag import AdapterGenerator
from doc2lora_rag.errors import ConfigError
from doc2lora_rag.synth import make_corpus
from doc2lora_rag.training.teacher import TeacherCache, build_teacher_cache
from doc2lora_rag.training.trainer import TrainConfig, lr_factor, train


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(out_dir=str(tmp_path / "run"), steps=3, docs_per_step=2, qas_per_doc=2, warmup_steps=1,
                checkpoint_every=1, eval_every=2, eval_docs=2, max_tokens=100, max_chunk_tokens=32, chunk_prob=0.5,
                hypernet={"latent_dim": 32, "num_blocks": 1, "num_heads": 2})
    base.update(kw)
    return TrainConfig(**base)


def test_train_checkpoints_resumes_and_learns(tmp_path, make_tiny_base) -> None:
    cfg = _cfg(tmp_path, steps=2)
    final = train(cfg, progress=False, base=make_tiny_base())
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2
    assert [h["step"] for h in state["history"]] == [2]
    first = state["history"][0]
    assert all(torch.isfinite(torch.tensor(first[k])) for k in ("own", "wrong", "none"))

    # resume: a new process state (fresh base) continues at step 2 and stops at 3
    final = train(_cfg(tmp_path, steps=3), progress=False, base=make_tiny_base())
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 3
    gen = AdapterGenerator.from_pretrained(final, make_tiny_base())
    assert gen.trained_steps == 3
    # training moved the B scales off zero: the generator now emits non-zero adapters
    (lora,) = gen.generate(["Quifo Ltd was founded in 1987 by Vela Morant."])
    assert float(lora.b["down_proj"].abs().max()) > 0


def test_init_from_a_generator_with_the_contrastive_term(tmp_path, make_tiny_base) -> None:
    first = train(_cfg(tmp_path, steps=2), progress=False, base=make_tiny_base())
    start = AdapterGenerator.from_pretrained(first, make_tiny_base())
    cfg = _cfg(tmp_path, out_dir=str(tmp_path / "more"), steps=2, init_from=str(first), contrastive=1.0, margin=2.0)
    final = train(cfg, progress=False, base=make_tiny_base())
    state = json.loads((tmp_path / "more" / "checkpoint" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["history"]] == [0, 2]  # the starting point is evaluated first
    assert state["init_from"] == str(first) and state["init_steps"] == 2
    gen = AdapterGenerator.from_pretrained(final, make_tiny_base())
    assert gen.trained_steps == 4  # steps of the starting generator + this run's
    moved = [not torch.equal(p, q) for p, q in zip(gen.hypernet.parameters(), start.hypernet.parameters())]
    assert any(moved)
    with pytest.raises(ConfigError, match="docs_per_step"):
        TrainConfig(contrastive=1.0, docs_per_step=1)


def test_lr_schedule_warms_up_then_decays() -> None:
    cfg = TrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(100, cfg) == pytest.approx(0.1)
    timed = TrainConfig(steps=100, warmup_steps=10, time_budget_s=100.0)
    assert lr_factor(20, timed, elapsed_s=100.0) == pytest.approx(timed.min_lr_ratio)


def test_train_config_rejects_bad_values(tmp_path) -> None:
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(loss="mse")
    with pytest.raises(ConfigError, match="teacher_cache"):
        TrainConfig(loss="teacher")
    bad = tmp_path / "cfg.json"
    bad.write_text(json.dumps({"steps": 3, "learning_rate": 1}))
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_file(bad)


@pytest.mark.real_model
def test_teacher_cache_is_resumable_and_holds_topk(tmp_path, real_base) -> None:
    doc = make_corpus(1, "train", seed=3, max_tokens=100)[0]
    short = type(doc)(doc.doc_id, doc.text, doc.qas[:2])
    cache = build_teacher_cache([short], real_base, tmp_path / "teacher", batch_size=2, max_new_tokens=24, progress=False)
    assert 1 <= len(cache) <= 2
    hit = next(q for q in short.qas if cache.get(short.doc_id, q.question) is not None)
    ids, top_ids, top_logp = cache.get(short.doc_id, hit.question)
    assert top_ids.shape == (len(ids), 16) and top_logp.shape == (len(ids), 16)
    assert torch.all(top_logp[:, :-1] >= top_logp[:, 1:])  # sorted, best first
    assert torch.all(top_ids[:, 0] == torch.tensor(ids))  # greedy: the answer token is the teacher's top-1
    files = sorted(p.name for p in (tmp_path / "teacher").iterdir())
    again = build_teacher_cache([short], real_base, tmp_path / "teacher", batch_size=2, max_new_tokens=24, progress=False)
    assert len(again) == len(cache) and sorted(p.name for p in (tmp_path / "teacher").iterdir()) == files
    assert len(TeacherCache(tmp_path / "teacher")) == len(cache)
    assert len(cache.index) == 2 and all(cache.asked(short.doc_id, q.question) for q in short.qas)
    # answers cut by the cap are dropped and kept as asked: a resumed build does not ask them again
    tight = build_teacher_cache([short], real_base, tmp_path / "tight", batch_size=2, max_new_tokens=1, progress=False)
    assert len(tight.index) == 2 and len(tight) < 2 and any(v is None for v in tight.index.values())
    assert (short.doc_id, short.qas[0].question) not in tight or tight.get(short.doc_id, short.qas[0].question) is not None
    before = (tmp_path / "tight" / "index.json").stat().st_mtime_ns
    build_teacher_cache([short], real_base, tmp_path / "tight", batch_size=2, max_new_tokens=1, progress=False)
    assert (tmp_path / "tight" / "index.json").stat().st_mtime_ns == before  # nothing asked, nothing written
