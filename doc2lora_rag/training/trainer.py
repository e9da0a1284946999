"""Meta-training loop for the hypernetwork (CPU or CUDA), with checkpoints, resume and a progress bar.

One step: sample documents (fresh synthetic ones each step, or from a JSONL corpus), sometimes split
each into K chunks, generate their adapters differentiably, run the student (question only) with each
row's own adapter, and minimise per-answer, per-document cross-entropy on the answer tokens (gold
answers, or the teacher's top-k probabilities from a teacher cache) plus L1 on the generated A and B.

Optional contrastive term (`contrastive` > 0): the same rows are also run with another document's
adapter (a fresh derangement each step) and a hinge asks the own adapter's gold-answer NLL to beat the
wrong one's by `margin` nats, so a document-independent answer prior earns nothing on it.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..base_model import load_base_model
from ..errors import ConfigError
from ..files import atomic_write
from ..generators.hypernet import AdapterGenerator
from .common import answer_ids, config_from_file, load_optimizer, lr_factor, run_steps, save_optimizer, start_step  # noqa: F401 (re-exported)
from .student import answer_losses, build_student_batch, doc_adapters, per_doc_mean, student_logprobs

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    out_dir: str = "runs/smollm2"
    base_model: str = "smollm2-135m-instruct"
    corpus: str = "synthetic"  # "synthetic" (fresh documents every step) or a JSONL path with gold answers
    steps: int = 2000
    time_budget_s: float = 0.0  # stop (and save) after this many seconds of training; 0 = no limit
    docs_per_step: int = 4
    qas_per_doc: int = 4
    lr: float = 1e-3
    scale_lr: float = 1e-2
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    l1: float = 0.01
    contrastive: float = 0.0  # weight of the own-vs-wrong-adapter hinge (0 = off)
    margin: float = 1.0  # nats per token the own adapter's gold NLL should beat a wrong adapter's by
    init_from: str = ""  # a generator directory to start from (e.g. the shipped weights); ignored on resume
    loss: str = "gold"  # "gold": CE on gold answers; "teacher": CE against cached teacher top-k
    teacher_cache: str = ""
    chunk_prob: float = 0.25  # probability that a document is split into K in [2, max_chunks]
    max_chunks: int = 4
    min_tokens: int = 60
    max_tokens: int = 400
    max_chunk_tokens: int = 512
    checkpoint_every: int = 100
    eval_every: int = 200
    eval_docs: int = 24
    seed: int = 0
    threads: int = 0
    hypernet: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss not in ("gold", "teacher"):
            raise ConfigError(f"TrainConfig.loss must be 'gold' or 'teacher', got {self.loss!r}")
        if self.loss == "teacher" and not self.teacher_cache:
            raise ConfigError("TrainConfig.loss='teacher' needs teacher_cache: build one with doc2lora_rag.training.teacher")
        for name in ("steps", "docs_per_step", "qas_per_doc", "max_chunks", "checkpoint_every", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.contrastive < 0 or self.margin < 0:
            raise ConfigError(f"TrainConfig.contrastive and margin must be >= 0, got {self.contrastive}, {self.margin}")
        if self.contrastive and self.docs_per_step < 2:
            raise ConfigError("TrainConfig.contrastive needs docs_per_step >= 2 (a wrong adapter comes from another document)")
        if not 0.0 <= self.chunk_prob <= 1.0:
            raise ConfigError(f"TrainConfig.chunk_prob must be in [0, 1], got {self.chunk_prob}")

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        return config_from_file(cls, path, overrides)


class DocSource:
    """Documents with QA pairs: fresh synthetic ones per step, or sampled from a fixed corpus."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.pool = None
        if cfg.corpus != "synthetic":
            from ..synth import load_jsonl_corpus

            self.pool = [d for d in load_jsonl_corpus(cfg.corpus) if any(q.answers for q in d.qas)]
            if not self.pool:
                raise ConfigError(f"{cfg.corpus} has no documents with gold answers; add \"answers\" to its questions")

    def batch(self, step: int):
        from ..synth import make_corpus

        cfg = self.cfg
        if self.pool is None:
            return make_corpus(cfg.docs_per_step, "train", seed=cfg.seed * 1_000_003 + step,
                               min_tokens=cfg.min_tokens, max_tokens=cfg.max_tokens)
        rng = random.Random(cfg.seed * 1_000_003 + step)
        return rng.sample(self.pool, min(cfg.docs_per_step, len(self.pool)))


