"""Meta-training of the memory generator's key/value transforms (`KVTransforms`).

The document side is read once: every training document goes through the frozen base model a single
time (the memory generator's own `read`) and its picked keys (fp16) and value token ids are kept in
memory. A step then only pays the student: the transforms turn the cached keys and values of a few
documents into adapters (`factored_write`, differentiable), the student answers each document's
questions with the question alone in the prompt and its own adapter, and the loss is the gold
answer's cross-entropy (answer tokens + end of turn), averaged per answer, then per document.
Gradients reach only the transforms: the base model and the fitted statistics stay frozen.

`write: "selected"` trains for the question-selected write (`MemoryGenerator.generate_for`): every question
gets its own record, the positions of the sentence of its document closest to it (the embedder's choice, as at
question time) or, where that sentence does not hold the gold answer, of the first sentence that does (a
wrong choice teaches the transforms nothing they could use). A row's adapter is then written from ~20-40 keys
of one sentence, and the loss teaches the keys to single out the answer's position among them.

`doc_weight` adds, to a selected-write step, the whole-document write's gold-answer loss on `docs_per_step` documents
(weighted): the two writes share the transforms, and training one alone unlearns the other.

`loss: "teacher"` replaces the gold answer by the frozen base model's own answer with the stored text in the prompt
(the whole document, or for the selected write its chosen sentences after the document's first line): its tokens and
top-16 log-probs (`teacher.build_teacher_cache`, built once), kept where it holds a gold answer (`teacher_gold`). The
adapter is then taught to stand in for that text in the prompt, answering in the model's own words rather than in the
span the corpus builder cut.

`doc2lora train --config configs/train_memory_smollm2.json` runs it (resuming from OUT_DIR/checkpoint).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..base_model import load_base_model
from ..errors import ConfigError
from ..files import atomic_write as _atomic_write
from ..generators.memory import TARGET, KVTransforms, MemoryGenerator, factored_write
from ..generators.memory.transforms import SCORER_KEYS
from ..generators.memory.write import half_or_float
from ..objective import answer_logprobs
from .common import answer_ids as _answer_ids
from .common import config_from_file, run_steps
from .common import load_optimizer as _load_optimizer
from .common import save_optimizer as _save_optimizer
from .student import answer_losses, build_student_batch, per_doc_mean

logger = logging.getLogger(__name__)

Record = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # keys (L, n, d_in), C^-1 keys (L, n, d_in), value ids (n,)


@dataclass
class MemoryTrainConfig:
    kind: str = "memory"
    out_dir: str = "runs/smollm2-memory"
    base_model: str = "smollm2-135m-instruct"
    corpus: str = "synthetic"  # "synthetic" (`docs` seeded training-split documents) or a JSONL path with gold answers
    docs: int = 240
    min_tokens: int = 60
    max_tokens: int = 600
    steps: int = 1000
    time_budget_s: float = 0.0  # stop (and save) after this many seconds of training; 0 = no limit
    docs_per_step: int = 6
    qas_per_doc: int = 2
    rank: int = 32
    lr: float = 1e-3
    scale_lr: float = 1e-2  # for the per-layer value gains
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    checkpoint_every: int = 50
    eval_every: int = 50
    eval_docs: int = 16  # fresh training-split documents (other names and facts) for the NLL curve
    seed: int = 0
    threads: int = 0
    positions_per_chunk: int = 0  # positions the generator stores per chunk while training (0 = MemoryConfig's default)
    init: str = ""  # start from these transforms ("packaged" or a folder) instead of the closed form; "" = closed form
    statistics: str = ""  # a folder of memory statistics (e.g. with a refitted position scorer); "" = the cached ones
    write: str = "document"  # "document": the whole-document write; "selected": one record per question (module docstring)
    sentences: int = 1  # selected write: sentences chosen per question
    selected_qas_per_doc: int = 4  # selected write: questions of each training document kept (one record each)
    loss: str = "gold"  # "gold": the gold answer's cross-entropy; "teacher": the base model's answer with the stored text
    teacher_cache: str = ""  # loss "teacher": its cache folder (built, resumably, on first use); "" = OUT_DIR/teacher
    teacher_gold: bool = True  # loss "teacher": train only on the teacher's answers that hold a gold answer
    target: str = "answer"  # "answer": the gold answer; "sentence": the sentence of the text that holds it (<= 30 words);
    # "clause": the clause around it (`clause_targets`, <= 12 words); "prefix": its sentence up to the answer's end
    # (`prefix_targets`)
    hold_out: str | list[str] = ""  # JSON lists (one path or several) of corpus document ids never read in training
    # (development sets' passages); every file must name documents of the corpus
    doc_weight: float = 0.0  # selected write: weight of a whole-document term (`mode="adapter"`'s write of the same
    # documents, their gold answers), so that training the selected write does not unlearn the whole-document one

    def __post_init__(self) -> None:
        if self.kind != "memory":
            raise ConfigError(f"MemoryTrainConfig.kind must be 'memory', got {self.kind!r}")
        for name in ("docs", "steps", "docs_per_step", "qas_per_doc", "rank", "checkpoint_every", "eval_every", "eval_docs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"MemoryTrainConfig.{name} must be an int >= 1, got {getattr(self, name)!r}")
        if self.eval_docs < 2:
            raise ConfigError("MemoryTrainConfig.eval_docs must be >= 2 (the curve also scores another document's adapter)")
        if not isinstance(self.positions_per_chunk, int) or self.positions_per_chunk < 0:
            raise ConfigError(f"MemoryTrainConfig.positions_per_chunk must be an int >= 0 (0 = the default), got {self.positions_per_chunk!r}")
        if self.write not in ("document", "selected"):
            raise ConfigError(f"MemoryTrainConfig.write must be 'document' or 'selected', got {self.write!r}")
        if self.target not in TARGETS:
            raise ConfigError(f"MemoryTrainConfig.target must be one of {', '.join(map(repr, TARGETS))}, got {self.target!r}")
        if self.loss not in ("gold", "teacher"):
            raise ConfigError(f"MemoryTrainConfig.loss must be 'gold' or 'teacher', got {self.loss!r}")
        for name in ("sentences", "selected_qas_per_doc"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"MemoryTrainConfig.{name} must be an int >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.doc_weight, (int, float)) or self.doc_weight < 0:
            raise ConfigError(f"MemoryTrainConfig.doc_weight must be a number >= 0, got {self.doc_weight!r}")
        if self.doc_weight and self.write != "selected":
            raise ConfigError("MemoryTrainConfig.doc_weight adds a whole-document term to the selected write's training; "
                              "with write 'document' that is the whole loss already (set doc_weight to 0)")
        if not self.lr > 0 or not self.scale_lr > 0:
            raise ConfigError(f"MemoryTrainConfig.lr and scale_lr must be > 0, got {self.lr}, {self.scale_lr}")

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> MemoryTrainConfig:
        return config_from_file(cls, path, overrides)


def held_out_ids(path: str | Path) -> set[str]:
    """The document ids in `path` (a JSON list of strings, e.g. the `ids.json` that `self_targets set` writes): passages
    a development set is made of, which training must never read."""
    try:
        ids = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"MemoryTrainConfig.hold_out: {path} is not a readable JSON file ({exc}); give a JSON list of "
                          "document ids") from exc
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ConfigError(f"MemoryTrainConfig.hold_out: {path} must hold a JSON list of document ids (strings)")
    return set(ids)


def _split(cfg: MemoryTrainConfig) -> tuple[list[Any], list[Any]]:
    """(training documents, validation documents): seeded synthetic ones, or a JSONL corpus's last `eval_docs` held back."""
    from ..synth import load_jsonl_corpus, make_corpus

    def answered(docs: list[Any]) -> list[Any]:
        return [d for d in docs if any(q.answers for q in d.qas)]

    if cfg.corpus == "synthetic":
        def make(count: int, salt: int) -> list[Any]:
            return answered(make_corpus(count, "train", seed=cfg.seed * 1_000_003 + salt, min_tokens=cfg.min_tokens,
                                        max_tokens=cfg.max_tokens))

        return make(cfg.docs, 777), make(cfg.eval_docs, 4242)
    docs = answered(load_jsonl_corpus(cfg.corpus))
    held: set[str] = set()
    for path in [cfg.hold_out] if isinstance(cfg.hold_out, str) else cfg.hold_out:
        ids = held_out_ids(path) if path else set()
        if ids and not ids & {d.doc_id for d in docs}:  # a wrong file would let training read the development passages
            raise ConfigError(f"MemoryTrainConfig.hold_out: none of the {len(ids)} ids in {path} is a document of "
                              f"{cfg.corpus}; give the ids file of a development set built from this corpus")
        held |= ids
    docs = [d for d in docs if d.doc_id not in held]
    if len(docs) < cfg.eval_docs + cfg.docs_per_step:
        raise ConfigError(f"{cfg.corpus} has {len(docs)} documents with gold answers; training needs at least eval_docs + "
                          f"docs_per_step = {cfg.eval_docs + cfg.docs_per_step} (add documents or lower those settings)")
    return docs[: -cfg.eval_docs], docs[-cfg.eval_docs :]


