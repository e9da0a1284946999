"""DistillGenerator: the context-distillation (CD) baseline behind the generator interface.

Text in, `LoraWeights` out, like `AdapterGenerator`, but by a few gradient steps per chunk instead of
one hypernetwork forward pass (the "CD" baseline of the reference, ../shared/research/d2l.md §3.5):

1. The text is split into K near-equal chunks of at most `max_chunk_tokens` base-model tokens.
2. For each chunk, `text_prompts.build_prompts` makes up to `max_prompts` training prompts from the chunk text
   itself (never from evaluation questions; see its docstring for the design).
3. Teacher: the frozen base model with the chunk in the prompt answers every prompt greedily
   (batched, at most `max_answer_tokens` new tokens); its answer tokens and top-`top_k` log-probs
   at every answer position are kept.
4. Student: the base model plus a fresh rank-`rank` LoRA on `targets` of `layers` (A small random,
   B zero: it starts as the base model exactly), prompt WITHOUT the chunk. Loss: cross-entropy of the
   student against the teacher's top-k probabilities (not renormalised) on answer tokens, mean per
   answer, then over answers. `steps` Adam steps over mini-batches of `batch_size` prompts.
5. The chunk adapters are concatenated along the rank axis (rank `rank` * K), as in
   `AdapterGenerator.generate`.

Only core modules are imported (never `doc2lora_rag.training`); the small top-k loss is written here
rather than shared with `training/student.py`.

Defaults (steps 24, mini-batch 4, Adam lr 5e-3, answers capped at 32 tokens, 16 prompts) were picked
on SmolLM2-135M over three held-out documents against 12x16 lr 3e-3 / 12x16 lr 1e-2 / 16x4 lr 5e-3 /
8x8 lr 1e-2 / an extra "about" prompt style. Cost on CPU: ~55 CPU-seconds for a ~90-token chunk and
~80 for a 500-token one (one thread; the teacher's prefill grows with the chunk, the student's steps
do not), i.e. roughly 30-50 s wall on two free cores.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ...base_model import BaseModel
from ...errors import ConfigError, InputError
from ...lora import LoraSlots, LoraWeights
from ...objective import AnswerBatch, answer_logprobs, build_answer_batch, per_answer_mean
from ...prompts import left_pad, prompt_ids
from ..protocol import Text, check_texts, token_pieces
from .text_prompts import PROMPT_STYLES, build_prompts

# -- configuration -------------------------------------------------------------------------------


@dataclass
class DistillConfig:
    """Settings of `DistillGenerator`; every field is checked in `__post_init__` (ConfigError names it)."""

    rank: int = 8
    targets: tuple[str, ...] = ("down_proj",)
    layers: tuple[int, ...] | None = None  # None: every layer of the base model
    steps: int = 24
    lr: float = 5e-3
    batch_size: int = 4  # prompts per Adam step (cycled over the chunk's prompts)
    max_prompts: int = 16
    prompt_styles: tuple[str, ...] = ("summary", "facts", "entity", "cloze")
    max_answer_tokens: int = 32
    top_k: int = 16
    max_chunk_tokens: int = 512
    teacher_batch_size: int = 16
    grad_clip: float = 1.0  # 0 disables clipping
    seed: int = 0

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DistillConfig.{name} must be a positive int, got {v!r}")

        for name in ("rank", "steps", "batch_size", "max_prompts", "max_answer_tokens", "top_k", "teacher_batch_size"):
            positive_int(name)
        if not isinstance(self.max_chunk_tokens, int) or isinstance(self.max_chunk_tokens, bool) or self.max_chunk_tokens < 8:
            raise ConfigError(f"DistillConfig.max_chunk_tokens must be an int >= 8, got {self.max_chunk_tokens!r}")
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not (0 < self.lr < 1) or not math.isfinite(self.lr):
            raise ConfigError(f"DistillConfig.lr must be a float in (0, 1), got {self.lr!r}")
        if not isinstance(self.grad_clip, (int, float)) or self.grad_clip < 0:
            raise ConfigError(f"DistillConfig.grad_clip must be >= 0 (0 disables it), got {self.grad_clip!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"DistillConfig.seed must be an int, got {self.seed!r}")
        if isinstance(self.targets, str) or not self.targets or not all(isinstance(t, str) for t in self.targets):
            raise ConfigError(f"DistillConfig.targets must be a non-empty list of module names, got {self.targets!r}")
        self.targets = tuple(self.targets)
        if self.layers is not None:
            if isinstance(self.layers, (str, int)) or not self.layers or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in self.layers
            ):
                raise ConfigError(f"DistillConfig.layers must be None or a non-empty list of layer indices >= 0, got {self.layers!r}")
            if len(set(self.layers)) != len(self.layers):
                raise ConfigError(f"DistillConfig.layers has duplicates: {list(self.layers)}")
            self.layers = tuple(self.layers)
        if isinstance(self.prompt_styles, str) or not self.prompt_styles:
            raise ConfigError(f"DistillConfig.prompt_styles must be a non-empty list, got {self.prompt_styles!r}")
        unknown = [s for s in self.prompt_styles if s not in PROMPT_STYLES]
        if unknown:
            raise ConfigError(f"DistillConfig.prompt_styles has unknown styles {unknown}; choose from {list(PROMPT_STYLES)}")
        self.prompt_styles = tuple(self.prompt_styles)


# -- teacher and student -------------------------------------------------------------------------


@dataclass
class TeacherAnswer:
    """The teacher's greedy answer to one prompt, with its top-k probabilities per answer token."""

    prompt: str
    ids: list[int]  # answer tokens (ending with the end-of-turn token unless cut by the cap)
    topk_ids: torch.Tensor  # (n, k) long
    topk_p: torch.Tensor  # (n, k) teacher probabilities (top-k, not renormalised)


