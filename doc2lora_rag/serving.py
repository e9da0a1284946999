"""Answering by adapter id: what the framework distributions (langchain-doc2lora, llama-index-*-doc2lora) share.

Framework-free (the distributions translate their framework's objects to these calls):

- `core_store`: the `doc2lora_rag.store.AdapterStore` behind a store or a framework wrapper of one;
- `shared_engine`: one `AnswerEngine` per base model (engines on one model share its LoRA slots, and
  each engine keeps its own slot cache, so two live engines on one model could serve stale weights);
- `load_adapters`: adapters by id, ready to switch in together (memory adapters: one joint write),
  keyed by id *and* content so a re-added id never reuses a stale slot;
- `answer` / `stream`: one engine call (question, optional context text, adapter ids) with stop
  sequences applied the same way to whole answers and to streamed pieces (`StopFilter`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .lora import LoraWeights

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "ROUTING_KEYS",
    "StopFilter",
    "TextEmbeddingRouter",
    "answer",
    "check_adapter_ids",
    "check_engine",
    "check_filter_keys",
    "check_question",
    "check_stop",
    "core_store",
    "count_tokens",
    "cut_at_stop",
    "load_adapters",
    "metadata_keys",
    "prompt_tokens",
    "routing_keys",
    "shared_engine",
    "stream",
]

DEFAULT_MAX_NEW_TOKENS = 128
ROUTING_KEYS = ("adapter_id", "doc_id", "group_index", "score")  # what AdapterStore.search adds to metadata

_ENGINES: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_ENGINES_LOCK = threading.Lock()


def _is_core_store(obj: Any) -> bool:
    return obj is not None and all(callable(getattr(obj, name, None)) for name in ("search", "adapter", "routed_adapters", "get_by_ids", "entries"))


def core_store(store: Any) -> Any:
    """The core AdapterStore: `store` itself, or the one a wrapper (AdapterVectorStore, AdapterIndex) holds as `.store`."""
    if _is_core_store(store):
        return store
    inner = getattr(store, "store", None)
    if _is_core_store(inner):
        return inner
    raise InputError(
        f"expected a doc2lora_rag.store.AdapterStore (or an integration object holding one as .store), got {type(store).__name__}; "
        "open one with AdapterStore(path, generator)"
    )


class TextEmbeddingRouter:
    """An embedding model with ``get_text_embedding_batch`` / ``get_query_embedding`` (a LlamaIndex
    embedding) seen as the ``embed_documents`` / ``embed_query`` object an AdapterStore routes with.

    ``name`` (recorded with the routing keys) is the model's ``routing_name`` when it has one, else
    ``<class>:<model_name>``.
    """

    def __init__(self, embed_model: Any) -> None:
        for method in ("get_text_embedding_batch", "get_query_embedding"):
            if not callable(getattr(embed_model, method, None)):
                raise InputError(f"embed_model must be a LlamaIndex embedding (with {method}), got {type(embed_model).__name__}")
        self.embed_model = embed_model
        self.name = getattr(embed_model, "routing_name", None) or f"{type(embed_model).__name__}:{getattr(embed_model, 'model_name', '')}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_model.get_text_embedding_batch(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self.embed_model.get_query_embedding(text)


def shared_engine(base: Any, **engine_kwargs: Any) -> Any:
    """The live AnswerEngine of `base`, created on first use (one per base model while it is referenced).

    `engine_kwargs` (num_slots, max_rank, targets) apply only when the engine is created.
    """
    from .llm import AnswerEngine

    with _ENGINES_LOCK:
        engine = _ENGINES.get(id(base))
        if engine is None or engine.base is not base:
            engine = AnswerEngine(base, **engine_kwargs)
            _ENGINES[id(base)] = engine
        return engine


def check_engine(engine: Any) -> Any:
    for name in ("answer", "stream"):
        if not callable(getattr(engine, name, None)):
            raise InputError(f"engine must be a doc2lora_rag.llm.AnswerEngine (with answer/stream), got {type(engine).__name__}")
    return engine


def check_adapter_ids(ids: Any) -> list[str]:
    """A list of adapter ids, duplicates removed (first occurrence kept); None means no adapters."""
    if ids is None:
        return []
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise InputError(f"adapter_ids must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap one id as [id]")
    out: list[str] = []
    for i, item in enumerate(ids):
        if not isinstance(item, str) or not item:
            raise InputError(f"adapter_ids[{i}] must be a non-empty str, got {item!r:.80}")
        if item not in out:
            out.append(item)
    return out


def load_adapters(store: Any, ids: Sequence[str]) -> list[LoraWeights]:
    """The adapters of `ids` from the store, ready to switch in together (`AdapterStore.routed_adapters`).

    An id the store no longer has (deleted or replaced since it was retrieved) raises InputError naming it.
    """
    if not ids:
        return []
    store = _holding(store, ids, "adapter_ids", "adapter ids", "load them from")
    return store.routed_adapters(list(ids))


def _holding(store: Any, ids: Sequence[str], argument: str, label: str, use: str) -> Any:
    """The core store, after checking that there is one and that it still has every entry of `ids` (InputError
    naming the missing ones: deleted or replaced since they were retrieved)."""
    if store is None:
        raise InputError(f"{argument} {list(ids)[:5]} were given but no store to {use}; pass store=AdapterStore(...)")
    store = core_store(store)
    missing = [i for i in ids if store.manifest.entry_file(i) is None]
    if missing:
        raise InputError(
            f"{label} {missing[:5]} are not in store {store.path} (deleted or replaced since they were retrieved); "
            "retrieve again, or pass ids from the store's search results"
        )
    return store


def selected_adapters(store: Any, question: str, ids: Sequence[str], sentences: int = 1) -> list[LoraWeights]:
    """One adapter written for `question` over the texts of the entries `ids` (`rag.write_for_question`: the memory
    generator's write over their sentences that best match the question), or none without ids."""
    if not ids:
        return []
    from .rag import write_for_question

    store = _holding(store, ids, "select_ids", "select ids", "read them from")
    found = {e.id: e for e in store.manifest.entries(ids=list(ids))}
    return [write_for_question(store, question, [found[i].text for i in ids], sentences, [found[i].doc_id for i in ids])]


def routing_keys(store: Any, ids: Sequence[str]) -> np.ndarray:
    """The stored routing keys (unit vectors, one row per id in the order of `ids`) of a store's entries.

    Raises InputError when the store routes without keys (BM25) or an id has none.
    """
    store = core_store(store)
    if not store.router.uses_keys:
        raise InputError(f"store {store.path} routes with {store.router.mode!r}, which keeps no embedding keys; open it with a dense or hybrid router")
    wanted = set(ids)
    keys = {i: key for i, _, key in store.manifest.routing_rows() if i in wanted and key is not None}
    missing = [i for i in ids if i not in keys]
    if missing:
        raise InputError(f"no routing keys for {missing[:5]} in store {store.path}; they were deleted since they were retrieved")
    return np.stack([np.frombuffer(keys[i], dtype=np.float32) for i in ids]) if ids else np.zeros((0, 0), dtype=np.float32)


def metadata_keys(store: Any) -> set[str]:
    """Every metadata key of the store's entries (routing keys excluded): what a filter may name."""
    return {key for entry in core_store(store).entries() for key in entry.metadata}


def check_filter_keys(store: Any, keys: Iterable[str]) -> None:
    """InputError when a filter names a metadata key that no entry of the store has (a typo would match nothing)."""
    keys = set(keys)
    if not keys:
        return
    known = metadata_keys(store)
    unknown = sorted(keys - known)
    if unknown and len(core_store(store)) > 0:
        raise InputError(f"filter names metadata keys {unknown} that no document in the store has; known keys: {sorted(known)}")


def check_stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if not isinstance(stop, Iterable) or not all(isinstance(s, str) for s in stop):
        raise InputError(f"stop must be a str or a list of str, got {stop!r:.80}")
    return [s for s in stop if s]


def _stop_index(text: str, stop: Sequence[str]) -> int:
    found = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(found) if found else -1


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the earliest stop sequence (right-stripped), or all of it."""
    i = _stop_index(text, stop)
    return text[:i].rstrip() if i >= 0 else text


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"the question must be a non-empty str, got {question!r:.80}")
    return question


class StopFilter:
    """Turns raw streamed pieces into what callers see: leading and trailing whitespace dropped (as
    in whole answers) and nothing from the first stop sequence on. Pieces are held back only while
    they could still be the start of a stop sequence or trailing whitespace."""

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self.stop = list(stop)
        self._hold = max((len(s) - 1 for s in self.stop), default=0)
        self._buf = ""
        self._started = False
        self.done = False

    def feed(self, piece: str) -> str:
        if self.done:
            return ""
        if not self._started:
            piece = piece.lstrip()
            if not piece:
                return ""
            self._started = True
        self._buf += piece
        i = _stop_index(self._buf, self.stop)
        if i >= 0:
            out = self._buf[:i].rstrip()
            self._buf, self.done = "", True
            return out
        emit = min(len(self._buf) - self._hold, len(self._buf.rstrip()))
        if emit <= 0:
            return ""
        out, self._buf = self._buf[:emit], self._buf[emit:]
        return out

    def flush(self) -> str:
        out = "" if self.done else self._buf.rstrip()
        self._buf, self.done = "", True
        return out


def answer(
    engine: Any,
    store: Any,
    question: str,
    *,
    context: str | None = None,
    adapter_ids: Sequence[str] = (),
    select_ids: Sequence[str] = (),
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> tuple[str, Any, dict[str, float]]:
    """(answer text cut at `stop`, the engine's Answer, timings) with the adapters of `adapter_ids` active
    (with `context` too, greedy: the text decides the tokens it is sure of, as `StoreQA`'s hybrid mode), and an
    adapter written for the question over the texts of `select_ids` (`selected_adapters`).

    Timings: ``adapter_s`` (loading, combining or writing the adapters), ``generate_s``, ``total_s``.
    """
    check_question(question)
    t0 = time.perf_counter()
    adapters = load_adapters(store, adapter_ids) + selected_adapters(store, question, select_ids)
    t1 = time.perf_counter()
    out = engine.answer(question, adapters or None, context, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop,
                        defer_to_text=_defer(temperature, bool(select_ids)))
    t2 = time.perf_counter()
    return cut_at_stop(out.text, stop), out, {"adapter_s": t1 - t0, "generate_s": t2 - t1, "total_s": t2 - t0}


def stream(
    engine: Any,
    store: Any,
    question: str,
    *,
    context: str | None = None,
    adapter_ids: Sequence[str] = (),
    select_ids: Sequence[str] = (),
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> Iterator[str]:
    """The answer piece by piece (non-empty pieces; their concatenation equals `answer(...)[0]`).

    The question is checked and the adapters are loaded at the call, before the first piece is requested.
    """
    check_question(question)
    adapters = load_adapters(store, adapter_ids) + selected_adapters(store, question, select_ids)
    pieces = engine.stream(question, adapters or None, context, max_new_tokens=max_new_tokens, temperature=temperature, stop=stop,
                           defer_to_text=_defer(temperature, bool(select_ids)))
    return _filtered(pieces, StopFilter(stop))


def _defer(temperature: float, selected: bool) -> float | None:
    """Adapters next to text in the prompt defer to it as in `StoreQA` hybrid mode (`rag.default_hybrid_defer`: the
    selected write's threshold where a write for the question is among them); greedy only."""
    from .rag import default_hybrid_defer

    return default_hybrid_defer("selected" if selected else "same") if temperature == 0 else None


def _filtered(pieces: Iterator[str], stop_filter: StopFilter) -> Iterator[str]:
    try:
        for piece in pieces:
            out = stop_filter.feed(piece)
            if out:
                yield out
            if stop_filter.done:
                return
        tail = stop_filter.flush()
        if tail:
            yield tail
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def prompt_tokens(engine: Any, question: str, context: str | None = None) -> int:
    """Tokens of the prompt the engine builds for `question` (and `context`)."""
    from .prompts import prompt_ids

    return len(prompt_ids(engine.base.tokenizer, question, context))


def count_tokens(engine: Any, text: str) -> int:
    """Tokens of `text` under the engine's tokenizer (streamed answers: the re-tokenized length)."""
    return len(engine.base.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
