"""Routing of an AdapterStore: the router it opens with, the routing tables it keeps current, the keys it embeds.

`StoreRouting` is mixed into `AdapterStore` (like `read.AdapterReads` and `write.WriteProtocol`); it
uses the facade's manifest, meta, locks and `router`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import CorruptFileError, InputError, ModelMismatchError
from ..routing import MiniLMEmbedder, Router
from ..routing.router import EXTERNAL
from ..routing.sqlite_index import SqliteIndex
from . import sqlite

logger = logging.getLogger(__name__)


class StoreRouting:
    """The store's router: made at open, routed inside the manifest where it can be (mixed into `AdapterStore`)."""

    def _make_router(self, router: Any) -> Router:
        stored = self._meta.get("router")
        if router is None:
            if stored is None:
                router = Router()
            elif stored["mode"] == "bm25":
                router = Router(mode="bm25")
            elif stored["mode"] == EXTERNAL:
                raise InputError(
                    f"store {self.path} routes through the external index {stored['embedder']!r}; pass router=Router(external=...) "
                    "(e.g. langchain_doc2lora.VectorStoreRouter(your_vectorstore)), or a dense router to route inside the store"
                )
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

    def _advance(self, rev: int) -> None:
        """After this object's own commit (revision `rev`), its router updated in place: in step unless another
        object or process committed in between, which the next read catches up with (`_sync`)."""
        if rev == self._revision + 1:
            self._revision = rev

    def _sync(self) -> None:
        """Catch up with changes committed by another store object or process since this one last looked
        (caller holds `_state_lock`): nothing to do when routing runs in SQLite; else one small read of the
        manifest, a full router reload only on change."""
        if self.router.index is None and self.manifest.revision() != self._revision:
            self.router.remove(self.router.ids)
            self._load_router()

    def _load_router(self) -> None:
        """Load every entry's routing text (and key) into the router; embeds only keys that are missing."""
        self._revision = self.manifest.revision()  # read first: a change after it is caught by the next `_sync`
        if self.router.index is None and self.manifest.ensure_routing() and not (self.read_only and self.router.uses_keys and self.manifest.unkeyed_rows()):
            self.router.attach(SqliteIndex(self.manifest.conn, sqlite.has_vec(), self.manifest.revision))
        if self.router.index is not None:
            self._check_keys()
            self._reconcile_external()
            return
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
                    self._advance(self.manifest.set_keys({ids[i]: fresh[j].tobytes() for j, i in enumerate(missing)}, {"router": router_meta}))
                self._meta["router"] = router_meta
        if not ids:
            return
        try:
            matrix = np.stack(keys)
        except ValueError as exc:
            raise CorruptFileError(f"{self.manifest.path}: routing keys have different lengths ({exc}); re-ingest the store") from exc
        self.router.load(ids, texts, matrix)

    def _reconcile_external(self) -> None:
        """Give an external index the entries it lacks (committed here while it was unreachable, or a new index)."""
        external = self.router.external
        if external is None:
            return
        missing = external.missing(self.router.ids)
        if missing:
            logger.info("adding %d entries missing from the external index %s", len(missing), external.name)
            entries = self.manifest.entries(ids=missing)
            external.load([e.id for e in entries], [e.text for e in entries])

    def _check_keys(self) -> None:
        """Routing in SQLite: the keys were made by this router's embedder; keys missing (a store built in bm25
        mode, opened with a dense router) are embedded once and kept."""
        if not self.router.uses_keys:
            return
        stored_name = (self._meta.get("router") or {}).get("embedder")
        if self.manifest.has_keys() and stored_name != self.router.embedder_name:
            raise ModelMismatchError(
                f"store {self.path} holds routing keys made by embedder {stored_name!r}, but the router embeds with "
                f"{self.router.embedder_name!r}; open it with router=Router(<{stored_name}>) or ingest into a new store"
            )
        missing = self.manifest.unkeyed_rows()
        if missing:
            logger.info("embedding %d routing keys missing from %s", len(missing), self.path)
            fresh = self._embed([text for _, text in missing])
            router_meta = {**(self._meta.get("router") or {}), "embedder": self.router.embedder_name}
            with self._write_lock:
                self._advance(self.manifest.set_keys({entry_id: fresh[j].tobytes() for j, (entry_id, _) in enumerate(missing)},
                                                     {"router": router_meta}))
            self._meta["router"] = router_meta

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