def make_step_inputs(gen: AdapterGenerator, docs, cfg: TrainConfig, rng: random.Random, teacher=None):
    tok = gen.base.tokenizer
    docs_ids, ks, rows, teach = [], [], [], []
    for d, doc in enumerate(docs):
        ids = gen.tokenize(doc.text)[: cfg.max_chunk_tokens * cfg.max_chunks]
        k = math.ceil(len(ids) / cfg.max_chunk_tokens)
        if rng.random() < cfg.chunk_prob:
            k = max(k, rng.randint(2, cfg.max_chunks))
        k = max(1, min(k, len(ids) // 16))
        docs_ids.append(ids)
        ks.append(k)
        qas = [q for q in doc.qas if q.answers]
        for qa in rng.sample(qas, min(cfg.qas_per_doc, len(qas))):
            if teacher is not None:
                entry = teacher.get(doc.doc_id, qa.question)
                if entry is None:
                    continue
                rows.append((d, qa.question, entry[0]))
                teach.append((entry[1], entry[2]))
            else:
                rows.append((d, qa.question, answer_ids(tok, qa.answers[0])))
    return docs_ids, ks, rows, (teach if teacher is not None else None)


@torch.no_grad()
def heldout_nll(gen: AdapterGenerator, docs, cfg: TrainConfig) -> dict[str, float]:
    """Teacher-forced gold-answer NLL per token on held-out docs: own adapter, wrong adapter, none."""
    rng = random.Random(1234)
    docs_ids, ks, rows, _ = make_step_inputs(gen, docs, TrainConfig(**{**asdict(cfg), "chunk_prob": 0.0}), rng)
    batch = build_student_batch(gen.base.tokenizer, rows, gen.base.device)
    a_doc, b_doc = doc_adapters(gen, docs_ids, ks)
    out = {}
    D = len(docs)
    for name, row_doc, use in (("own", batch.row_doc, True), ("wrong", (batch.row_doc + 1) % D, True), ("none", None, False)):
        logp = student_logprobs(gen, batch, a_doc if use else None, b_doc if use else None, row_doc)
        out[name] = float(answer_losses(batch, logp, False).mean())
    out["gap"] = out["wrong"] - out["own"]
    return out


def train(cfg: TrainConfig, progress: bool = True, base: Any = None) -> Path:
    """Run (or resume) meta-training; returns the directory of the final generator.

    `base`: an already loaded BaseModel (default: load `cfg.base_model`).
    """
    from tqdm.auto import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    ckpt = out / "checkpoint"
    base = base if base is not None else load_base_model(cfg.base_model)
    base.ensure_slots(num_slots=1, max_rank=8)  # the live adapters of a step need the wrapped Linears, not the slots
    state_path = ckpt / "trainer_state.json"
    if state_path.is_file():
        gen = AdapterGenerator.from_pretrained(ckpt, base)
        state = json.loads(state_path.read_text())
        logger.info("resuming from step %d", state["step"])
    elif cfg.init_from:
        gen = AdapterGenerator.from_pretrained(cfg.init_from, base)
        state = {"step": 0, "history": [], "train_seconds": 0.0, "init_from": str(cfg.init_from),
                 "init_steps": gen.trained_steps}
        logger.info("starting from %s (%d steps)", cfg.init_from, gen.trained_steps)
    else:
        torch.manual_seed(cfg.seed)
        gen = AdapterGenerator.untrained(base, **dict(cfg.hypernet))
        state = {"step": 0, "history": [], "train_seconds": 0.0}
    gen.max_chunk_tokens = cfg.max_chunk_tokens
    teacher = None
    if cfg.loss == "teacher":
        from .teacher import TeacherCache

        teacher = TeacherCache(cfg.teacher_cache)
    hn = gen.hypernet
    hn.train()
    scale_ids = {id(p) for p in hn.scale_parameters()}
    groups = [
        {"params": [p for p in hn.parameters() if id(p) not in scale_ids], "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": list(hn.scale_parameters()), "lr": cfg.scale_lr, "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups)
    if (ckpt / "optimizer.safetensors").is_file() and state["step"]:
        load_optimizer(opt, ckpt / "optimizer.safetensors")
    source = DocSource(cfg)
    from ..synth import make_corpus

    eval_docs = make_corpus(cfg.eval_docs, "heldout", seed=cfg.seed + 7, min_tokens=cfg.min_tokens, max_tokens=cfg.max_tokens)
    (out).mkdir(parents=True, exist_ok=True)
    atomic_write(out / "train_config.json", lambda tmp: Path(tmp).write_text(json.dumps(asdict(cfg), indent=2)))
    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not progress, dynamic_ncols=True)
    t_start = time.perf_counter() - state["train_seconds"]

    def save(step: int) -> None:
        gen.trained_steps = state.get("init_steps", 0) + step
        state["step"], state["train_seconds"] = step, time.perf_counter() - t_start
        gen.save_pretrained(ckpt, training={"config": asdict(cfg), "train_seconds": state["train_seconds"]})
        save_optimizer(opt, ckpt / "optimizer.safetensors")
        atomic_write(state_path, lambda tmp: Path(tmp).write_text(json.dumps(state, indent=1)))

    def evaluate(step: int, ema: float | None = None) -> None:
        hn.eval()
        metrics = heldout_nll(gen, eval_docs, cfg)
        hn.train()
        metrics.update(step=step, loss_ema=ema, minutes=(time.perf_counter() - t_start) / 60)
        state["history"].append(metrics)
        logger.info("eval %s", json.dumps(metrics))
        bar.write(f"step {step}: held-out NLL own {metrics['own']:.3f} wrong {metrics['wrong']:.3f} none {metrics['none']:.3f}")

    def step_loss(step: int) -> tuple[torch.Tensor, float, int] | None:
        rng = random.Random(cfg.seed * 7919 + step)
        docs = source.batch(step)
        docs_ids, ks, rows, teach = make_step_inputs(gen, docs, cfg, rng, teacher)
        if not rows:
            return None
        batch = build_student_batch(base.tokenizer, rows, base.device, teach)
        a_doc, b_doc = doc_adapters(gen, docs_ids, ks)
        logp = student_logprobs(gen, batch, a_doc, b_doc)
        answer_loss = answer_losses(batch, logp, cfg.loss == "teacher")
        task = per_doc_mean(answer_loss, batch.row_doc)
        l1 = sum(v.abs().mean() for v in a_doc.values()) + sum(v.abs().mean() for v in b_doc.values())
        loss = task + cfg.l1 * l1
        if cfg.contrastive and len(docs_ids) > 1:
            wrong = (batch.row_doc + rng.randint(1, len(docs_ids) - 1)) % len(docs_ids)
            own_nll = answer_losses(batch, logp, False) if cfg.loss == "teacher" else answer_loss
            wrong_nll = answer_losses(batch, student_logprobs(gen, batch, a_doc, b_doc, wrong), False)
            hinge = torch.relu(cfg.margin + own_nll - wrong_nll)
            loss = loss + cfg.contrastive * per_doc_mean(hinge, batch.row_doc)
        return loss, float(task.detach()), len(rows)

    step = state["step"]
    if step == 0 and cfg.init_from:  # the starting point's held-out NLL, so the curve shows what training added
        evaluate(0)
    step = run_steps(cfg, opt, list(hn.parameters()), step, t_start, bar, step_loss, evaluate, save)
    save(step)
    bar.close()
    final = out / "final"  # save(step) above set gen.trained_steps
    hn.eval()
    gen.save_pretrained(final, training={"config": asdict(cfg), "train_seconds": state["train_seconds"],
                                         "history": state["history"]})
    return final
