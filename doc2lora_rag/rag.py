"""Answering from an AdapterStore: route the question, switch the chosen adapters in, generate.

Modes (`StoreQA.MODES`):
  adapter  the top-k routed adapters are active (memory adapters: one joint write over their keys; others
           rank-concatenated); no retrieved text in the prompt
  rag      classic retrieval: the k routed chunk-group texts are joined into the prompt; no adapter
  hybrid   both: the k routed texts in the prompt and adapters; which adapters is `hybrid_adapters`:
           "same" the k groups whose text is in the prompt, "next" the k groups routed after them (the
           adapters carry what the prompt has no room for, never a second copy of its text), "selected" the
           selected write (below) over the texts in the prompt. The text decides every token it is sure of
           (`hybrid_defer`, `default_hybrid_defer`), the adapters the rest
  selected one memory adapter written for the question: the routed texts are read once more and the write holds
           the positions of the `sentences` sentences among them closest to the question, by the router's
           embedder (`MemoryGenerator.generate_for`); no retrieved text in the prompt. Memory-generator stores only
  none     the bare base model (no routing)

Default mode (`default_mode`): "selected" for a store of the memory generator that routes with an embedder (it
answered 0.346 of the prose test questions and 0.347 of the technical ones where the whole-document adapters answered
0.150 and 0.084, README), "adapter" for every other store. Hybrid's adapters follow it (`default_hybrid_adapters`):
"selected" for such a store, "same" for every other.

Relevance gate: with `threshold`, when the best routing score is below it nothing retrieved is used
(no adapter, no text) and the result says so (`gated=True`). Routing scores depend on the router
mode (cosine in [-1, 1] for dense, BM25 scores, [0, 1] per query for hybrid).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .lora import LoraWeights

__all__ = ["MODES", "QAResult", "StoreQA", "default_hybrid_adapters", "default_hybrid_defer", "default_mode",
           "write_for_question"]

MODES = ("adapter", "rag", "hybrid", "selected", "none")
HYBRID_SCALE = 1.0  # the adapters' strength next to the routed text in hybrid mode (benchmarks/memory_store.py)
HYBRID_ADAPTERS = ("same", "next", "selected")  # which routed groups' adapters hybrid mode switches in (module docstring)
# hybrid mode: the text decides each token its reading without adapters gives >= this probability (prose dev, k=1:
# 0.1 -> 0.453, 0.2 -> 0.467, 0.3 -> 0.440, 0.6 -> 0.240, adapters throughout 0.267; classic RAG 0.467)
HYBRID_DEFER = 0.2
# the same threshold next to the selected write (prose dev, n = 75, with the loop guard, sessions 19-20; classic RAG
# 0.467 / 0.427 / 0.320 at k = 1 / 2 / 4): 0.2 -> 0.507 / 0.440 / 0.413, 0.3 -> 0.547 / 0.467 / 0.480,
# 0.4 -> 0.533 / 0.520 / 0.467 (the best mean, and the best length-aware score at every k)
HYBRID_DEFER_SELECTED = 0.4
CONTEXT_SEPARATOR = "\n\n"


def default_mode(store: Any) -> str:
    """The mode a store answers in when none is named: "selected" where its generator writes for a question and its
    router has an embedder to choose the sentences with, else "adapter" (module docstring)."""
    writes = callable(getattr(getattr(store, "generator", None), "generate_for", None))
    return "selected" if writes and getattr(getattr(store, "router", None), "embedder", None) is not None else "adapter"


def default_hybrid_adapters(store: Any) -> str:
    """The adapters hybrid mode switches in when none are named: "selected" (the selected write over the texts in the
    prompt) where the store's `default_mode` is "selected", else "same" (the routed groups' own). Prose dev, k = 1 / 4:
    0.480 / 0.387 against classic RAG's 0.467 / 0.320 (session 15); prose test, k = 1 / 2 / 4: 0.275 / 0.359 / 0.307
    against the groups' own adapters' 0.281 / 0.294 / 0.275 (sessions 11, 16)."""
    return "selected" if default_mode(store) == "selected" else "same"


def default_hybrid_defer(hybrid_adapters: str) -> float:
    """The deferring threshold of hybrid mode when none is named: `HYBRID_DEFER_SELECTED` next to the selected write,
    `HYBRID_DEFER` next to the routed groups' own adapters ("same", "next"), each chosen on prose dev."""
    return HYBRID_DEFER_SELECTED if hybrid_adapters == "selected" else HYBRID_DEFER


