"""The SQLite manifest of an AdapterStore: schema, per-thread connections, and every query.

Tables (see `SCHEMA`): `meta` (key -> JSON value: format_version, created, chunking, adapter_dtype,
router, generator, base_model), `documents` (one row per document, with its full text) and
`entries` (one row per chunk group: its text, the adapter file it names, its routing key), and the
routing tables that triggers keep in step with `entries` (`routing.sqlite_index`: FTS5 text, sign
bits of the keys for `sqlite-vec`).
The manifest runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
power loss before the store deletes the files it no longer references. No file I/O beyond SQLite.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, StoreError
from ..routing.sqlite_index import ensure_bits_index, ensure_change_log, ensure_text_index, has_table
from . import sqlite

__all__ = ["SCHEMA", "Manifest", "StoreEntry"]

_SQL_CHUNK = 500  # ids per "IN (...)" query

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,            -- the full original text
    metadata TEXT NOT NULL,        -- JSON object
    content_hash TEXT NOT NULL,    -- sha256 of the text
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,           -- adapter id: doc_id, or doc_id#i when the document has several groups
    doc_id TEXT NOT NULL,
    group_index INTEGER NOT NULL,
    text TEXT NOT NULL,            -- the chunk group's text (what the adapter was generated from)
    metadata TEXT NOT NULL,        -- JSON object: the document's metadata
    content_hash TEXT NOT NULL,    -- sha256 of text
    adapter_file TEXT NOT NULL,    -- file name under adapters/ (shared by entries with the same text)
    start_char INTEGER NOT NULL,   -- group = document.text[start_char:end_char]
    end_char INTEGER NOT NULL,
    routing_key BLOB,              -- float32 unit vector, NULL when the router does not use keys
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_doc ON entries(doc_id);
CREATE INDEX IF NOT EXISTS entries_file ON entries(adapter_file);
"""

_ENTRY_COLUMNS = "id, doc_id, group_index, text, metadata, content_hash, adapter_file, start_char, end_char, created"


@dataclass(frozen=True)
class StoreEntry:
    """One chunk group of a document and its adapter."""

    id: str
    doc_id: str
    group_index: int
    text: str
    metadata: dict[str, Any]
    content_hash: str
    adapter_file: str
    start: int
    end: int
    created: float


REVISION = "revision"  # meta key: committed changes to the entries, so every open store object can see others' writes


