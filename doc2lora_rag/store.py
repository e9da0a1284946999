"""AdapterStore: documents in, one LoRA adapter per chunk group out, kept crash-safe on disk.

A document is split into token chunks (`chunking.chunk_text`, base-model tokenizer), consecutive
chunks are packed into groups of `group_size`, and each group's text becomes one adapter (the
generator reads it in one pass). Layout of a store directory:

    manifest.sqlite              SQLite, WAL mode: tables meta, documents, entries (`manifest.SCHEMA`)
    adapters/<sha256>.safetensors   one adapter per distinct group text (LoraWeights.save, fp16 by default)
    .lock                        advisory lock (flock) held by the process that is writing

Ids: a document's id is the one given, else `Document.id`, else derived from its content and source.
Its entries (one per group, the adapter ids) are `doc_id` when it has one group, else `doc_id#i`.

Write protocol, per batch of documents (`batch_size` per transaction):
  1. validate and chunk every input document (errors here leave the store untouched);
  2. embed the routing keys; generate the adapters whose group text is not in the store yet
     (identical text is generated once and shared: the file is reference-counted by the entries);
  3. write each adapter file atomically (temporary file + fsync + rename), fsync the folder;
  4. one SQLite transaction replaces the batch's documents and entries;
  5. only after the commit, delete adapter files no entry references any more.
A crash anywhere leaves a consistent store: files are written before the entries that name them,
and opening a store for writing removes temporary files and adapter files no entry references.
If generation or the transaction fails, the batch's new files are removed again and the error is
raised; batches committed before it stay.

Files are fp16 by default (half the disk: ~1 MB per adapter for SmolLM2-135M). Measured on that
model with random non-zero adapters: the largest logit change from fp16 storage was 2e-3 for an
adapter effect of 2-3 logits (4e-3 for 8), with identical greedy answers; `adapter_dtype="float32"`
keeps full precision.

Threads: one writer at a time (a lock); readers (`search`, `adapter`, `get_by_ids`, ...) use their
own SQLite connection per thread. Processes: writes take an exclusive `flock` on `.lock`; the router
holds the entries loaded at open plus this object's writes, so reopen the store to search what
another process added (`get_by_ids`, `entries` read the manifest directly).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .chunking import chunk_text, group_chunks
from .documents import Document
from .errors import CorruptFileError, InputError, ModelMismatchError, StoreError
from .files import fsync_dir
from .lora import LoraWeights
from .manifest import Manifest, StoreEntry
from .routing import MiniLMEmbedder, Router

try:  # POSIX advisory locks; elsewhere writers in different processes are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["AdapterStore", "IngestReport", "StoreEntry"]  # StoreEntry lives in manifest.py

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.sqlite"
ADAPTER_DIR = "adapters"
LOCK_FILE = ".lock"
SUFFIX = ".safetensors"
DEFAULT_CHUNKING = {"chunk_tokens": 128, "group_size": 2, "overlap_tokens": 16}
GENERATE_BATCH = 8  # group texts per generator call: bounds the adapters held in memory
_DTYPES = {"float16": torch.float16, "float32": torch.float32}


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
class _Plan:
    """One validated, chunked document, ready to be written."""

    doc_id: str
    text: str
    metadata: dict[str, Any]
    metadata_json: str
    groups: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start, end)

    def entry_id(self, i: int) -> str:
        return self.doc_id if len(self.groups) == 1 else f"{self.doc_id}#{i}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True))


def _check_int(name: str, value: Any, low: int) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
        raise InputError(f"{name} must be an int >= {low}, got {value!r}")


def _check_id_list(ids: Any, what: str = "ids") -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InputError(f"{what} must be a list of str, got {type(ids).__name__} {ids!r:.80}; wrap a single id as [id]")
    for i, item in enumerate(ids):
        if not isinstance(item, str) or not item:
            raise InputError(f"{what}[{i}] must be a non-empty str, got {item!r:.80}")
    return list(ids)


def _new_chunking(chunk_tokens: int | None, group_size: int | None, overlap_tokens: int | None) -> dict[str, int]:
    """Chunking settings of a new store: defaults for what is None (overlap at most chunk_tokens / 8)."""
    chunk = chunk_tokens if chunk_tokens is not None else DEFAULT_CHUNKING["chunk_tokens"]
    overlap = overlap_tokens if overlap_tokens is not None else min(DEFAULT_CHUNKING["overlap_tokens"], chunk // 8)
    if 2 * overlap >= chunk:
        raise InputError(f"overlap_tokens must be < chunk_tokens / 2, got {overlap} with chunk_tokens={chunk}")
    group = group_size if group_size is not None else DEFAULT_CHUNKING["group_size"]
    return {"chunk_tokens": chunk, "group_size": group, "overlap_tokens": overlap}


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class AdapterStore:
    """A directory of generated adapters with a manifest and a router (see the module docstring).

    Args:
        path: the store directory (created when missing unless `create=False`).
        generator: an `AdapterGenerator` or any object with `.generate(texts) -> list[LoraWeights]`,
            `.identity() -> dict` and `.base` (a `BaseModel`); None loads the store's own generator
            (or `generators.make()`, the default generator, for a new store) on the first write or answer.
        router: a fresh `routing.Router`, an embedder (`embed_documents`/`embed_query`), a routing mode
            ("dense", "bm25", "hybrid") or None (a new store: dense MiniLM; an existing one: its own).
        chunk_tokens, group_size, overlap_tokens: chunking of a new store (128, 2, 16 when None); an
            existing store keeps its own and refuses different explicit values.
        read_only: open without writing anything (no recovery, writes raise StoreError).
        adapter_dtype: "float16" (default, half the disk) or "float32" for the files on disk.
        cache_size: adapters kept in memory by `adapter()` (LRU).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        generator: Any = None,
        *,
        router: Any = None,
        chunk_tokens: int | None = None,
        group_size: int | None = None,
        overlap_tokens: int | None = None,
        create: bool = True,
        read_only: bool = False,
        adapter_dtype: str = "float16",
        cache_size: int = 32,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise InputError(f"path must be a directory path, got {path!r:.80}")
        _check_int("chunk_tokens", chunk_tokens, 8)
        _check_int("group_size", group_size, 1)
        _check_int("overlap_tokens", overlap_tokens, 0)
        _check_int("cache_size", cache_size, 1)
        if adapter_dtype not in _DTYPES:
            raise InputError(f"adapter_dtype must be one of {sorted(_DTYPES)}, got {adapter_dtype!r}")
        if generator is not None:
            self._check_generator_object(generator)
        self.path = Path(path).expanduser().resolve()
        self.read_only = bool(read_only)
        self.cache_size = cache_size
        self.last_ingest = IngestReport()
        self.recovered: dict[str, int] = {"temp_files": 0, "orphan_files": 0}
        self._write_lock = threading.RLock()  # one writer at a time
        self._state_lock = threading.RLock()  # router + manifest seen together by readers
        self._gen_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, LoraWeights] = OrderedDict()  # content_hash -> adapter
        self._combined: OrderedDict[str, LoraWeights] = OrderedDict()  # joint adapters by their slot key
        self._generator: Any = None

        manifest = self.path / MANIFEST
        exists = manifest.is_file()
        self.manifest = Manifest(manifest, read_only=self.read_only)
        if not exists and (read_only or not create):
            raise StoreError(f"no adapter store at {self.path} (no {MANIFEST}); create one with AdapterStore(path) (create=True)")
        if exists and not (self.path / ADAPTER_DIR).is_dir():
            raise CorruptFileError(f"{self.path} has a manifest but no {ADAPTER_DIR}/ folder; the store is damaged")
        self._meta: dict[str, Any] = {}
        if not exists:
            chunking = _new_chunking(chunk_tokens, group_size, overlap_tokens)
            self.router = self._make_router(router)  # validated before anything is created
            (self.path / ADAPTER_DIR).mkdir(parents=True, exist_ok=True)
            self.manifest.create({"format_version": FORMAT_VERSION, "created": time.time(), "chunking": chunking, "adapter_dtype": adapter_dtype})
        self._meta = self.manifest.read_meta()
        version = int(self._meta.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise StoreError(f"{self.path} has store format version {version}, newer than this library's {FORMAT_VERSION}; upgrade doc2lora-rag")
        self.chunking = dict(self._meta["chunking"])
        given = {"chunk_tokens": chunk_tokens, "group_size": group_size, "overlap_tokens": overlap_tokens}
        for key, value in given.items():
            if value is not None and value != self.chunking[key]:
                raise InputError(f"store {self.path} was built with {key}={self.chunking[key]}; omit {key} or pass {self.chunking[key]}")
        self.adapter_dtype = self._meta.get("adapter_dtype", adapter_dtype)
        if exists:
            self.router = self._make_router(router)
        if "router" not in self._meta and not self.read_only:
            r = self.router
            self._set_meta({"router": {"embedder": r.embedder_name, "mode": r.mode, "alpha": r.alpha}})
        if generator is not None:
            self._attach_generator(generator)
        if not self.read_only:
            self._recover()
        self._load_router()

    # -- opening -------------------------------------------------------------------------------

    def _set_meta(self, values: dict[str, Any]) -> None:
        with self.manifest.transaction() as c:
            for key, value in values.items():
                self.manifest.set_meta(c, key, value)
        self._meta.update(_canonical(values))

    def _make_router(self, router: Any) -> Router:
        stored = self._meta.get("router")
        if router is None:
            if stored is None:
                router = Router()
            elif stored["mode"] == "bm25":
                router = Router(mode="bm25")
            elif stored["embedder"] == MiniLMEmbedder.name:
                router = Router(MiniLMEmbedder(), mode=stored["mode"], alpha=stored.get("alpha", 0.5))
            else:
                raise ModelMismatchError(
                    f"store {self.path} routes with embedder {stored['embedder']!r}; pass router=Router(<that embedder>) "
                    "or the embedder object itself"
                )
        elif isinstance(router, str):
            router = Router(mode=router)
        elif not isinstance(router, Router):
            if not (callable(getattr(router, "embed_documents", None)) and callable(getattr(router, "embed_query", None))):
                raise InputError(
                    f"router must be a Router, an embedder (embed_documents/embed_query), a mode name or None, got {type(router).__name__}"
                )
            router = Router(router)
        if len(router):
            raise InputError(f"pass a fresh Router (it holds {len(router)} entries); the store loads its own entries into it")
        return router

    def _load_router(self) -> None:
        """Load every entry's routing text (and key) into the router; embeds only keys that are missing."""
        rows = self.manifest.routing_rows()
        ids, texts = [r[0] for r in rows], [r[1] for r in rows]
        if not self.router.uses_keys:
            self.router.load(ids, texts, None)
            return
        stored_name = (self._meta.get("router") or {}).get("embedder")
        has_keys = any(r[2] is not None for r in rows)
        if has_keys and stored_name != self.router.embedder_name:
            raise ModelMismatchError(
                f"store {self.path} holds routing keys made by embedder {stored_name!r}, but the router embeds with "
                f"{self.router.embedder_name!r}; open it with router=Router(<{stored_name}>) or ingest into a new store"
            )
        missing = [i for i, r in enumerate(rows) if r[2] is None]
        keys: list[np.ndarray | None] = [None if r[2] is None else np.frombuffer(r[2], dtype=np.float32) for r in rows]
        if missing:  # e.g. a store built in bm25 mode, opened with a dense router: embed once, keep the keys
            logger.info("embedding %d routing keys missing from %s", len(missing), self.path)
            fresh = self._embed([texts[i] for i in missing])
            for i, vec in zip(missing, fresh, strict=True):
                keys[i] = vec
            if not self.read_only:
                router_meta = {**(self._meta.get("router") or {}), "embedder": self.router.embedder_name}
                with self._write_lock:
                    self.manifest.set_keys({ids[i]: fresh[j].tobytes() for j, i in enumerate(missing)}, {"router": router_meta})
                self._meta["router"] = router_meta
        if not ids:
            return
        try:
            matrix = np.stack(keys)
        except ValueError as exc:
            raise CorruptFileError(f"{self.manifest.path}: routing keys have different lengths ({exc}); re-ingest the store") from exc
        self.router.load(ids, texts, matrix)

    def _recover(self) -> None:
        """Remove temporary files and adapter files no entry references (left by a crash)."""
        with self._process_lock(blocking=False) as locked:
            if not locked:  # another process is writing: its files may not be committed yet
                logger.info("store %s is being written by another process; recovery skipped", self.path)
                return
            referenced = self.manifest.referenced_files()
            for p in (self.path / ADAPTER_DIR).iterdir():
                if p.name.startswith(".") and p.is_file():
                    p.unlink()
                    self.recovered["temp_files"] += 1
                elif p.name.endswith(SUFFIX) and p.name not in referenced:
                    p.unlink()
                    self.recovered["orphan_files"] += 1
        if any(self.recovered.values()):
            logger.warning("recovered store %s: removed %s", self.path, self.recovered)

    @contextlib.contextmanager
    def _process_lock(self, blocking: bool = True) -> Iterator[bool]:
        if fcntl is None:  # pragma: no cover
            yield True
            return
        with open(self.path / LOCK_FILE, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- generator -----------------------------------------------------------------------------

    @staticmethod
    def _check_generator_object(generator: Any) -> None:
        for attr in ("generate", "identity"):
            if not callable(getattr(generator, attr, None)):
                raise InputError(f"generator {type(generator).__name__} has no {attr}(); pass an AdapterGenerator or an object with generate/identity/base")
        if not hasattr(generator, "base") or not callable(getattr(generator.base, "identity", None)):
            raise InputError(f"generator {type(generator).__name__} has no .base BaseModel; pass an AdapterGenerator")

    def _attach_generator(self, generator: Any) -> None:
        ident = _canonical(generator.identity())
        base = _canonical(generator.base.identity())
        stored_gen, stored_base = self._meta.get("generator"), self._meta.get("base_model")
        # "source" says where to reload the generator from; moving an install must not break a store
        same_gen = stored_gen is not None and {k: v for k, v in stored_gen.items() if k != "source"} == {
            k: v for k, v in ident.items() if k != "source"}
        if stored_gen is not None and (not same_gen or stored_base != base):
            raise ModelMismatchError(
                f"store {self.path} was built by generator {stored_gen} on base model {stored_base}, but the generator "
                f"passed is {ident} on base model {base}. Open the store with the generator that built it, or ingest "
                "into a new store directory"
            )
        if stored_gen is None and not self.read_only:
            self._set_meta({"generator": ident, "base_model": base})
        self._generator = generator

    def _default_generator(self) -> Any:
        """The generator that built this store (or the registry's default for a new one)."""
        from .generators import from_identity

        base_name = (self._meta.get("base_model") or {}).get("name")
        return from_identity(self._meta.get("generator") or {}, base_name, what=f"the adapters of store {self.path}")

    @property
    def generator(self) -> Any:
        """The store's generator, loaded on first use (checked against the store's records)."""
        with self._gen_lock:
            if self._generator is None:
                self._attach_generator(self._default_generator())
            return self._generator

    @property
    def meta(self) -> dict[str, Any]:
        """The manifest's meta table (format version, base model, generator, router, chunking, created)."""
        return json.loads(json.dumps(self._meta))

    # -- writing -------------------------------------------------------------------------------

    def add_documents(
        self, documents: Sequence[Document], ids: Sequence[str] | None = None, *, progress: bool = False, batch_size: int = 8
    ) -> list[str]:
        """Add (or replace, by id) documents; returns one doc id per input document.

        `batch_size` documents are committed per transaction. Inputs are never mutated.
        """
        self._check_writable()
        _check_int("batch_size", batch_size, 1)
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
                for batch in _chunks(plans, batch_size):
                    self._write_batch(list(batch), generator, bar, report)
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

    def add_paths(self, paths: Any, *, progress: bool = False, batch_size: int = 8) -> list[str]:
        """Load files/folders (`loaders.load_paths`: all read before anything is written) and add them."""
        from .loaders import load_paths

        self._check_writable()
        return self.add_documents(load_paths(paths), progress=progress, batch_size=batch_size)

    def delete(self, ids: Sequence[str] | None = None) -> None:
        """Delete documents (by doc id) and/or single entries (by entry id); unknown ids are ignored."""
        self._check_writable()
        if ids is None:
            raise InputError("delete() needs a list of ids; to empty the store pass store.doc_ids() explicitly")
        ids = _check_id_list(ids)
        if not ids:
            return
        with self._write_lock, self._process_lock():
            with self._state_lock:
                gone, files = self.manifest.delete(ids)
                self.router.remove(gone)
            self._remove_files(files)
        logger.info("deleted %d entries from %s", len(gone), self.path)

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only; open it with read_only=False to change it")

    def _resolve_ids(self, docs: list[Document], ids: Sequence[str] | None) -> list[str]:
        if ids is not None:
            ids = _check_id_list(ids)
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

    def _plan(self, doc: Document, doc_id: str, metadata_json: str, generator: Any) -> _Plan:
        c = self.chunking
        chunks = chunk_text(doc.text, generator.base.tokenizer, c["chunk_tokens"], c["overlap_tokens"])
        plan = _Plan(doc_id, doc.text, dict(doc.metadata), metadata_json)
        for group in group_chunks(chunks, c["group_size"]):
            start, end = group[0].start, group[-1].end
            plan.groups.append((doc.text[start:end], start, end))
        return plan

    def _check_collisions(self, plans: list[_Plan]) -> None:
        """An id must name one thing: no entry id may equal another document's id or entry id."""
        owner: dict[str, str] = {}
        for p in plans:
            for name in {p.doc_id, *(p.entry_id(i) for i in range(len(p.groups)))}:
                if owner.setdefault(name, p.doc_id) != p.doc_id:
                    raise InputError(f"id {name!r} would name parts of two documents ({owner[name]!r} and {p.doc_id!r}); choose other ids")
        for found, doc_id in self.manifest.owners(list(owner)):
            if owner[found] != doc_id:
                raise InputError(f"id {found!r} is already used by document {doc_id!r} in the store; choose another id for {owner[found]!r}")

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 routing keys (n, d) from the router's embedder."""
        vectors = np.asarray(self.router.embedder.embed_documents(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts) or not np.isfinite(vectors).all():
            raise InputError(f"embedder {self.router.embedder_name!r} returned shape {vectors.shape} (or non-finite values) for {len(texts)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise InputError(f"embedder {self.router.embedder_name!r} returned a zero vector; check its output")
        norms[np.abs(norms - 1.0) < 1e-6] = 1.0
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)

    def _model_lock(self, generator: Any) -> Any:
        """Generation runs the base model; hold its slot lock so an AnswerEngine on it is not mid-generate."""
        slots = getattr(generator.base, "slots", None)
        return slots.lock if slots is not None else contextlib.nullcontext()

    def _write_batch(self, plans: list[_Plan], generator: Any, bar: Any, report: IngestReport) -> None:
        rows = [(p, i, text, start, end, sha256(text)) for p in plans for i, (text, start, end) in enumerate(p.groups)]
        keys = self._embed([r[2] for r in rows]) if self.router.uses_keys else None
        hashes = list(dict.fromkeys(r[5] for r in rows))
        known = self._known_hashes(hashes)
        todo = [h for h in hashes if h not in known]
        text_of = {r[5]: r[2] for r in rows}
        count = {h: sum(1 for r in rows if r[5] == h) for h in hashes}
        report.entries += len(rows)
        report.generated += len(todo)
        report.reused += len(rows) - len(todo)
        bar.update(sum(count[h] for h in known))
        written: list[str] = []
        committed = False
        try:
            for part in _chunks(todo, GENERATE_BATCH):
                t0 = time.perf_counter()
                with self._model_lock(generator):
                    loras = generator.generate([text_of[h] for h in part])
                report.generate_seconds += time.perf_counter() - t0
                if len(loras) != len(part) or not all(isinstance(x, LoraWeights) for x in loras):
                    raise StoreError(f"generator {type(generator).__name__}.generate returned {len(loras)} items for {len(part)} texts, not LoraWeights each")
                for h, lora in zip(part, loras, strict=True):
                    self._save_adapter(h, lora)
                    written.append(h)
                bar.update(sum(count[h] for h in part))
            if written:
                fsync_dir(self.path / ADAPTER_DIR)
            with self._state_lock:
                old_ids, old_files = self._commit(plans, rows, keys)
                committed = True
                self.router.remove(old_ids)
                ids = [r[0].entry_id(r[1]) for r in rows]
                self.router.load(ids, [r[2] for r in rows], keys)
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

    def _save_adapter(self, content_hash: str, lora: LoraWeights) -> None:
        lora = lora.with_meta(content_hash=content_hash)
        dtype = _DTYPES[self.adapter_dtype]
        if dtype == torch.float16 and not all(torch.isfinite(t.to(dtype)).all() for d in (lora.a, lora.b) for t in d.values()):
            dtype = torch.float32  # values beyond fp16 range: keep this one at full precision
        lora.save(self.path / ADAPTER_DIR / f"{content_hash}{SUFFIX}", dtype=dtype)

    def _commit(self, plans: list[_Plan], rows: list[tuple], keys: np.ndarray | None) -> tuple[list[str], set[str]]:
        """One transaction: replace the batch's documents and entries. Returns (old entry ids, old files)."""
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
        except sqlite3.Error as exc:
            raise StoreError(f"writing the manifest of {self.path} failed ({exc}); the store is unchanged") from exc
        self._meta.update(_canonical(meta))
        return old

    def _remove_files(self, files: set[str]) -> None:
        """Delete adapter files that no entry references any more (after a commit)."""
        for name in sorted(files):
            if self.manifest.is_referenced(name):
                continue
            with contextlib.suppress(FileNotFoundError):
                (self.path / ADAPTER_DIR / name).unlink()
            with self._cache_lock:
                self._cache.pop(name[: -len(SUFFIX)], None)

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.manifest.count_documents()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.manifest.has_document(doc_id)

    def __repr__(self) -> str:
        return f"AdapterStore({str(self.path)!r}, documents={len(self)}, router={self.router!r})"

    def doc_ids(self) -> list[str]:
        """Document ids, oldest write first."""
        return self.manifest.doc_ids()

    def entries(self, doc_id: str | None = None) -> list[StoreEntry]:
        """Every entry (chunk group) in write order, or those of one document."""
        return self.manifest.entries(doc_id)

    def get_by_ids(self, ids: Sequence[str]) -> list[Document]:
        """Whole documents (full original text, metadata, id) in the order of `ids`; unknown ids are skipped."""
        found = self.manifest.documents(_check_id_list(ids))
        return [Document(text=found[i][0], metadata=found[i][1], id=i) for i in ids if i in found]

    def search(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        """The `k` best chunk groups for `query`, best first, as (Document, score).

        Each Document holds the group's text, id = entry (adapter) id, and metadata = the document's
        metadata plus "adapter_id", "doc_id", "group_index" and "score".
        """
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise InputError(f"k must be an int >= 1, got {k!r}; pass e.g. k=4")
        if not isinstance(query, str) or not query.strip():
            raise InputError(f"query must be a non-empty str, got {query!r:.80}")
        with self._state_lock:
            hits = self.router.search(query, k)
            if not hits:
                return []
            by_id = {e.id: e for e in self.manifest.entries(ids=[h[0] for h in hits])}
        out = []
        for entry_id, score in hits:
            e = by_id.get(entry_id)
            if e is None:  # deleted by another process since this store was opened
                continue
            metadata = {**e.metadata, "adapter_id": entry_id, "doc_id": e.doc_id, "group_index": e.group_index, "score": float(score)}
            out.append((Document(text=e.text, metadata=metadata, id=entry_id), float(score)))
        return out

    def adapter(self, adapter_id: str) -> LoraWeights:
        """The adapter of an entry, meta["id"] = adapter_id (LRU-cached; treat its tensors as read-only)."""
        if not isinstance(adapter_id, str) or not adapter_id:
            raise InputError(f"adapter_id must be a non-empty str, got {adapter_id!r:.80}")
        row = self.manifest.entry_file(adapter_id)
        if row is None:
            raise InputError(f"no adapter {adapter_id!r} in store {self.path}; ids come from search() or entries()")
        file_name, content_hash = row
        with self._cache_lock:
            lora = self._cache.get(content_hash)
            if lora is not None:
                self._cache.move_to_end(content_hash)
        if lora is None:
            path = self.path / ADAPTER_DIR / file_name
            if not path.is_file():
                raise CorruptFileError(
                    f"entry {adapter_id!r} of store {self.path} names the missing adapter file {file_name}; "
                    "the folder was changed outside doc2lora: delete the entry and add its document again"
                )
            lora = LoraWeights.load(path, dtype=torch.float32)
            with self._cache_lock:
                self._cache[content_hash] = lora
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return lora.with_meta(id=adapter_id, content_hash=content_hash)

    def routed_adapters(self, adapter_ids: Sequence[str]) -> list[LoraWeights]:
        """The adapters of `adapter_ids`, ready to be switched in together.

        Each has meta["id"] = "<id>@<content hash>", the engine's slot key (a re-added id never
        serves stale weights). Memory adapters (from `MemoryGenerator`) come back as one adapter
        written jointly over all their keys (`MemoryGenerator.combine`, which loads the store's
        generator); others as the list, which the engine adds up (rank concatenation).
        """
        ids = _check_id_list(adapter_ids, "adapter_ids")
        loras = []
        for adapter_id in ids:
            lora = self.adapter(adapter_id)
            loras.append(lora.with_meta(id=f"{adapter_id}@{str(lora.meta.get('content_hash', ''))[:16]}"))
        if len(loras) < 2 or not all("gram" in x.extras for x in loras):
            return loras
        key = "joint:" + "|".join(x.meta["id"] for x in loras)
        with self._cache_lock:
            joint = self._combined.get(key)
            if joint is not None:
                self._combined.move_to_end(key)
                return [joint]
        combine = getattr(self.generator, "combine", None)
        if combine is None:
            return loras
        joint = combine(loras).with_meta(id=key)
        with self._cache_lock:
            self._combined[key] = joint
            while len(self._combined) > max(2, self.cache_size // 4):
                self._combined.popitem(last=False)
        return [joint]

    def verify(self, deep: bool = False) -> dict[str, list[str]]:
        """Consistency report: entries with missing files, unreferenced/temporary files, unreadable files (deep)."""
        referenced = self.manifest.referenced_files()
        present = {p.name for p in (self.path / ADAPTER_DIR).iterdir()}
        report = {
            "missing_files": sorted(e for name, ids in referenced.items() if name not in present for e in ids),
            "orphan_files": sorted(n for n in present if n.endswith(SUFFIX) and n not in referenced),
            "temp_files": sorted(n for n in present if n.startswith(".")),
            "unreadable_files": [],
        }
        if deep:
            for name in sorted(set(referenced) & present):
                try:
                    LoraWeights.load(self.path / ADAPTER_DIR / name)
                except (CorruptFileError, InputError):
                    report["unreadable_files"].append(name)
        return report

    def close(self) -> None:
        """Close every SQLite connection of this store (any thread's)."""
        self.manifest.close()

    def __enter__(self) -> AdapterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
