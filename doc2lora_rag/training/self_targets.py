"""Training targets in the generator's own words: its answers that hold a gold answer and stay short.

The trainings on gold spans, clauses, prefixes and whole sentences each taught the write a new form of answer and
lost retrieval on hand-written questions (docs/training_log.md, sessions 15-20). Here the target keeps the form the
packaged transforms already have: the shipped generator answers the corpus's hand-written questions (the selected
write, exactly as at question time, through `benchmarks/eval_sets.py`), and the answers that hold a gold answer in at
most `max_words` words become the first answer of their question (the training target), the gold answers after it
(they place the question's sentence: `memory_trainer.located`). Training on them reinforces the bindings the write
gets right, in its own phrasing, and teaches it to stop after the fact (rejection-sampling fine-tuning).

    python -m doc2lora_rag.training.self_targets set --corpus runs/corpus/natural-hand.jsonl --out runs/selfgen
    python benchmarks/eval_sets.py runs/selfgen/p0 --part dev --modes selected --out runs/eval/selfgen-p0.json   # per part
    python -m doc2lora_rag.training.self_targets attach --corpus runs/corpus/natural-hand.jsonl \\
        --predictions runs/eval/selfgen-p*.json --out runs/corpus/natural-self.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..evaluation import SHORT_WORDS
from ..files import atomic_write


def _read(corpus: str | Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in Path(corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{corpus}: not a readable JSONL corpus ({exc}); build it with doc2lora_rag.training.natural_corpus") from exc


def question_set(corpus: str | Path, out: str | Path, docs: int = 180, per_doc: int = 4, parts: int = 3,
                 seed: int = 21, skip_sources: tuple[str, ...] = ("synthetic",)) -> list[Path]:
    """Evaluation-set folders of `docs` seeded passages of `corpus` (not from `skip_sources`): `write_set`."""
    rows = [r for r in _read(corpus) if r.get("source") not in skip_sources and r.get("questions")]
    random.Random(seed).shuffle(rows)
    return write_set(rows[:docs], out, per_doc, parts)


def write_set(rows: list[dict[str, Any]], out: str | Path, per_doc: int = 4, parts: int = 1) -> list[Path]:
    """Evaluation-set folders (docs/, qa.jsonl, split.json with every document in "dev") of the corpus `rows`,
    `per_doc` of each passage's questions whose first answer occurs in it, in `parts` folders out/p0, out/p1, ...
    (answered one after another, so that a stopped run keeps the finished ones), and their ids in out/ids.json."""
    size = -(-len(rows) // parts)
    folders = []
    for part in range(parts):
        root = Path(out) / f"p{part}"
        (root / "docs").mkdir(parents=True, exist_ok=True)
        names, qa = [], []
        for r in rows[part * size:(part + 1) * size]:
            name = f"{r['id']}.txt"
            (root / "docs" / name).write_text(r["text"], encoding="utf-8")
            names.append(name)
            qs = [q for q in r["questions"] if q.get("answers") and q["answers"][0] in r["text"]]
            for q in random.Random(r["id"]).sample(qs, min(per_doc, len(qs))):
                qa.append({"doc": name, "question": q["question"], "answers": q["answers"]})
        (root / "qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in qa), encoding="utf-8")
        (root / "split.json").write_text(json.dumps({"dev": names, "test": []}), encoding="utf-8")
        folders.append(root)
    # the passages' ids: MemoryTrainConfig(hold_out=...) keeps them out of a training run that these folders judge
    (Path(out) / "ids.json").write_text(json.dumps([r["id"] for r in rows]), encoding="utf-8")
    return folders


def attach(corpus: str | Path, predictions: list[str | Path], out: str | Path, mode: str = "selected",
           max_words: int = SHORT_WORDS) -> dict[str, int]:
    """Write `out`: the passages of `corpus` with, as their questions, those the generator answered (`predictions`:
    `eval_sets.py --out` files) with an answer holding a gold answer in at most `max_words` words; that answer first,
    the gold answers after it. Returns counts (asked, kept, documents)."""
    by_id = {r["id"]: r for r in _read(corpus)}
    kept: dict[str, list[dict[str, Any]]] = {}
    asked = 0
    for path in predictions:
        try:
            rows = json.loads(Path(path).read_text(encoding="utf-8"))["predictions"][mode]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not an eval_sets.py result with {mode!r} predictions ({exc!r}); run "
                             f"benchmarks/eval_sets.py SET --part dev --modes {mode} --out {path}") from exc
        for p in rows:
            asked += 1
            doc_id = p["doc"].removesuffix(".txt")
            if doc_id not in by_id:
                raise InputError(f"{path}: document {p['doc']!r} is not in {corpus}; attach predictions to the corpus they were asked on")
            said = " ".join(p["prediction"].split())
            if p["correct"] and said and len(said.split()) <= max_words:
                kept.setdefault(doc_id, []).append({"question": p["question"], "answers": [said, *p["answers"]]})
    lines = [json.dumps({**{k: v for k, v in by_id[i].items() if k not in ("questions", "questions_by")},
                         "questions": qs, "questions_by": "hand; answers: the generator's own"}) + "\n"
             for i, qs in kept.items()]
    atomic_write(Path(out), lambda tmp: Path(tmp).write_text("".join(lines), encoding="utf-8"))
    return {"asked": asked, "kept": sum(map(len, kept.values())), "documents": len(kept)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="question folders of the corpus's passages, for eval_sets.py to answer")
    s.add_argument("--corpus", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--docs", type=int, default=180)
    s.add_argument("--per-doc", type=int, default=4)
    s.add_argument("--parts", type=int, default=3)
    s.add_argument("--seed", type=int, default=21)
    a = sub.add_parser("attach", help="a training corpus of the answers that hold a gold answer")
    a.add_argument("--corpus", required=True)
    a.add_argument("--predictions", nargs="+", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--max-words", type=int, default=SHORT_WORDS)
    args = p.parse_args(argv)
    if args.cmd == "set":
        for folder in question_set(args.corpus, args.out, args.docs, args.per_doc, args.parts, args.seed):
            print(folder, sum(1 for _ in open(folder / "qa.jsonl")), "questions")
    else:
        print(attach(args.corpus, args.predictions, args.out, max_words=args.max_words))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