def write_for_question(store: Any, question: str, texts: list[str], sentences: int = 1,
                       doc_ids: list[str] | None = None) -> LoraWeights:
    """The selected write: one adapter of the store's memory generator for `question`, over the `sentences` sentences
    of `texts` (joined as in the prompt of rag mode) that best match it, chosen with the store's routing embedder.
    `doc_ids`: the store's document of each text; each sentence is then scored after its document's first line (its
    title; prose dev, the answer inside the chosen sentence at k = 1 / 2 / 4: 0.587 / 0.653 / 0.707 against 0.613 /
    0.613 / 0.600 after the first routed text's first line, `benchmarks/sentence_choice.py --routed`, session 16)."""
    from .generators.memory.select import first_sentence, joined

    gen = store.generator
    if not callable(getattr(gen, "generate_for", None)):
        raise InputError(f"the selected write needs a store built with the memory generator, this one uses "
                         f"{type(gen).__name__}; use mode 'adapter' (or hybrid_adapters 'same')")
    embedder = getattr(store.router, "embedder", None)
    if embedder is None:
        raise InputError("the selected write chooses sentences with the store's embedder, and this store routes without one "
                         "(BM25); open it with a dense or hybrid router")
    if doc_ids is None:
        return gen.generate_for(CONTEXT_SEPARATOR.join(texts), question, embedder, sentences)
    if len(doc_ids) != len(texts):
        raise InputError(f"write_for_question got {len(doc_ids)} doc_ids for {len(texts)} texts; pass one per text")
    firsts = store.first_texts([d for d in doc_ids if d])
    text, spans, titles = joined(texts, CONTEXT_SEPARATOR, [first_sentence(firsts.get(d, "")) for d in doc_ids])
    return gen.generate_for(text, question, embedder, sentences, spans, titles)


@dataclass
class QAResult:
    """An answer and what it was grounded on.

    `adapter_ids`: adapters switched into the model (empty in rag/none mode and when gated).
    `sources`: metadata of the routed entries, best first (each has "adapter_id", "doc_id", "score");
    `scores` aligned with them. When `gated`, they were routed but not used.
    `timings`: route_s, adapter_s (loading adapters), generate_s, total_s. `adapter_bytes`: the adapters switched in
    (`LoraWeights.nbytes`, as loaded or written for the question).
    """

    answer: str
    mode: str
    adapter_ids: list[str]
    sources: list[dict[str, Any]]
    scores: list[float]
    timings: dict[str, float]
    prompt_tokens: int
    gated: bool = False
    context: str | None = field(default=None, repr=False)
    adapter_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer, "mode": self.mode, "adapter_ids": list(self.adapter_ids), "sources": list(self.sources),
            "scores": list(self.scores), "timings": dict(self.timings), "prompt_tokens": self.prompt_tokens, "gated": self.gated,
            "adapter_bytes": self.adapter_bytes,
        }


@dataclass
class _Prepared:
    mode: str
    adapters: list[LoraWeights]
    context: str | None
    adapter_ids: list[str]
    sources: list[dict[str, Any]]
    scores: list[float]
    gated: bool
    route_s: float
    adapter_s: float


