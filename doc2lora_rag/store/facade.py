"""AdapterStore: open (lock, recovery), the generator that built it, reads; writing is `write.WriteProtocol`,
routing `routing.StoreRouting`, adapter reads `read.AdapterReads`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..documents import Document
from ..errors import CorruptFileError, InputError, ModelMismatchError, StoreError
from .layout import ADAPTER_DIR, ADAPTER_FORMATS, DTYPES, FORMAT_VERSION, LOCK_FILE, MANIFEST, SUFFIX, canonical, check_id_list, check_int, new_chunking
from .manifest import Manifest, StoreEntry
from .read import ROUTE_DECAY, AdapterReads
from .routing import StoreRouting
from .write import IngestReport, WriteProtocol

try:  # POSIX advisory locks; elsewhere writers in different processes are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)


class AdapterStore(AdapterReads, WriteProtocol, StoreRouting):
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
        adapter_format: what a new store's files hold: "tokens" (the chunks' token ids, ~4 bytes a token:
            nothing is read at ingest, the frozen model reads a group when a question first routes to it in a
            process; the default where the generator reads them, as the memory generator does), "record" (what
            fixes each adapter, the MLP inputs at its positions, ~1 MB a group: read at ingest) or "lora" (the
            adapters themselves: reading needs no generator).
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
        adapter_format: str | None = None,
        cache_size: int = 32,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise InputError(f"path must be a directory path, got {path!r:.80}")
        check_int("chunk_tokens", chunk_tokens, 8)
        check_int("group_size", group_size, 1)
        check_int("overlap_tokens", overlap_tokens, 0)
        check_int("cache_size", cache_size, 1)
        if adapter_dtype not in DTYPES:
            raise InputError(f"adapter_dtype must be one of {sorted(DTYPES)}, got {adapter_dtype!r}")
        if adapter_format not in (None, *ADAPTER_FORMATS):
            raise InputError(f"adapter_format must be one of {list(ADAPTER_FORMATS)} or None, got {adapter_format!r}")
        self._adapter_format = adapter_format
        if generator is not None:
            self._check_generator_object(generator)
        self.path = Path(path).expanduser().resolve()
        self.read_only = bool(read_only)
        self.cache_size = cache_size
        self.route_decay = ROUTE_DECAY  # weights of routed groups after the best in a joint write (`read.ROUTE_DECAY`)
        self.last_ingest = IngestReport()
        self.recovered: dict[str, int] = {"temp_files": 0, "orphan_files": 0}
        self._write_lock = threading.RLock()  # one writer at a time
        self._state_lock = threading.RLock()  # router + manifest seen together by readers
        self._gen_lock = threading.Lock()
        self._stored_combiner: Any = None  # joins memory adapters without the generator (`_combiner`)
        self._generator: Any = None
        self._revision = 0  # the manifest revision the router reflects (`_sync`)

        manifest = self.path / MANIFEST
        exists = manifest.is_file()
        if exists and not self.read_only and not os.access(self.path, os.W_OK):
            raise StoreError(f"the store at {self.path} cannot be written here (a read-only disk, or a folder this user may not "
                             "write); open it with AdapterStore(path, read_only=True) to search and answer, or copy it to a writable disk")
        self.manifest = Manifest(manifest, read_only=self.read_only)
        if not exists and (read_only or not create):
            raise StoreError(f"no adapter store at {self.path} (no {MANIFEST}); create one with AdapterStore(path) (create=True)")
        if exists and not (self.path / ADAPTER_DIR).is_dir():
            raise CorruptFileError(f"{self.path} has a manifest but no {ADAPTER_DIR}/ folder; the store is damaged")
        self._meta: dict[str, Any] = {}
        if not exists:
            chunking = new_chunking(chunk_tokens, group_size, overlap_tokens)
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
        stored_format = self._meta.get("adapter_format", "lora" if "generator" in self._meta else None)
        if adapter_format is not None and stored_format is not None and adapter_format != stored_format:
            raise InputError(f"store {self.path} keeps adapter_format={stored_format!r}; omit adapter_format or pass {stored_format!r}")
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
        self._meta.update(canonical(values))

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
        ident = canonical(generator.identity())
        base = canonical(generator.base.identity())
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
            from ..generators import keeps_records

            # a new store keeps token records where the generator reads them (the memory generator), else its records,
            # else adapters; a store written before records keeps adapters
            fmt = self._adapter_format or next((f for f in ("tokens", "record") if keeps_records(generator, f)), "lora")
            if fmt != "lora" and not keeps_records(generator, fmt):
                raise InputError(f"adapter_format={fmt!r} needs a generator that keeps records (the memory generator); "
                                 f"{type(generator).__name__} does not: use adapter_format='lora'")
            self._set_meta({"generator": ident, "base_model": base, "adapter_format": fmt})
        self._generator = generator

    def _default_generator(self) -> Any:
        """The generator that built this store (or the registry's default for a new one)."""
        from ..generators import from_identity

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
    def keeps_records(self) -> bool:
        """True when the files hold the generator's records (`MemoryRecord`, `TokenRecord`), expanded into adapters on reading."""
        from ..generators import RECORD_METHODS

        return self._meta.get("adapter_format") in RECORD_METHODS

    @property
    def record_method(self) -> str:
        """The generator's method that makes what this store's files hold (`records`, `token_records`, `generate`)."""
        from ..generators import RECORD_METHODS

        return RECORD_METHODS.get(self._meta.get("adapter_format"), "generate")

    @property
    def meta(self) -> dict[str, Any]:
        """The manifest's meta table (format version, base model, generator, router, chunking, created)."""
        return json.loads(json.dumps(self._meta))

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

    def first_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Document id -> the text of its first chunk group (where a document's title usually is); unknown ids are
        skipped."""
        return self.manifest.first_texts(check_id_list(doc_ids))

    def get_by_ids(self, ids: Sequence[str]) -> list[Document]:
        """Whole documents (full original text, metadata, id) in the order of `ids`; unknown ids are skipped."""
        found = self.manifest.documents(check_id_list(ids))
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
            self._sync()
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

    def close(self) -> None:
        """Close every SQLite connection of this store (any thread's)."""
        self.manifest.close()

    def __enter__(self) -> AdapterStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
