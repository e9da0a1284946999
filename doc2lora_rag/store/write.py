"""The write protocol (see the package docstring): validate and chunk, embed, generate, write files, commit, clean up.

`WriteProtocol` is the writing half of `AdapterStore`; it uses the facade's manifest, router, locks
and adapter cache.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..chunking import chunk_text, group_chunks
from ..documents import Document
from ..errors import InputError, StoreError
from ..files import fsync_dir
from ..lora import LoraWeights
from . import sqlite
from .layout import ADAPTER_DIR, DTYPES, SUFFIX, batches, canonical, check_id_list, check_int, sha256

logger = logging.getLogger(__name__)

GENERATE_BATCH = 8  # group texts per generator call: bounds the adapters held in memory


@dataclass
class IngestReport:
    """What the last `add_*` call did (`AdapterStore.last_ingest`)."""

    documents: int = 0
    entries: int = 0
    generated: int = 0  # adapters generated (distinct new group texts)
    reused: int = 0  # entries whose adapter file already existed or was generated earlier in the call
    seconds: float = 0.0
    generate_seconds: float = 0.0


@dataclass
class Plan:
    """One validated, chunked document, ready to be written."""

    doc_id: str
    text: str
    metadata: dict[str, Any]
    metadata_json: str
    groups: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start, end)
    pieces: list[tuple[str, ...]] = field(default_factory=list)  # each group's text cut at its chunks' starts

    def entry_id(self, i: int) -> str:
        return self.doc_id if len(self.groups) == 1 else f"{self.doc_id}#{i}"


class WriteProtocol:
    """Adding and deleting documents (mixed into `AdapterStore`)."""

    def add_documents(
        self, documents: Sequence[Document], ids: Sequence[str] | None = None, *, progress: bool = False, batch_size: int = 8,
        generate: Any = None,
    ) -> list[str]:
        """Add (or replace, by id) documents; returns one doc id per input document.

        `batch_size` documents are committed per transaction. Inputs are never mutated. `generate`: where the
        generation step runs, a callable (texts, store) -> records or adapters in order, e.g.
        `ray_ingest.RayGenerate` (default: in this process, `GENERATE_BATCH` texts at a time).
        """
        self._check_writable()
        check_int("batch_size", batch_size, 1)
        if generate is not None and not callable(generate):
            raise InputError(f"generate must be a callable (texts, store) -> items, e.g. RayGenerate(), got {type(generate).__name__}")
        if isinstance(documents, (str, Document)) or not isinstance(documents, Sequence):
            raise InputError(f"documents must be a list of Document, got {type(documents).__name__}; wrap one as [doc]")
        docs = list(documents)
        for i, doc in enumerate(docs):
            if not isinstance(doc, Document):
                raise InputError(f"documents[{i}] is a {type(doc).__name__}, not a doc2lora_rag Document; build Document(text=..., metadata=...)")
            if not isinstance(doc.text, str) or not doc.text.strip():
                raise InputError(f"documents[{i}] has empty text; remove it or give it content")
        doc_ids = self._resolve_ids(docs, ids)
        if not docs:
            return []
        metas = []
        for i, doc in enumerate(docs):
            try:
                metas.append(json.dumps(doc.metadata, ensure_ascii=False, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise InputError(f"documents[{i}].metadata is not JSON-serialisable ({exc}); use str/int/float/bool/list/dict values") from exc
        generator = self.generator
        started = time.perf_counter()
        report = IngestReport(documents=len(docs))
        with self._write_lock, self._process_lock():
            plans = [self._plan(doc, doc_id, meta_json, generator) for doc, doc_id, meta_json in zip(docs, doc_ids, metas, strict=True)]
            self._check_collisions(plans)
            from tqdm import tqdm

            total = sum(len(p.groups) for p in plans)
            with tqdm(total=total, desc="adapters", unit="group", disable=not progress, leave=True) as bar:
                for batch in batches(plans, batch_size):
                    self._write_batch(list(batch), generator, bar, report, generate)
        report.seconds = time.perf_counter() - started
        self.last_ingest = report
        logger.info("added %d documents (%d entries, %d adapters generated, %d reused) to %s in %.2fs",
                    report.documents, report.entries, report.generated, report.reused, self.path, report.seconds)
        return doc_ids

    def add_texts(
        self, texts: Sequence[str], metadatas: Sequence[dict[str, Any]] | None = None, ids: Sequence[str] | None = None, **kwargs: Any
    ) -> list[str]:
        """Add plain texts (with optional metadata dicts and ids); returns the doc ids."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise InputError(f"texts must be a list of str, got {type(texts).__name__}; wrap one text as [text]")
        if metadatas is not None and (not isinstance(metadatas, Sequence) or len(metadatas) != len(texts)):
            raise InputError(f"metadatas must be a list with one dict per text ({len(texts)}), got {metadatas!r:.80}")
        docs = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"texts[{i}] must be a str, got {type(text).__name__}")
            docs.append(Document(text=text, metadata=dict(metadatas[i] or {}) if metadatas is not None else {}))
        return self.add_documents(docs, ids, **kwargs)

    def add_paths(self, paths: Any, *, progress: bool = False, batch_size: int = 8, generate: Any = None) -> list[str]:
        """Load files/folders (`loaders.load_paths`: all read before anything is written) and add them."""
        from ..loaders import load_paths

        self._check_writable()
        return self.add_documents(load_paths(paths), progress=progress, batch_size=batch_size, generate=generate)

    def delete(self, ids: Sequence[str] | None = None) -> None:
        """Delete documents (by doc id) and/or single entries (by entry id); unknown ids are ignored."""
        self._check_writable()
        if ids is None:
            raise InputError("delete() needs a list of ids; to empty the store pass store.doc_ids() explicitly")
        ids = check_id_list(ids)
        if not ids:
            return
        with self._write_lock, self._process_lock():
            with self._state_lock:
                gone, files, rev = self.manifest.delete(ids)
                self.router.remove(gone)
                self._advance(rev)
            self._remove_files(files)
        logger.info("deleted %d entries from %s", len(gone), self.path)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only; open it with read_only=False to change it")

    def _resolve_ids(self, docs: list[Document], ids: Sequence[str] | None) -> list[str]:
        if ids is not None:
            ids = check_id_list(ids)
            if len(ids) != len(docs):
                raise InputError(f"got {len(docs)} documents but {len(ids)} ids; pass one id per document (or none)")
        else:
            ids = [doc.id if doc.id else self._derive_id(doc) for doc in docs]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise InputError(f"ids repeat within one call: {dupes[:5]}; pass each document once (identical documents get the same derived id)")
        return ids

    @staticmethod
    def _derive_id(doc: Document) -> str:
        source = str(doc.metadata.get("source", ""))
        page = doc.metadata.get("page")
        key = f"{source}\0{page if page is not None else ''}\0{doc.text}"
        return "doc-" + sha256(key)[:16]

    def _plan(self, doc: Document, doc_id: str, metadata_json: str, generator: Any) -> Plan:
        c = self.chunking
        chunks = chunk_text(doc.text, generator.base.tokenizer, c["chunk_tokens"], c["overlap_tokens"])
        plan = Plan(doc_id, doc.text, dict(doc.metadata), metadata_json)
        for group in group_chunks(chunks, c["group_size"]):
            start, end = group[0].start, group[-1].end
            plan.groups.append((doc.text[start:end], start, end))
            # the generator reads the group as the chunks cut here (overlaps once), not cut again its own way
            cuts = [ch.start for ch in group] + [end]
            plan.pieces.append(tuple(doc.text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a))
        return plan

    def _check_collisions(self, plans: list[Plan]) -> None:
        """An id must name one thing: no entry id may equal another document's id or entry id."""
        owner: dict[str, str] = {}
        for p in plans:
            for name in {p.doc_id, *(p.entry_id(i) for i in range(len(p.groups)))}:
                if owner.setdefault(name, p.doc_id) != p.doc_id:
                    raise InputError(f"id {name!r} would name parts of two documents ({owner[name]!r} and {p.doc_id!r}); choose other ids")
        for found, doc_id in self.manifest.owners(list(owner)):
            if owner[found] != doc_id:
                raise InputError(f"id {found!r} is already used by document {doc_id!r} in the store; choose another id for {owner[found]!r}")

    def _model_lock(self, generator: Any) -> Any:
        """Generation runs the base model; hold its slot lock so an AnswerEngine on it is not mid-generate."""
        slots = getattr(generator.base, "slots", None)
        return slots.lock if slots is not None else contextlib.nullcontext()

    def _write_batch(self, plans: list[Plan], generator: Any, bar: Any, report: IngestReport, generate: Any = None) -> None:
        rows = [(p, i, text, start, end, sha256(text)) for p in plans for i, (text, start, end) in enumerate(p.groups)]
        keys = self._embed([r[2] for r in rows]) if self.router.uses_keys else None
        hashes = list(dict.fromkeys(r[5] for r in rows))
        known = self._known_hashes(hashes)
        todo = [h for h in hashes if h not in known]
        # what the generator reads: the group's pieces where it takes them (`protocol.Generator.reads_pieces`)
        pieces = getattr(generator, "reads_pieces", False)
        text_of = {r[5]: r[0].pieces[r[1]] if pieces else r[2] for r in rows}
        count = {h: sum(1 for r in rows if r[5] == h) for h in hashes}
        report.entries += len(rows)
        report.generated += len(todo)
        report.reused += len(rows) - len(todo)
        bar.update(sum(count[h] for h in known))
        written: list[str] = []
        committed = False
        try:
            for part in batches(todo, max(len(todo), 1) if generate is not None else GENERATE_BATCH):
                t0 = time.perf_counter()
                if generate is not None:  # elsewhere (e.g. a Ray pool): the whole batch at once
                    loras = generate([text_of[h] for h in part], self)
                else:
                    with self._model_lock(generator):
                        loras = getattr(generator, self.record_method)([text_of[h] for h in part])
                report.generate_seconds += time.perf_counter() - t0
                kind = "record" if self.keeps_records else "LoraWeights"
                ok = (callable(getattr(x, "float_tensors", None)) if self.keeps_records else isinstance(x, LoraWeights) for x in loras)
                if len(loras) != len(part) or not all(ok):
                    raise StoreError(f"generator {type(generator).__name__} returned {len(loras)} items for {len(part)} texts, "
                                     f"not a {kind} each")
                for h, lora in zip(part, loras, strict=True):
                    self._save_adapter(h, lora)
                    written.append(h)
                bar.update(sum(count[h] for h in part))
            if written:
                fsync_dir(self.path / ADAPTER_DIR)
            with self._state_lock:
                old_ids, old_files, rev = self._commit(plans, rows, keys)
                committed = True
                self.router.remove(old_ids)
                ids = [r[0].entry_id(r[1]) for r in rows]
                self.router.load(ids, [r[2] for r in rows], keys)
                self._advance(rev)
        except BaseException:
            if not committed:
                for h in written:
                    with contextlib.suppress(FileNotFoundError):
                        (self.path / ADAPTER_DIR / f"{h}{SUFFIX}").unlink()
            raise
        self._remove_files(old_files)

    def _known_hashes(self, hashes: list[str]) -> set[str]:
        """Hashes some entry references (and whose file is present): their adapters are reused."""
        return {h for h in self.manifest.hashes_in_use(hashes) if (self.path / ADAPTER_DIR / f"{h}{SUFFIX}").is_file()}

    def _save_adapter(self, content_hash: str, lora: Any) -> None:
        """Write an adapter (or a generator's record of one, `keeps_records`) as `<content hash>.safetensors`."""
        lora = lora.with_meta(content_hash=content_hash)
        dtype = DTYPES[self.adapter_dtype]
        floats = lora.float_tensors().values() if self.keeps_records else [*lora.a.values(), *lora.b.values()]
        if dtype == torch.float16 and not all(torch.isfinite(t.to(dtype)).all() for t in floats):
            dtype = torch.float32  # values beyond fp16 range: keep this one at full precision
        lora.save(self.path / ADAPTER_DIR / f"{content_hash}{SUFFIX}", dtype=dtype)

    def _commit(self, plans: list[Plan], rows: list[tuple], keys: np.ndarray | None) -> tuple[list[str], set[str], int]:
        """One transaction: replace the batch's documents and entries. Returns (old entry ids, old files, new revision)."""
        now = time.time()
        documents = [(p.doc_id, p.text, p.metadata_json, sha256(p.text), now) for p in plans]
        entries = [
            (p.entry_id(i), p.doc_id, i, text, p.metadata_json, h, f"{h}{SUFFIX}", start, end, None if keys is None else keys[j].tobytes(), now)
            for j, (p, i, text, start, end, h) in enumerate(rows)
        ]
        meta = {}
        if keys is not None and keys.size:
            meta["router"] = {**(self._meta.get("router") or {}), "embedder": self.router.embedder_name}
        try:
            old = self.manifest.replace_documents(documents, entries, meta)
        except sqlite.error() as exc:
            raise StoreError(f"writing the manifest of {self.path} failed ({exc}); the store is unchanged") from exc
        self._meta.update(canonical(meta))
        return old

    def _remove_files(self, files: set[str]) -> None:
        """Delete adapter files that no entry references any more (after a commit)."""
        for name in sorted(files):
            if self.manifest.is_referenced(name):
                continue
            with contextlib.suppress(FileNotFoundError):
                (self.path / ADAPTER_DIR / name).unlink()
            self.adapters.evict(self.path / ADAPTER_DIR / name)