def _targets(doc: Any, target: Any) -> Any:
    """`doc` with `target(sentence span, at, gold)`'s text put before each question's gold answers, where the first
    answer occurs in the text (`at`: where) inside one of its sentences and `target` gives a text (None: unchanged)."""
    from dataclasses import replace

    from ..generators.memory.select import sentence_spans

    spans, qas = sentence_spans(doc.text), []
    for qa in doc.qas:
        at = doc.text.find(qa.answers[0]) if qa.answers else -1
        hold = [(a, b) for a, b in spans if a <= at < b] if at >= 0 else []
        said = target(hold[0], at, qa.answers[0]) if hold else None
        qas.append(replace(qa, answers=(said, *qa.answers)) if said is not None else qa)
    return replace(doc, qas=tuple(qas))


def sentence_targets(doc: Any, max_words: int = 30) -> Any:
    """`doc` with, before each question's gold answers, the sentence of its text that holds the first one, where that
    sentence has at most `max_words` words (the trainer's target is the first answer: the model learns to say the
    stored sentence back, as the untrained write does, rather than to cut one span out of it)."""

    def sentence(span: tuple[int, int], at: int, gold: str) -> str | None:
        said = doc.text[span[0] : span[1]].strip()
        return said if len(said.split()) <= max_words and gold in said else None

    return _targets(doc, sentence)