def _parts(items: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """Slices of at most _SQL_CHUNK items with their "?,?,..." placeholder list."""
    for i in range(0, len(items), _SQL_CHUNK):
        part = items[i : i + _SQL_CHUNK]
        yield part, ",".join("?" * len(part))


class Manifest:
    """One manifest file; each thread gets its own connection (autocommit, explicit transactions)."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError(f"the store at {self.path.parent} is closed; open it again")
            if self.read_only:
                # On a read-only disk nobody can write the file, and SQLite could not create the WAL index it
                # reads through: open it as immutable (no locks, no index).
                immutable = "&immutable=1" if self.path.is_file() and not os.access(self.path.parent, os.W_OK) else ""
                conn = sqlite.connect(self.path.as_uri() + "?mode=ro" + immutable, uri=True)
            else:
                conn = sqlite.connect(str(self.path))
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite.error()):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    # -- meta ----------------------------------------------------------------------------------

    def create(self, meta: dict[str, Any]) -> None:
        self.conn().execute("PRAGMA journal_mode=WAL")
        with self.transaction() as c:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            for key, value in meta.items():
                self.set_meta(c, key, value)
            ensure_text_index(c)
            ensure_change_log(c)

    def ensure_routing(self) -> bool:
        """Make the routing tables current (a store written before them, or a VACUUM that renumbered rows) and
        say whether routing can run in SQLite: False for a read-only store without them (the caller loads the
        entries into memory instead). A store whose key table needs `sqlite-vec` is refused for writing without it."""
        conn = self.conn()
        if has_table(conn, "routing_bits") and not sqlite.has_vec():
            if not self.read_only:
                raise StoreError(f"{self.path} keeps its routing keys in a sqlite-vec table, which this Python cannot load; "
                                 "pip install sqlite-vec pysqlite3-binary, or open the store with read_only=True")
        if self.read_only:
            return has_table(conn, "routing_text")
        with self.transaction() as c:
            ensure_text_index(c)
            ensure_change_log(c)
            self._ensure_bits(c)
        return True

    def _ensure_bits(self, conn: Any, key: bytes | None = None) -> None:
        """The sign-bit table of the keys once there are keys (as wide as `key`, else as the stored ones), when
        `sqlite-vec` is loaded (caller's transaction)."""
        if not sqlite.has_vec():
            return
        if key is None:
            row = conn.execute("SELECT routing_key FROM entries WHERE routing_key IS NOT NULL LIMIT 1").fetchone()
            key = None if row is None else row[0]
        if key is not None:
            ensure_bits_index(conn, len(key) // 4)

    def read_meta(self) -> dict[str, Any]:
        try:
            meta = {k: json.loads(v) for k, v in self.conn().execute("SELECT key, value FROM meta")}
        except (sqlite.database_error(), json.JSONDecodeError) as exc:
            raise CorruptFileError(f"{self.path} is not a readable store manifest ({exc}); restore it from a backup") from exc
        if "chunking" not in meta:
            raise CorruptFileError(f"{self.path} has no chunking settings in its meta table; the store is damaged")
        return meta

    @staticmethod
    def set_meta(conn: Any, key: str, value: Any) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def revision(self, conn: Any = None) -> int:
        """How many committed changes the entries have seen (0 for a store written before revisions were kept)."""
        row = (conn or self.conn()).execute("SELECT value FROM meta WHERE key = ?", (REVISION,)).fetchone()
        return int(json.loads(row[0])) if row else 0

    def _bump(self, conn: Any) -> int:
        """Count one more change, inside the caller's (immediate) transaction; returns the new revision."""
        rev = self.revision(conn) + 1
        self.set_meta(conn, REVISION, rev)
        return rev

    # -- reading -------------------------------------------------------------------------------

    def count_documents(self) -> int:
        return int(self.conn().execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def has_document(self, doc_id: str) -> bool:
        return self.conn().execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def doc_ids(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT id FROM documents ORDER BY rowid")]

    def documents(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """{doc_id: (text, metadata)} for the ids that exist."""
        found = {}
        for part, marks in _parts(list(dict.fromkeys(ids))):
            for doc_id, text, metadata in self.conn().execute(f"SELECT id, text, metadata FROM documents WHERE id IN ({marks})", part):
                found[doc_id] = (text, json.loads(metadata))
        return found

    def entries(self, doc_id: str | None = None, ids: Sequence[str] | None = None) -> list[StoreEntry]:
        """Entries in write order: all, those of one document, or those with the given ids."""
        rows: list[tuple] = []
        if ids is not None:
            for part, marks in _parts(list(ids)):
                rows += self.conn().execute(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id IN ({marks}) ORDER BY rowid", part).fetchall()
        elif doc_id is not None:
            rows = self.conn().execute(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE doc_id = ? ORDER BY rowid", (doc_id,)).fetchall()
        else:
            rows = self.conn().execute(f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY rowid").fetchall()
        return [StoreEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def first_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Document id -> the text of its first chunk group (group 0), for the ids the store holds."""
        out: dict[str, str] = {}
        for part, marks in _parts(list(dict.fromkeys(doc_ids))):
            out.update(self.conn().execute(f"SELECT doc_id, text FROM entries WHERE group_index = 0 AND doc_id IN ({marks})", part).fetchall())
        return out

    def entry_file(self, entry_id: str) -> tuple[str, str] | None:
        """(adapter_file, content_hash) of an entry, or None."""
        return self.conn().execute("SELECT adapter_file, content_hash FROM entries WHERE id = ?", (entry_id,)).fetchone()

    def routing_rows(self) -> list[tuple[str, str, bytes | None]]:
        """(entry id, text, routing key bytes or None) for every entry, in write order."""
        return self.conn().execute("SELECT id, text, routing_key FROM entries ORDER BY rowid").fetchall()

    def has_keys(self) -> bool:
        return self.conn().execute("SELECT 1 FROM entries WHERE routing_key IS NOT NULL LIMIT 1").fetchone() is not None

    def unkeyed_rows(self) -> list[tuple[str, str]]:
        """(entry id, text) of the entries without a routing key, in write order."""
        return self.conn().execute("SELECT id, text FROM entries WHERE routing_key IS NULL ORDER BY rowid").fetchall()

    def referenced_files(self) -> dict[str, list[str]]:
        """adapter file name -> the entry ids naming it."""
        out: dict[str, list[str]] = {}
        for entry_id, name in self.conn().execute("SELECT id, adapter_file FROM entries"):
            out.setdefault(name, []).append(entry_id)
        return out

    def is_referenced(self, file_name: str) -> bool:
        return self.conn().execute("SELECT 1 FROM entries WHERE adapter_file = ? LIMIT 1", (file_name,)).fetchone() is not None

    def hashes_in_use(self, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part, marks in _parts(list(hashes)):
            found |= {r[0] for r in self.conn().execute(f"SELECT DISTINCT content_hash FROM entries WHERE content_hash IN ({marks})", part)}
        return found

    def owners(self, names: Sequence[str]) -> list[tuple[str, str]]:
        """(name, doc_id) for each name that is an entry id or a document id (of entries) in the store."""
        out: list[tuple[str, str]] = []
        for part, marks in _parts(list(names)):
            out += self.conn().execute(
                f"SELECT id, doc_id FROM entries WHERE id IN ({marks}) UNION ALL SELECT doc_id, doc_id FROM entries WHERE doc_id IN ({marks})",
                (*part, *part),
            ).fetchall()
        return out

    # -- writing -------------------------------------------------------------------------------

    def replace_documents(self, documents: list[tuple], entries: list[tuple], meta: dict[str, Any]) -> tuple[list[str], set[str], int]:
        """One transaction: delete the documents' old rows, insert the new ones, update `meta`.

        `documents`: (id, text, metadata_json, content_hash, created); `entries`: rows in column
        order. Returns (old entry ids, old adapter files) of the replaced documents and the new revision.
        """
        doc_ids = [d[0] for d in documents]
        with self.transaction() as c:
            old: list[tuple] = []
            for part, marks in _parts(doc_ids):
                old += c.execute(f"SELECT id, adapter_file FROM entries WHERE doc_id IN ({marks})", part).fetchall()
            c.executemany("DELETE FROM entries WHERE doc_id = ?", [(d,) for d in doc_ids])
            c.executemany("DELETE FROM documents WHERE id = ?", [(d,) for d in doc_ids])
            c.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?)", documents)
            first_key = next((e[9] for e in entries if e[9] is not None), None)
            if first_key is not None and not has_table(c, "routing_bits"):
                self._ensure_bits(c, first_key)  # created with the first key (its width), then kept by triggers
            c.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", entries)
            for key, value in meta.items():
                self.set_meta(c, key, value)
            rev = self._bump(c)
        return [r[0] for r in old], {r[1] for r in old}, rev

    def delete(self, ids: Sequence[str]) -> tuple[list[str], set[str], int]:
        """Delete documents (by doc id) and entries (by entry id); a document left without entries goes too.

        Returns (deleted entry ids, their adapter files, the new revision).
        """
        with self.transaction() as c:
            rows: list[tuple] = []
            for part, marks in _parts(list(ids)):
                rows += c.execute(
                    f"SELECT id, doc_id, adapter_file FROM entries WHERE doc_id IN ({marks}) OR id IN ({marks})", (*part, *part)
                ).fetchall()
            gone = sorted({r[0] for r in rows})
            c.executemany("DELETE FROM entries WHERE id = ?", [(e,) for e in gone])
            c.executemany("DELETE FROM documents WHERE id = ?", [(d,) for d in ids])
            c.executemany(
                "DELETE FROM documents WHERE id = ? AND NOT EXISTS (SELECT 1 FROM entries WHERE doc_id = ?)",
                [(d, d) for d in {r[1] for r in rows}],
            )
            rev = self._bump(c)
        return gone, {r[2] for r in rows}, rev

    def set_keys(self, keys: dict[str, bytes], meta: dict[str, Any]) -> int:
        """Store routing keys for existing entries (and update `meta`) in one transaction; returns the new
        revision (key caches of every process catch up with it)."""
        with self.transaction() as c:
            c.executemany("UPDATE entries SET routing_key = ? WHERE id = ?", [(key, entry_id) for entry_id, key in keys.items()])
            self._ensure_bits(c)
            for k, v in meta.items():
                self.set_meta(c, k, v)
            return self._bump(c)