class StoreQA:
    """Question answering over an `AdapterStore` with an `llm.AnswerEngine`.

    Setup: an AdapterStore (ingested). Instantiate: `qa = StoreQA(store)` (the engine is built on
    the store generator's base model when not given). Use: `qa.answer("question", k=2)` (the store's
    `default_mode`; or name one: `mode="rag"`) or `for piece in qa.stream(...)`.
    """

    MODES = MODES

    def __init__(self, store: Any, engine: Any = None, hybrid_scale: float = HYBRID_SCALE,
                 hybrid_adapters: str | None = None, hybrid_defer: float | str | None = "auto",
                 sentences: int = 1) -> None:
        """`hybrid_scale`: in hybrid mode the adapters are scaled by this factor, so that the text in the
        prompt decides where it holds the answer (1.0 = the adapters at full strength). `hybrid_adapters`:
        "same", "next" or "selected" (module docstring); None: the store's `default_hybrid_adapters`.
        `hybrid_defer`: in hybrid mode the text in the prompt decides each token that its reading without adapters
        gives at least this probability (`AnswerEngine.answer`'s `defer_to_text`); "auto": `default_hybrid_defer` of
        the hybrid adapters; None switches the adapters in for every token. `sentences`: in selected mode, the
        sentences of the routed texts the write holds."""
        if not isinstance(sentences, int) or isinstance(sentences, bool) or sentences < 1:
            raise InputError(f"sentences must be an int >= 1, got {sentences!r}")
        self.sentences = sentences
        if hybrid_defer is not None and hybrid_defer != "auto" and (
                not isinstance(hybrid_defer, (int, float)) or isinstance(hybrid_defer, bool) or hybrid_defer < 0):
            raise InputError(f"hybrid_defer must be a number >= 0, 'auto' or None, got {hybrid_defer!r}")
        if not isinstance(hybrid_scale, (int, float)) or isinstance(hybrid_scale, bool) or not 0 <= hybrid_scale <= 1:
            raise InputError(f"hybrid_scale must be a number in [0, 1], got {hybrid_scale!r}")
        if hybrid_adapters is not None and hybrid_adapters not in HYBRID_ADAPTERS:
            raise InputError(f"hybrid_adapters must be one of {', '.join(HYBRID_ADAPTERS)} or None, got {hybrid_adapters!r}")
        self.hybrid_scale = float(hybrid_scale)
        for attr in ("search", "routed_adapters"):
            if not callable(getattr(store, attr, None)):
                raise InputError(f"store must be an AdapterStore (with search/routed_adapters), got {type(store).__name__}")
        self.store = store
        self.default_mode = default_mode(store)
        self.hybrid_adapters = default_hybrid_adapters(store) if hybrid_adapters is None else hybrid_adapters
        self.hybrid_defer = (default_hybrid_defer(self.hybrid_adapters) if hybrid_defer == "auto"
                             else None if hybrid_defer is None else float(hybrid_defer))
        if engine is None:
            from .llm import AnswerEngine

            engine = AnswerEngine(store.generator.base)
        self.engine = engine

    @staticmethod
    def _check(mode: Any, k: Any, threshold: Any) -> None:
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise InputError(f"k must be an int >= 1, got {k!r}; pass e.g. k=2")
        if threshold is not None and (not isinstance(threshold, (int, float)) or isinstance(threshold, bool)):
            raise InputError(f"threshold must be a number or None, got {threshold!r}")

    def _prepare(self, question: str, mode: str | None, k: int, threshold: float | None) -> _Prepared:
        mode = self.default_mode if mode is None else mode
        self._check(mode, k, threshold)
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string, got {question!r:.80}")
        t0 = time.perf_counter()
        beyond = mode == "hybrid" and self.hybrid_adapters == "next"
        hits = [] if mode == "none" else self.store.search(question, 2 * k if beyond else k)
        t1 = time.perf_counter()
        sources = [doc.metadata for doc, _ in hits]
        scores = [score for _, score in hits]
        gated = mode != "none" and threshold is not None and (not hits or scores[0] < threshold)
        use = [] if gated else hits
        text_hits, adapter_hits = (use[:k], use[k:]) if beyond else (use, use)
        adapters: list[LoraWeights] = []
        selected = mode == "selected" or (mode == "hybrid" and self.hybrid_adapters == "selected")
        if mode in ("adapter", "hybrid") and adapter_hits and not selected:
            adapters = self.store.routed_adapters([doc.id for doc, _ in adapter_hits])
        if selected and use:
            adapters = [write_for_question(self.store, question, [doc.text for doc, _ in use], self.sentences,
                                           [doc.metadata.get("doc_id", "") for doc, _ in use])]
        if mode == "hybrid" and self.hybrid_scale != 1.0:
            adapters = [a.scaled(self.hybrid_scale) for a in adapters]
        context = CONTEXT_SEPARATOR.join(doc.text for doc, _ in text_hits) if mode in ("rag", "hybrid") and text_hits else None
        t2 = time.perf_counter()
        ids = [doc.id for doc, _ in adapter_hits] if mode in ("adapter", "hybrid", "selected") else []
        return _Prepared(mode, adapters, context, ids, sources, scores, gated, t1 - t0, t2 - t1)

    def answer(
        self, question: str, *, mode: str | None = None, k: int = 2, threshold: float | None = None, max_new_tokens: int = 48
    ) -> QAResult:
        """Route, load adapters, answer (greedy). See the module docstring for the modes and the gate; `mode` None: the
        store's `default_mode`."""
        t0 = time.perf_counter()
        p = self._prepare(question, mode, k, threshold)
        t1 = time.perf_counter()
        out = self.engine.answer(question, p.adapters or None, p.context, max_new_tokens=max_new_tokens, defer_to_text=self._defer(p))
        t2 = time.perf_counter()
        timings = {"route_s": p.route_s, "adapter_s": p.adapter_s, "generate_s": t2 - t1, "total_s": t2 - t0}
        return QAResult(out.text, p.mode, p.adapter_ids, p.sources, p.scores, timings, out.prompt_tokens, p.gated, p.context,
                        sum(a.nbytes for a in p.adapters))

    def stream(
        self, question: str, *, mode: str | None = None, k: int = 2, threshold: float | None = None, max_new_tokens: int = 48
    ) -> Iterator[str]:
        """Like `answer`, yielding the answer text piece by piece (arguments are checked at the call)."""
        p = self._prepare(question, mode, k, threshold)
        return self.engine.stream(question, p.adapters or None, p.context, max_new_tokens=max_new_tokens, defer_to_text=self._defer(p))

    def _defer(self, p: _Prepared) -> float | None:
        return self.hybrid_defer if p.mode == "hybrid" else None