_CLAUSE_BREAK = re.compile(r"[,;:()\u2014]|\s[-\u2013]\s")
_CLAUSE_EDGE = " ,;:()\u2014-\u2013\n\t"  # what a clause or a prefix of a sentence sheds at its ends


def clause_targets(doc: Any, max_words: int = 12, around: int = 3) -> Any:
    """`doc` with, before each question's gold answers, the clause of its text that holds the first one: the run of
    the answer's sentence between commas, semicolons, colons, brackets or dashes that covers it, where that run has at
    most `max_words` words, else the answer with up to `around` words of that run on either side. Between the bare
    span (which training cuts short) and the whole sentence (which makes answers long)."""
    text = doc.text

    def clause(span: tuple[int, int], at: int, gold: str) -> str | None:
        a, b = span
        if not gold or at + len(gold) > b:
            return None
        cuts = [a] + [a + m.end() for m in _CLAUSE_BREAK.finditer(text[a:b])] + [b]
        lo = max(c for c in cuts if c <= at)
        hi = min((c for c in cuts if c >= at + len(gold)), default=b)
        said = text[lo:hi].strip(_CLAUSE_EDGE)
        if len(said.split()) > max_words or gold not in said:
            before = text[lo:at].split()[-around:] if around else []
            after = text[at + len(gold) : hi].split()[:around] if around else []
            said = " ".join([*before, gold, *after]).strip(" ,;:()\u2014-\u2013")
        return said if gold in said and said != gold else None

    return _targets(doc, clause)


