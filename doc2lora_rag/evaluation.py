"""Question-answering evaluation: one QA file, one folder of documents, one mode at a time.

QA file: JSONL, one object a line: {"doc": "<file name under DOCS>", "question": "...", "answers": [...]}.
Modes: none (question only), context (whole document in the prompt), adapter (the document's own
generated adapter, no text), wrong-adapter (the adapter of another document of the set, by a fixed
derangement). Every mode uses the same prompt and the same cap on new tokens.

Scoring: a prediction is correct when a normalised gold answer (lower case, punctuation and articles
removed, spaces collapsed) occurs in the normalised prediction as a whole-word sequence, so "6" does
not match "1986". Token F1 is SQuAD's, maximised over the gold answers.
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

MODES = ("none", "context", "adapter", "wrong-adapter")
# an adapter per question: the memory write over the sentences of the document closest to it (`generate_for`);
# "wrong-selected" selects from another document (the control)
SELECTED_MODES = ("selected", "wrong-selected")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalize_answer(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split()


def is_correct(prediction: str, answers: Sequence[str]) -> bool:
    pred = normalize_answer(prediction)
    for gold in answers:
        g = normalize_answer(gold)
        if g and any(pred[i : i + len(g)] == g for i in range(len(pred) - len(g) + 1)):
            return True
    return False


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    best = 0.0
    for gold in answers:
        g = normalize_answer(gold)
        common = sum((Counter(pred) & Counter(g)).values())
        if common:
            p, r = common / len(pred), common / len(g)
            best = max(best, 2 * p * r / (p + r))
    return best


@dataclass(frozen=True)
class QAItem:
    doc: str
    question: str
    answers: tuple[str, ...]


def load_qa(path: str | Path, docs_dir: str | Path | None = None) -> list[QAItem]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"QA file {path} does not exist; pass a JSONL file with doc/question/answers per line")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n} is not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not isinstance(obj.get("doc"), str):
            raise InputError(f"{path}:{n} needs string fields 'doc' and 'question', got {line[:80]!r}")
        answers = obj.get("answers", [])
        if isinstance(answers, str):
            answers = [answers]
        if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise InputError(f"{path}:{n} needs a non-empty list of string 'answers'")
        if docs_dir is not None and not (Path(docs_dir) / obj["doc"]).is_file():
            raise InputError(f"{path}:{n} names doc {obj['doc']!r}, which is not a file under {docs_dir}")
        items.append(QAItem(obj["doc"], obj["question"], tuple(answers)))
    if not items:
        raise InputError(f"{path} holds no questions")
    return items


def derangement(names: Sequence[str]) -> dict[str, str]:
    """A fixed map doc -> another doc (next one in sorted order)."""
    order = sorted(set(names))
    if len(order) < 2:
        raise InputError("wrong-adapter mode needs at least two documents")
    return {d: order[(i + 1) % len(order)] for i, d in enumerate(order)}


SHORT_WORDS = 20  # the length-aware score counts a correct answer only when it is at most this many words


def bootstrap_ci(records: Sequence[dict[str, Any]], key: str = "correct", n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean of `key`, resampling documents (all questions of a drawn document count)."""
    import random

    by_doc: dict[str, list[float]] = {}
    for r in records:
        by_doc.setdefault(r["doc"], []).append(float(r[key]))
    docs = [(sum(v), len(v)) for v in by_doc.values()]
    rng = random.Random(seed)
    means = []
    for _ in range(n_boot):
        draw = [docs[rng.randrange(len(docs))] for _ in docs]
        means.append(sum(s for s, _ in draw) / sum(c for _, c in draw))
    means.sort()
    return means[int(0.025 * n_boot)], means[int(0.975 * n_boot) - 1]


def load_split(qa_path: str | Path, part: str) -> set[str]:
    """Document names of one part ("dev" or "test") of an evaluation set, from split.json beside its QA file."""
    path = Path(qa_path).parent / "split.json"
    if not path.is_file():
        raise InputError(f"--split needs {path} ({{\"dev\": [...], \"test\": [...]}}); this set has no split file")
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc.msg})") from exc
    if part not in split or not isinstance(split[part], list):
        raise InputError(f"{path} has no list {part!r}; it has {sorted(split) if isinstance(split, dict) else split!r}")
    return set(split[part])


def _summary(mode: str, records: list[dict[str, Any]], batch_size: int, max_new_tokens: int) -> dict[str, Any]:
    """The fields every evaluation reports, from its per-question records."""
    for r in records:
        r["short_correct"] = bool(r["correct"]) and len(r["prediction"].split()) <= SHORT_WORDS
    return {
        "mode": mode,
        "n": len(records),
        "docs": len({r["doc"] for r in records}),
        "accuracy": sum(r["correct"] for r in records) / len(records),
        "accuracy_ci95": bootstrap_ci(records),
        "short_accuracy": sum(r["short_correct"] for r in records) / len(records),
        "f1": sum(r["f1"] for r in records) / len(records),
        "latency_p50_s": statistics.median(r["latency_s"] for r in records),
        "batch_size": batch_size,
        "prompt_tokens_mean": statistics.fmean(r["prompt_tokens"] for r in records),
        "max_new_tokens": max_new_tokens,
    }