@dataclass
class _Batch(AnswerBatch):
    topk_ids: torch.Tensor | None = None  # (P, k) teacher top-k token ids
    topk_p: torch.Tensor | None = None  # (P, k) teacher top-k probabilities


@dataclass
class FitReport:
    """What fitting one chunk did (kept on the generator as `last_reports`)."""

    prompts: list[str]
    answers: list[str]
    losses: list[float] = field(default_factory=list)
    teacher_s: float = 0.0  # wall-clock seconds
    train_s: float = 0.0
    cpu_s: float = 0.0  # process CPU seconds of teacher + training (all threads)


class DistillGenerator:
    """Context distillation per chunk: text in, `LoraWeights` out (see the module docstring)."""

    reads_pieces = True  # `generate` takes a text as its pieces (protocol.token_pieces)

    def __init__(self, base: BaseModel, config: DistillConfig | None = None) -> None:
        if config is None:
            config = DistillConfig()
        if not isinstance(config, DistillConfig):
            raise ConfigError(f"config must be a DistillConfig or None, got {type(config).__name__}")
        self.base = base
        self.config = config
        self.layers = tuple(config.layers) if config.layers is not None else tuple(range(base.num_layers))
        if max(self.layers) >= base.num_layers:
            raise ConfigError(f"DistillConfig.layers goes up to {max(self.layers)} but base model {base.name!r} has {base.num_layers} layers")
        for t in config.targets:
            try:
                base.target_shape(t)
            except InputError as exc:
                raise ConfigError(f"DistillConfig.targets: {exc}") from exc
        try:  # the AnswerEngine's defaults when it creates them, so an engine created later on this base works as usual
            self.slots: LoraSlots = base.ensure_slots(config.targets, num_slots=4, max_rank=max(64, config.rank))
        except ConfigError as exc:
            raise ConfigError(f"DistillConfig.targets: {exc}") from exc
        self.max_chunk_tokens = config.max_chunk_tokens
        tok = base.tokenizer
        end_id = tok.convert_tokens_to_ids("<|im_end|>")
        self.end_id = end_id if isinstance(end_id, int) and end_id != tok.unk_token_id else tok.eos_token_id
        self.last_reports: list[FitReport] = []

    @classmethod
    def from_identity(cls, base: BaseModel, ident: dict[str, Any]) -> DistillGenerator:
        """The generator an `identity()` describes (how a store reloads the generator that built it)."""
        config = DistillConfig(
            rank=ident["rank"], targets=tuple(ident["targets"]), layers=tuple(ident["layers"]), steps=ident["steps"],
            lr=ident["lr"], max_prompts=ident["max_prompts"], prompt_styles=tuple(ident["prompt_styles"]), seed=ident["seed"],
        )
        return cls(base, config)

    def identity(self) -> dict[str, Any]:
        c = self.config
        return {"kind": "distill", "base_model": self.base.name, "steps": c.steps, "rank": c.rank, "lr": c.lr,
                "targets": sorted(c.targets), "layers": list(self.layers), "max_prompts": c.max_prompts,
                "prompt_styles": list(c.prompt_styles), "seed": c.seed}

    def tokenize(self, text: str) -> list[int]:
        return self.base.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- teacher -----------------------------------------------------------------------------

    @torch.no_grad()
    def teacher_answers(self, chunk: str, prompts: Sequence[str]) -> list[TeacherAnswer]:
        """Greedy answers of the base model with `chunk` in the prompt, with top-k probabilities."""
        tok, c, dev = self.base.tokenizer, self.config, self.base.device
        out: list[TeacherAnswer] = []
        for start in range(0, len(prompts), c.teacher_batch_size):
            group = list(prompts[start : start + c.teacher_batch_size])
            rows = [prompt_ids(tok, p, context=chunk) for p in group]
            ids, mask = left_pad(rows, tok.pad_token_id)
            T = ids.shape[1]
            with self.slots.use(None):
                gen = self.base.model.generate(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=c.max_answer_tokens,
                    do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
                    eos_token_id=self.end_id, output_logits=True, return_dict_in_generate=True,
                )
            logits = torch.stack(gen.logits, dim=1)  # (B, steps, V)
            new = gen.sequences[:, T:]
            for i, p in enumerate(group):
                seq = new[i].tolist()
                n = seq.index(self.end_id) + 1 if self.end_id in seq else len(seq)
                if not seq or seq[0] == self.end_id:
                    continue  # an empty answer teaches nothing
                top = F.log_softmax(logits[i, :n].float(), dim=-1).topk(c.top_k, dim=-1)
                out.append(TeacherAnswer(p, seq[:n], top.indices.cpu(), top.values.exp().cpu()))
        return out

    # -- student -----------------------------------------------------------------------------

    def _batch(self, answers: Sequence[TeacherAnswer]) -> _Batch:
        dev = self.base.device
        # no context in the student prompt: the adapter has to supply it
        b = build_answer_batch(self.base.tokenizer, [a.prompt for a in answers], [a.ids for a in answers], dev)
        return _Batch(**vars(b), topk_ids=torch.cat([a.topk_ids for a in answers]).to(dev),
                      topk_p=torch.cat([a.topk_p for a in answers]).to(dev))

    def _student_logprobs(self, batch: _Batch, a: dict[str, torch.Tensor] | None, b: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """Log-probs (P, V) at the answer positions, every row with the same adapter (or none)."""
        if a is None:
            return answer_logprobs(self.base, batch)
        N = batch.input_ids.shape[0]
        live_a = {t: v.unsqueeze(0).expand(N, *v.shape) for t, v in a.items()}
        live_b = {t: v.unsqueeze(0).expand(N, *v.shape) for t, v in b.items()}
        return answer_logprobs(self.base, batch, (live_a, live_b, self.layers))

    @staticmethod
    def _loss(batch: _Batch, logp: torch.Tensor) -> torch.Tensor:
        """Top-k cross-entropy against the teacher, mean per answer, then over answers."""
        return per_answer_mean(-(batch.topk_p * logp.gather(1, batch.topk_ids)).sum(-1), batch).mean()

    def distill_loss(self, answers: Sequence[TeacherAnswer], lora: LoraWeights | None) -> float:
        """The objective on `answers` with `lora` active (None: the base model), without gradients."""
        batch = self._batch(answers)
        with torch.no_grad(), self.slots.lock:
            if lora is None:
                return float(self._loss(batch, self._student_logprobs(batch, None, None)))
            f = lora.folded()
            a = {t: f.a[t].to(self.base.device, self.base.dtype) for t in f.targets}
            b = {t: f.b[t].to(self.base.device, self.base.dtype) for t in f.targets}
            return float(self._loss(batch, self._student_logprobs(batch, a, b)))

    # -- fitting -----------------------------------------------------------------------------

    def _init_params(self, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed)
        r, L = self.config.rank, len(self.layers)
        a, b = {}, {}
        for t in self.config.targets:
            d_in, d_out = self.base.target_shape(t)
            bound = 1.0 / math.sqrt(d_in)  # kaiming_uniform(a=sqrt(5)), as nn.Linear and PEFT's lora_A
            a[t] = ((torch.rand(L, r, d_in, generator=g) * 2 - 1) * bound).to(self.base.device, self.base.dtype).requires_grad_(True)
            b[t] = torch.zeros(L, d_out, r, device=self.base.device, dtype=self.base.dtype, requires_grad=True)
        return a, b

    def fit_chunk(self, chunk: str, seed: int | None = None) -> tuple[LoraWeights, FitReport]:
        """Fit one rank-`rank` adapter to one chunk of text; returns it with a report (losses, timings)."""
        if not isinstance(chunk, str) or not chunk.strip():
            raise InputError(f"chunk must be a non-empty string, got {chunk!r}")
        c = self.config
        seed = c.seed if seed is None else seed
        prompts = build_prompts(chunk, c.max_prompts, c.prompt_styles)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        with self.slots.lock:
            answers = self.teacher_answers(chunk, prompts)
        teacher_s = time.perf_counter() - t0
        tok = self.base.tokenizer
        report = FitReport([x.prompt for x in answers], [tok.decode(x.ids, skip_special_tokens=True) for x in answers], teacher_s=teacher_s)
        a, b = self._init_params(seed)
        if answers:
            order_gen = torch.Generator().manual_seed(seed + 1)
            batches = [self._batch(answers)] if c.batch_size >= len(answers) else None
            opt = torch.optim.Adam([*a.values(), *b.values()], lr=c.lr)
            params = [*a.values(), *b.values()]
            perm: list[int] = []
            t1 = time.perf_counter()
            with torch.enable_grad(), self.slots.lock:
                for _ in range(c.steps):
                    if batches is not None:
                        batch = batches[0]
                    else:  # cycle through a fresh permutation of the prompts
                        if len(perm) < c.batch_size:
                            perm += torch.randperm(len(answers), generator=order_gen).tolist()
                        pick, perm = perm[: c.batch_size], perm[c.batch_size :]
                        batch = self._batch([answers[i] for i in pick])
                    loss = self._loss(batch, self._student_logprobs(batch, a, b))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if c.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, c.grad_clip)
                    opt.step()
                    report.losses.append(float(loss.detach()))
            report.train_s = time.perf_counter() - t1
        report.cpu_s = time.process_time() - cpu0
        lora = LoraWeights(
            {t: v.detach().float().cpu() for t, v in a.items()}, {t: v.detach().float().cpu() for t, v in b.items()},
            self.layers, 1.0, self.base.name, self.base.config.model_type,
            {"generator": "distill", "chunks": 1, "steps": c.steps},
        )
        return lora, report

    def generate(self, texts: Sequence[Text]) -> list[LoraWeights]:
        """One adapter per text (or its pieces, `token_pieces`): rank `rank` * number of chunks, chunk adapters
        rank-concatenated."""
        texts = check_texts(texts)
        tok = self.base.tokenizer
        out, reports = [], []  # reports: one FitReport per chunk of every text, kept as last_reports
        for i, text in enumerate(texts):
            chunks = token_pieces(self.tokenize, text, self.max_chunk_tokens)
            if not chunks:
                raise InputError(f"texts[{i}] produced no tokens; pass real text")
            whole = text if isinstance(text, str) else "".join(text)
            parts = []
            for k, chunk_ids in enumerate(chunks):
                chunk = tok.decode(chunk_ids, skip_special_tokens=True)
                if not chunk.strip():  # a chunk of whitespace only: nothing to learn, zero adapter
                    chunk = whole
                lora, report = self.fit_chunk(chunk, seed=self.config.seed + k)
                parts.append(lora)
                reports.append(report)
            c = self.config
            out.append(LoraWeights(
                {t: torch.cat([p.a[t] for p in parts], dim=1) for t in c.targets},
                {t: torch.cat([p.b[t] for p in parts], dim=2) for t in c.targets},
                self.layers, 1.0, self.base.name, self.base.config.model_type,
                {"generator": "distill", "chunks": len(parts), "steps": c.steps},
            ))
        self.last_reports = reports
        return out