def prefix_targets(doc: Any, max_words: int = 30) -> Any:
    """`doc` with, before each question's gold answers, the answer's sentence from its start up to the end of the first
    answer (through the end of the answer's clause where the answer opens the sentence), where that has at most
    `max_words` words: the stored sentence said back, as the sentence target teaches, but stopping at the asked fact."""
    text = doc.text

    def prefix(span: tuple[int, int], at: int, gold: str) -> str | None:
        a, b = span
        if not gold or at + len(gold) > b:
            return None
        end = at + len(gold)
        if not text[a:at].strip():  # the answer opens the sentence: say its clause
            cut = _CLAUSE_BREAK.search(text, end, b)
            end = cut.start() if cut else b
        said = text[a:end].strip(_CLAUSE_EDGE)
        return said if gold in said and said != gold and len(said.split()) <= max_words else None

    return _targets(doc, prefix)


TARGETS = {"answer": None, "sentence": sentence_targets, "clause": clause_targets, "prefix": prefix_targets}


def located(text: str, answers: tuple[str, ...] | list[str]) -> int:
    """Where the first of `answers` that occurs in `text` starts (-1: none does). The first answer is the training
    target; where it is not a span of the text (a generator's own answer, `self_targets`), a later gold answer places
    the question's sentence."""
    return next((at for at in (text.find(a) for a in answers) if at >= 0), -1)


def per_question(docs: list[Any], per_doc: int, sentences: int, embedder: Any, seed: int) -> list[tuple[Any, list]]:
    """The selected regime's training items: (a one-question document, the sentence spans its record stores) for up to
    `per_doc` seeded questions of each document one of whose answers occurs in its text (`located`). The spans: the `sentences`
    closest to the question when they hold the answer, else the first sentence that holds it."""
    from dataclasses import replace

    from ..generators.memory.select import closest_sentences, sentence_spans, sentence_vectors

    rng, out = random.Random(seed), []
    for doc in docs:
        spans = sentence_spans(doc.text)
        found = [(q, at) for q in doc.qas if (at := located(doc.text, q.answers)) >= 0]
        if not spans or not found:
            continue
        vectors = sentence_vectors(doc.text, spans, embedder)  # once per document
        for qa, at in rng.sample(found, min(per_doc, len(found))):
            chosen = closest_sentences(doc.text, qa.question, embedder, sentences, spans, vectors)
            holding = [s for s in spans if s[0] <= at < s[1]]
            if holding and not any(a <= at < b for a, b in chosen):
                chosen = holding[:1]
            out.append((replace(doc, qas=(qa,)), chosen))
    return out


def _records(gen: MemoryGenerator, docs: list[Any], progress: bool, c_inv: torch.Tensor,
             spans: list[list] | None = None) -> list[Record]:
    """(keys, C^-1 keys, value ids) of every document: the document side, read once (`factored_write`), kept where
    `c_inv` is (the device the write runs on). `spans`: per document, the sentence spans a selected record stores."""
    from tqdm.auto import tqdm

    out = []
    for i, doc in enumerate(tqdm(docs, disable=not progress, desc="reading training documents")):
        record = gen.selected_record(doc.text, spans[i]) if spans is not None else gen.records([doc.text])[0]
        keys = gen.keys(record).to(c_inv.device)  # untransformed: the step applies the transforms being trained
        c_keys = keys @ c_inv  # (L, n, d_in); C^-1 symmetric
        out.append((half_or_float(keys), half_or_float(c_keys), record.value_ids.to(c_inv.device)))
    return out