def evaluate(
    items: Sequence[QAItem],
    docs_dir: str | Path,
    mode: str,
    engine: Any,
    generator: Any | None = None,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    out: str | Path | None = None,
    adapters: dict[str, Any] | None = None,
    embedder: Any | None = None,
    sentences: int = 1,
) -> dict[str, Any]:
    """Answer every item in `mode`; return the summary (and write every prediction to `out`).

    `adapters`: doc name -> adapter already generated (adapter modes then skip generation); filled in when given empty.
    `embedder`, `sentences`: the selected modes' sentence embedder (default: the store's MiniLM) and sentences per write.
    """
    if mode not in MODES + SELECTED_MODES:
        raise InputError(f"unknown mode {mode!r}; choose from {list(MODES + SELECTED_MODES)}")
    if mode in SELECTED_MODES and not hasattr(generator, "generate_for"):
        raise InputError(f"mode {mode!r} needs a generator that writes for a question (the memory generator)")
    docs_dir = Path(docs_dir)
    from .loaders import load_file

    # through the loaders, so that .pdf and .html documents are read as text, as the store reads them
    texts = {d: "\n\n".join(doc.text for doc in load_file(docs_dir / d)) for d in sorted({i.doc for i in items})}
    shared = adapters
    adapters, gen_seconds = {}, []
    if mode in ("adapter", "wrong-adapter") and shared:
        adapters = {d: shared[d] for d in texts}
    elif mode in ("adapter", "wrong-adapter"):
        if generator is None:
            raise InputError(f"mode {mode!r} needs a generator")
        for d, text in texts.items():
            t0 = time.perf_counter()
            (lora,) = generator.generate([text])
            gen_seconds.append(time.perf_counter() - t0)
            lora.meta["id"] = d
            adapters[d] = lora
        if shared is not None:
            shared.update(adapters)
    swap = derangement(list(texts)) if mode in ("wrong-adapter", "wrong-selected") else {}
    if mode in SELECTED_MODES and embedder is None:
        from .routing.embedders import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    records = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        if mode in SELECTED_MODES:
            rows_adapters = []
            for i in chunk:
                t0 = time.perf_counter()
                rows_adapters.append(generator.generate_for(texts[swap.get(i.doc, i.doc)], i.question, embedder, sentences))
                gen_seconds.append(time.perf_counter() - t0)
        else:
            rows_adapters = [adapters[swap.get(i.doc, i.doc)] if adapters else None for i in chunk]
        rows_contexts = [texts[i.doc] if mode == "context" else None for i in chunk]
        answers = engine.answer_batch([i.question for i in chunk], rows_adapters, rows_contexts, max_new_tokens=max_new_tokens)
        for item, ans in zip(chunk, answers):
            records.append({
                "doc": item.doc, "question": item.question, "answers": list(item.answers), "prediction": ans.text,
                "correct": is_correct(ans.text, item.answers), "f1": token_f1(ans.text, item.answers),
                "latency_s": ans.seconds, "prompt_tokens": ans.prompt_tokens,
            })
    summary = _summary(mode, records, batch_size, max_new_tokens)
    if gen_seconds:
        summary["generation_s_per_doc_p50"] = statistics.median(gen_seconds)
    if out is not None:
        Path(out).write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return summary


# -- store-based evaluation ----------------------------------------------------------------------

STORE_MODES = {"routed": "adapter", "rag": "rag", "hybrid": "hybrid", "selected": "selected"}  # evaluation mode -> StoreQA mode


def evaluate_store(
    items: Sequence[QAItem],
    store: Any,
    mode: str,
    qa: Any,
    k: int = 2,
    *,
    threshold: float | None = None,
    max_new_tokens: int = 48,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Answer every item from an AdapterStore through `qa` (a `rag.StoreQA`) in `mode`.

    Modes: routed (the adapters the router picks, no text), rag (the routed texts in the prompt),
    hybrid (both). The summary has `evaluate`'s fields plus `k` and `recall_at_k`: the fraction of
    questions whose gold document (an entry whose metadata "file_name" equals `item.doc`) is among
    the k routed entries (measured before the relevance gate). Questions are answered one at a time.
    """
    if mode not in STORE_MODES:
        raise InputError(f"unknown store evaluation mode {mode!r}; choose from {list(STORE_MODES)}")
    if not items:
        raise InputError("evaluate_store needs at least one QA item")
    known = {e.metadata.get("file_name") for e in store.entries()}
    missing = sorted({i.doc for i in items} - known)
    if missing:
        raise InputError(f"the store has no entries with metadata file_name in {missing[:5]}; ingest those documents first")
    records = []
    for item in items:
        res = qa.answer(item.question, mode=STORE_MODES[mode], k=k, threshold=threshold, max_new_tokens=max_new_tokens)
        routed_docs = [s.get("file_name") for s in res.sources]
        records.append({
            "doc": item.doc, "question": item.question, "answers": list(item.answers), "prediction": res.answer,
            "correct": is_correct(res.answer, item.answers), "f1": token_f1(res.answer, item.answers),
            "latency_s": res.timings["total_s"], "prompt_tokens": res.prompt_tokens, "routed": [s.get("adapter_id") for s in res.sources],
            "routed_docs": routed_docs, "hit": item.doc in routed_docs, "gated": res.gated, "route_s": res.timings["route_s"],
        })
    summary = {
        **_summary(mode, records, 1, max_new_tokens),
        "k": k,
        "recall_at_k": sum(r["hit"] for r in records) / len(records),
        "route_s_p50": statistics.median(r["route_s"] for r in records),
        "gated": sum(r["gated"] for r in records),
    }
    if out is not None:
        Path(out).write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return summary
