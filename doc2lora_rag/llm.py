"""Answer engine: the base model answers a question with the chat template, adapters switched in.

Modes are expressed by the arguments: `adapters` (LoRA weights active, no text), `context` (text
in the prompt), both (hybrid) or neither. Adapters are rank-concatenated and copied into a slot;
an LRU keyed by adapter ids keeps recently used combinations resident. Greedy by default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from .base_model import BaseModel
from .errors import InputError
from .lora import LoraSlots, LoraWeights
from .lora.manager import adapter_manager
from .prompts import left_pad, prompt_ids

# deferring decoding: an adapter token that would repeat a 4-token run of the answer goes to the text row (`_DeferToText`)
DEFER_REPEAT_NGRAM = 4


@dataclass
class Answer:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    adapter_ids: list[str] = field(default_factory=list)


class AnswerEngine:
    """Answers questions with the base model, optionally with adapters active and/or text in the prompt."""

    def __init__(self, base: BaseModel, num_slots: int = 4, max_rank: int = 64, targets: Sequence[str] = ("down_proj",),
                 grow: bool = True) -> None:
        """`max_rank`: the slots' rank when this engine creates them; with `grow` they are enlarged when
        a larger adapter combination arrives (memory adapters: 24 per 128-token chunk), else it is refused."""
        self.base = base
        self.slots: LoraSlots = base.ensure_slots(targets, num_slots=num_slots, max_rank=max_rank)
        self.grow = grow
        self.adapters = adapter_manager(base.name)  # which adapter set sits in which slot (LRU)

    @staticmethod
    def _check(question: object, max_new_tokens: int) -> None:
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string, got {question!r}")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")

    def _prepare(self, question: str, adapters, context, max_new_tokens):
        self._check(question, max_new_tokens)
        if isinstance(adapters, LoraWeights):
            adapters = [adapters]
        adapters = list(adapters or [])
        if context is not None and not isinstance(context, str):
            raise InputError(f"context must be a string or None, got {type(context).__name__}")
        ids = prompt_ids(self.base.tokenizer, question, context)
        # id(a) is reused once an adapter is freed, so adapters without an id are not cached at all
        key = "|".join(a.meta["id"] for a in adapters) if all(a.meta.get("id") for a in adapters) else None
        return adapters, ids, key

    def _generate_kwargs(self, ids: list[int], max_new_tokens: int, temperature: float, stop: Sequence[str] = ()) -> dict:
        tok = self.base.tokenizer
        kwargs = dict(
            input_ids=torch.tensor([ids], device=self.base.device),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self.base.device),
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            do_sample=temperature > 0,
        )
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=1.0, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        stop = [s for s in stop if s]
        if stop:  # generation ends at the first stop string; the text still contains it (callers cut it)
            kwargs.update(stop_strings=stop, tokenizer=tok)
        return kwargs

    def _generate(self, adapters: list[LoraWeights], key: str | None, kwargs: dict, defer_to_text: float | None = None) -> torch.Tensor:
        """generate() with the adapters' slot active, holding the slot lock throughout. With `defer_to_text`
        two rows decode in step, without and with the adapters (`_DeferToText`); row 0 is returned."""
        with self.slots.lock, torch.no_grad():
            slot = self.adapters.activate(self.slots, adapters, key, self.grow) if adapters else None
            if defer_to_text is None:
                with self.slots.use(slot):
                    return self.base.model.generate(**kwargs)
            rows = {name: kwargs[name].expand(2, -1) for name in ("input_ids", "attention_mask")}
            if "streamer" in kwargs:
                rows["streamer"] = _FirstRow(kwargs["streamer"])
            with self.slots.use_rows([None, slot]):
                out = self.base.model.generate(**{**kwargs, **rows}, logits_processor=LogitsProcessorList([_DeferToText(defer_to_text)]))
            return out[:1]

    def _check_defer(self, defer_to_text: Any, adapters: list[LoraWeights], context: str | None, temperature: float) -> float | None:
        if defer_to_text is None:
            return None
        if not isinstance(defer_to_text, (int, float)) or isinstance(defer_to_text, bool) or defer_to_text < 0:
            raise InputError(f"defer_to_text must be a probability threshold >= 0 or None, got {defer_to_text!r}")
        if not adapters or context is None:
            return None  # nothing to defer between: one row as usual
        if temperature > 0:
            raise InputError("defer_to_text decodes greedily; pass temperature=0")
        return float(defer_to_text)

    def answer(
        self,
        question: str,
        adapters: Sequence[LoraWeights] | LoraWeights | None = None,
        context: str | None = None,
        *,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        defer_to_text: float | None = None,
    ) -> Answer:
        """Answer `question`; generation ends early at any of `stop` (the returned text may end with it).

        `defer_to_text` (with adapters and `context`, greedy): the text in the prompt wins where it holds the
        answer. Two rows decode in step, one without the adapters and one with them; each step both take the
        first row's token when it gives that token at least this probability, else the second row's, unless
        that one would repeat a run of `DEFER_REPEAT_NGRAM` tokens the answer already holds (0: classic RAG;
        above 1: the adapters throughout, bar such loops). Twice the compute of one row.
        """
        adapters, ids, key = self._prepare(question, adapters, context, max_new_tokens)
        defer = self._check_defer(defer_to_text, adapters, context, temperature)
        t0 = time.perf_counter()
        out = self._generate(adapters, key, self._generate_kwargs(ids, max_new_tokens, temperature, stop), defer)
        new = out[0, len(ids) :]
        text = self.base.tokenizer.decode(new, skip_special_tokens=True).strip()
        return Answer(text, len(ids), int(new.numel()), time.perf_counter() - t0, [a.meta.get("id", "") for a in adapters])

    def stream(
        self,
        question: str,
        adapters: Sequence[LoraWeights] | LoraWeights | None = None,
        context: str | None = None,
        *,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        defer_to_text: float | None = None,
    ) -> Iterator[str]:
        """Yield the answer text piece by piece as tokens are generated (ending early at any of `stop`);
        `defer_to_text` as in `answer`."""
        from transformers import TextIteratorStreamer

        adapters, ids, key = self._prepare(question, adapters, context, max_new_tokens)
        defer = self._check_defer(defer_to_text, adapters, context, temperature)
        streamer = TextIteratorStreamer(self.base.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self._generate(adapters, key, {**self._generate_kwargs(ids, max_new_tokens, temperature, stop), "streamer": streamer}, defer)
            except BaseException as exc:  # surfaced in the consumer thread below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                yield piece
        thread.join()
        if errors:
            raise errors[0]

    def answer_batch(
        self,
        questions: Sequence[str],
        adapters: Sequence[LoraWeights | None] | None = None,
        contexts: Sequence[str | None] | None = None,
        *,
        max_new_tokens: int = 48,
    ) -> list[Answer]:
        """Greedy answers for a batch; row i uses adapters[i] (or none) and contexts[i] (or none).

        Each row's adapter is applied as a per-row tensor (no slot limit), rank-padded within the batch.
        """
        n = len(questions)
        adapters = list(adapters) if adapters is not None else [None] * n
        contexts = list(contexts) if contexts is not None else [None] * n
        if len(adapters) != n or len(contexts) != n:
            raise InputError(f"questions, adapters and contexts must have the same length, got {n}, {len(adapters)}, {len(contexts)}")
        for q in questions:
            self._check(q, max_new_tokens)
        tok = self.base.tokenizer
        rows = [prompt_ids(tok, q, c) for q, c in zip(questions, contexts)]
        dev = self.base.device
        ids, mask = left_pad(rows, tok.pad_token_id)
        T = ids.shape[1]
        live = None
        present = [a for a in adapters if a is not None]
        if present:
            live = stack_rows(adapters, present[0], dev)
        t0 = time.perf_counter()
        with self.slots.lock, torch.no_grad():
            ctx = self.slots.use_live(*live) if live is not None else self.slots.use(None)
            with ctx:
                out = self.base.model.generate(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), max_new_tokens=max_new_tokens,
                    do_sample=False, temperature=None, top_p=None, top_k=None,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                )
        seconds = (time.perf_counter() - t0) / n
        answers = []
        for i, r in enumerate(rows):
            new = out[i, T:]
            keep = new[new != tok.pad_token_id] if tok.pad_token_id != tok.eos_token_id else new
            text = tok.decode(keep, skip_special_tokens=True).strip()
            ad = adapters[i]
            answers.append(Answer(text, len(r), int(keep.numel()), seconds, [ad.meta.get("id", "")] if ad is not None else []))
        return answers


class _DeferToText(LogitsProcessor):
    """Row 0 (text only) and row 1 (text and adapters) take one shared token per step: row 0's greedy
    token when its probability reaches `threshold`, else row 1's, unless row 1's would repeat an n-gram of
    `repeat_ngram` tokens the answer already holds (the loops a memory write falls into: "a week when a week
    when ..."); row 0's then."""

    def __init__(self, threshold: float, repeat_ngram: int = DEFER_REPEAT_NGRAM) -> None:
        self.threshold, self.n, self.start = threshold, repeat_ngram, None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.start is None:
            self.start = input_ids.shape[1]  # the prompt's length: the answer is what follows
        text_row = scores[0].float().softmax(-1)
        token = int(text_row.argmax())
        if text_row.max() < self.threshold:
            adapted = int(scores[1].argmax())
            if not repeats_ngram(input_ids[0, self.start :].tolist() + [adapted], self.n):
                token = adapted
        forced = torch.full_like(scores, float("-inf"))
        forced[:, token] = 0.0
        return forced


def repeats_ngram(tokens: Sequence[int], n: int) -> bool:
    """Whether the last `n` of `tokens` occur earlier in them (n <= 0: never)."""
    if n <= 0 or len(tokens) <= n:
        return False
    last = tuple(tokens[-n:])
    return any(tuple(tokens[i : i + n]) == last for i in range(len(tokens) - n))


class _FirstRow:
    """A streamer for the two-row decoding of `defer_to_text`: passes on the first row only (both rows hold the same tokens)."""

    def __init__(self, streamer: Any) -> None:
        self.streamer = streamer

    def put(self, value: torch.Tensor) -> None:
        self.streamer.put(value[:1])

    def end(self) -> None:
        self.streamer.end()


def stack_rows(adapters: Sequence[LoraWeights | None], like: LoraWeights, device: torch.device | str = "cpu"):
    """Per-row live tensors (a[t] (B, L, R, d_in), b[t] (B, L, d_out, R), layers) on `device`, zeros for None rows."""
    R = max(a.rank for a in adapters if a is not None)
    a_out, b_out = {}, {}
    for t in like.targets:
        L, _, d_in = like.a[t].shape
        d_out = like.b[t].shape[1]
        a_t = torch.zeros(len(adapters), L, R, d_in, device=device)
        b_t = torch.zeros(len(adapters), L, d_out, R, device=device)
        for i, ad in enumerate(adapters):
            if ad is None:
                continue
            if ad.layers != like.layers:
                raise InputError("all adapters in one batch must cover the same layers")
            f = ad.folded()
            a_t[i, :, : f.rank] = f.a[t].to(device, torch.float32)
            b_t[i, :, :, : f.rank] = f.b[t].to(device, torch.float32)
        a_out[t], b_out[t] = a_t, b_t
    return a_out, b_out, like.layers