def reading_key(gen: MemoryGenerator) -> str:
    """What a record depends on besides its document: the base model, the positions per chunk and the statistics."""
    import hashlib

    h = hashlib.sha256(json.dumps([gen.base.name, gen.config.positions_per_chunk]).encode())
    for key in sorted(gen.stats):
        h.update(key.encode() + gen.stats[key].float().cpu().numpy().tobytes())
    return h.hexdigest()


def cached_records(gen: MemoryGenerator, docs: list[Any], progress: bool, c_inv: torch.Tensor, folder: Path,
                   reading: str, spans: list[list] | None = None) -> list[Record]:
    """`_records`, kept in `folder` (and read back memory-mapped) under a key of what they are read from (the
    documents' texts, the stored spans and `reading`: `reading_key(gen)`), so that a resumed run does not read its
    corpus again (the reading is most of a short run's time: ~20 min for ~2,500 records on 2 CPU cores)."""
    import hashlib

    key = hashlib.sha256(json.dumps([reading, [d.text for d in docs], spans]).encode()).hexdigest()
    path = folder / f"records-{key[:16]}.pt"
    if not path.is_file():
        out = _records(gen, docs, progress, c_inv, spans)
        _atomic_write(path, lambda tmp: torch.save([tuple(t.cpu() for t in r) for r in out], tmp))
        del out
    # memory-mapped: a step touches a few records, and the page cache keeps them (the records of ~3,500 documents and
    # questions take ~18 GB, more than a 24 GB machine holds beside the training step)
    return [tuple(t.to(c_inv.device) for t in r) for r in torch.load(path, weights_only=True, mmap=True)]


def stored_text(doc: Any, spans: list | None) -> Any:
    """`doc` with the text its record stores as its text: the whole document, or the chosen `spans` after the
    document's first line (as the selected write scores them). What the teacher reads."""
    from dataclasses import replace

    from ..generators.memory.select import first_sentence

    if spans is None:
        return doc
    body = " ".join(doc.text[a:b] for a, b in spans)
    title = first_sentence(doc.text)
    return replace(doc, text=body if not title or body.startswith(title) else f"{title}\n{body}")


def _taught(docs: list[Any], teacher: Any, tokenizer: Any, gold: bool) -> set[tuple[str, str]]:
    """(doc id, question) of every question the teacher answered (with an answer holding one of its gold answers, with
    `gold`): the rows a teacher step trains on."""
    out = set()
    for doc in docs:
        for qa in doc.qas:
            entry = teacher.get(doc.doc_id, qa.question) if qa.answers else None
            if entry is not None and (not gold or any(a.lower() in tokenizer.decode(entry[0]).lower() for a in qa.answers)):
                out.add((doc.doc_id, qa.question))
    return out


def _batch(gen: MemoryGenerator, docs: list[Any], picked: list[int], qas_per_doc: int, rng: random.Random,
           teacher: Any = None, taught: set[tuple[str, str]] | None = None):
    """The student rows of the documents `picked`: gold answers, or with `teacher` its answers to the questions in
    `taught` (the others are left out)."""
    rows, teach = [], []
    for d, i in enumerate(picked):
        qas = [q for q in docs[i].qas if q.answers and (teacher is None or (docs[i].doc_id, q.question) in taught)]
        for qa in rng.sample(qas, min(qas_per_doc, len(qas))):
            if teacher is not None:
                ids, top_ids, top_logp = teacher.get(docs[i].doc_id, qa.question)
                rows.append((d, qa.question, ids))
                teach.append((top_ids, top_logp))
            else:
                rows.append((d, qa.question, _answer_ids(gen.base.tokenizer, qa.answers[0])))
    if not rows:
        return None
    return build_student_batch(gen.base.tokenizer, rows, gen.base.device, teach if teacher is not None else None)


def _live(gen: MemoryGenerator, records: list[Record], transforms: KVTransforms, row_doc: torch.Tensor,
          c_inv: torch.Tensor, value_scale: float | None = None) -> tuple[dict, dict, tuple[int, ...]]:
    """Per-row adapters (rank-padded) of the documents in `records`, differentiable in `transforms`.

    The write runs where the records, `c_inv` (C^-1 per layer) and the transforms are: the model's device, so a
    GPU step moves nothing between devices (with the write on the CPU beside a GPU student, a step of 16
    documents at 48 positions took 3.4 s, nearly all of it the CPU write and the copies). `value_scale`: the
    write's (default the whole-document write's; the selected regime trains at `selected_value_scale`)."""
    dev = c_inv.device
    c_inv_p = c_inv @ transforms.P  # the same for every document: once, not per document
    gain = gen.value_gain(value_scale).to(dev)
    pairs = [factored_write(keys, c_keys, gen.values(ids).to(dev), c_inv_p, gain, transforms) for keys, c_keys, ids in records]
    n = max(a.shape[1] for a, _ in pairs)
    a = torch.stack([torch.nn.functional.pad(a, (0, 0, 0, n - a.shape[1])) for a, _ in pairs])
    b = torch.stack([torch.nn.functional.pad(b, (0, n - b.shape[2])) for _, b in pairs])
    return {TARGET: a[row_doc.to(dev)].to(row_doc.device)}, {TARGET: b[row_doc.to(dev)].to(row_doc.device)}, gen.layers


@torch.no_grad()
def eval_nll(gen: MemoryGenerator, records, docs, transforms: KVTransforms, qas_per_doc: int,
             c_inv: torch.Tensor, value_scale: float | None = None) -> dict[str, float]:
    """Teacher-forced gold NLL per answer token: each document's own adapter, and the next other document's."""
    batch = _batch(gen, docs, list(range(len(docs))), qas_per_doc, random.Random(1234))
    ids = [d.doc_id for d in docs]  # one-question documents of the selected regime share their document's id
    other = torch.tensor([next((j % len(ids) for j in range(i + 1, i + len(ids)) if ids[j % len(ids)] != ids[i]), (i + 1) % len(ids))
                          for i in range(len(ids))])
    out = {}
    for name, row_doc in (("own", batch.row_doc), ("wrong", other[batch.row_doc])):
        logp = answer_logprobs(gen.base, batch, _live(gen, records, transforms, row_doc, c_inv, value_scale))
        out[name] = float(answer_losses(batch, logp, False).mean())
    out["gap"] = out["wrong"] - out["own"]
    return out


def train_memory(cfg: MemoryTrainConfig, progress: bool = True, generator: MemoryGenerator | None = None,
                 embedder: Any = None) -> Path:
    """Run (or resume) meta-training of the transforms; returns the folder of the final transforms.

    `generator`: a memory generator with fitted statistics (default: `MemoryGenerator.default` of
    `cfg.base_model`, closed form, statistics from the cache or fitted on first use). `embedder`: the selected
    regime's sentence embedder (default: the store's MiniLM).
    """
    from tqdm.auto import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    generation = {"positions_per_chunk": cfg.positions_per_chunk} if cfg.positions_per_chunk else {}
    gen = generator if generator is not None else MemoryGenerator.default(load_base_model(cfg.base_model), cfg.statistics or None,
                                                                          trained=False, **generation)
    base = gen.base
    for p in base.model.parameters():
        p.requires_grad_(False)
    base.ensure_slots(num_slots=1, max_rank=8)  # the live adapters of a step need the wrapped Linears, not the slots
    out, ckpt = Path(cfg.out_dir), Path(cfg.out_dir) / "checkpoint"
    state_path = ckpt / "trainer_state.json"
    if state_path.is_file():
        transforms = KVTransforms.load(ckpt, base)
        state = json.loads(state_path.read_text())
        logger.info("resuming from step %d", state["step"])
    elif cfg.init:
        from ..generators.memory import packaged_transforms_dir

        where = packaged_transforms_dir(base.name) if cfg.init == "packaged" else Path(cfg.init)
        if where is None:
            raise ConfigError(f"MemoryTrainConfig.init is 'packaged' but no transforms are packaged for {base.name}")
        transforms = KVTransforms.load(where, base)
        state = {"step": 0, "history": [], "train_seconds": 0.0, "init": str(where), "init_steps": transforms.trained_steps}
    else:
        transforms = KVTransforms(len(gen.layers), gen.stats["c_inv"].shape[1], base.config.hidden_size, cfg.rank, seed=cfg.seed)
        state = {"step": 0, "history": [], "train_seconds": 0.0}
    if transforms.shape[:3] != (len(gen.layers), gen.stats["c_inv"].shape[1], base.config.hidden_size):
        raise ConfigError(f"checkpoint {ckpt} holds transforms of shape {transforms.shape[:3]}, not for this generator; "
                          "use a new out_dir")
    transforms.generation = {"positions_per_chunk": gen.config.positions_per_chunk}  # what reading the documents used
    if cfg.statistics:  # a refitted position scorer: the transforms carry it, so generation picks the same positions
        transforms.scorer = {k: gen.stats[k].clone() for k in SCORER_KEYS}
    elif transforms.scorer:  # transforms that carry their own scorer (the packaged ones): the documents are read with it,
        gen.stats = {**gen.stats, **{k: v.float() for k, v in transforms.scorer.items()}}  # as generation with them will be
    c_inv = gen.stats["c_inv"].to(base.device)  # the write runs on the model's device (`_live`)
    transforms.to(base.device)
    opt = torch.optim.AdamW([
        {"params": [transforms.P, transforms.Q, transforms.U, transforms.V], "lr": cfg.lr, "weight_decay": 0.0},
        {"params": [transforms.log_gain], "lr": cfg.scale_lr, "weight_decay": 0.0},
    ])
    if (ckpt / "optimizer.safetensors").is_file() and state["step"]:
        _load_optimizer(opt, ckpt / "optimizer.safetensors")
    docs, eval_docs = _split(cfg)
    whole = (docs, eval_docs) if cfg.doc_weight else None  # the whole-document term: gold answers, as the write was trained
    if cfg.target != "answer":
        make = TARGETS[cfg.target]
        docs, eval_docs = [make(d) for d in docs], [make(d) for d in eval_docs]
    spans = eval_spans = None
    qas_per_doc = cfg.qas_per_doc
    if cfg.write == "selected":  # one record per question; a step's rows are docs_per_step x qas_per_doc questions
        from ..routing.embedders import MiniLMEmbedder

        embedder = embedder or MiniLMEmbedder()
        items = per_question(docs, cfg.selected_qas_per_doc, cfg.sentences, embedder, cfg.seed)
        held = per_question(eval_docs, cfg.qas_per_doc, cfg.sentences, embedder, cfg.seed + 1)
        (docs, spans), (eval_docs, eval_spans) = ([list(x) for x in zip(*items)], [list(x) for x in zip(*held)])
        rows, qas_per_doc = cfg.docs_per_step * cfg.qas_per_doc, 1
        value_scale = gen.config.selected_value_scale
    else:
        rows, value_scale = cfg.docs_per_step, None
    teacher = taught = None
    if cfg.loss == "teacher":  # the base model with the stored text in the prompt answers every training question once
        from .teacher import build_teacher_cache

        teacher = build_teacher_cache([stored_text(d, spans[i] if spans else None) for i, d in enumerate(docs)], base,
                                      cfg.teacher_cache or out / "teacher", progress=progress)
        taught = _taught(docs, teacher, base.tokenizer, cfg.teacher_gold)
        keep = [i for i, d in enumerate(docs) if any((d.doc_id, q.question) in taught for q in d.qas)]
        logger.info("training on %d of %d items: the teacher answered within its token cap%s", len(keep), len(docs),
                    " and its answer holds a gold answer" if cfg.teacher_gold else "")
        docs, spans = [docs[i] for i in keep], ([spans[i] for i in keep] if spans else None)
    reading = reading_key(gen)  # once: hashing the statistics is not free
    records = cached_records(gen, docs, progress, c_inv, out / "records", reading, spans)
    eval_records = cached_records(gen, eval_docs, False, c_inv, out / "records", reading, eval_spans)
    if whole is not None:
        whole_records = cached_records(gen, whole[0], progress, c_inv, out / "records", reading)
        whole_eval = cached_records(gen, whole[1], False, c_inv, out / "records", reading)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "train_config.json", lambda tmp: Path(tmp).write_text(json.dumps(asdict(cfg), indent=2)))
    t_start = time.perf_counter() - state["train_seconds"]

    def save(folder: Path, step: int, **meta: Any) -> None:
        transforms.trained_steps = state.get("init_steps", 0) + step  # the starting transforms' steps count too
        state["step"], state["train_seconds"] = step, time.perf_counter() - t_start
        transforms.save(folder, base, training={"config": asdict(cfg), "train_seconds": state["train_seconds"], **meta})
        if folder == ckpt:
            _save_optimizer(opt, ckpt / "optimizer.safetensors")
            _atomic_write(state_path, lambda tmp: Path(tmp).write_text(json.dumps(state, indent=1)))

    def evaluate(step: int, ema: float | None = None) -> None:
        metrics = eval_nll(gen, eval_records, eval_docs, transforms, qas_per_doc, c_inv, value_scale)  # gold NLL
        if whole is not None:
            metrics.update({f"document_{k}": v for k, v in
                            eval_nll(gen, whole_eval, whole[1], transforms, cfg.qas_per_doc, c_inv).items()})
        metrics.update(step=step, loss_ema=ema, minutes=(time.perf_counter() - t_start) / 60)
        state["history"].append(metrics)
        logger.info("eval %s", json.dumps(metrics))
        bar.write(f"step {step}: validation NLL own {metrics['own']:.3f} wrong {metrics['wrong']:.3f}")

    def step_loss(step: int) -> tuple[torch.Tensor, float, int] | None:
        rng = random.Random(cfg.seed * 7919 + step)
        picked = rng.sample(range(len(docs)), min(rows, len(docs)))
        batch = _batch(gen, docs, picked, qas_per_doc, rng, teacher, taught)
        if batch is None:  # no row the teacher answered
            return None
        logp = answer_logprobs(base, batch, _live(gen, [records[i] for i in picked], transforms, batch.row_doc, c_inv,
                                                  value_scale))
        loss = per_doc_mean(answer_losses(batch, logp, teacher is not None), batch.row_doc)
        task, items = float(loss.detach()), batch.input_ids.shape[0]
        if whole is not None:  # the same step also trains the whole-document write of docs_per_step documents
            picked = rng.sample(range(len(whole[0])), min(cfg.docs_per_step, len(whole[0])))
            batch = _batch(gen, whole[0], picked, cfg.qas_per_doc, rng)
            logp = answer_logprobs(base, batch, _live(gen, [whole_records[i] for i in picked], transforms, batch.row_doc, c_inv))
            loss = loss + cfg.doc_weight * per_doc_mean(answer_losses(batch, logp, False), batch.row_doc)
            items += batch.input_ids.shape[0]
        return loss, task, items

    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not progress, dynamic_ncols=True)
    step = state["step"]
    if step == 0:
        evaluate(0)  # the closed form: what training adds is measured from here
    step = run_steps(cfg, opt, list(transforms.parameters()), step, t_start, bar, step_loss, evaluate,
                     lambda s: save(ckpt, s))
    save(ckpt, step)
    bar.close()
    final = out / "final"
    save(final, step, history=state["history"])
    return final
