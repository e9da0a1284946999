"""Routing inside the store's SQLite manifest: nothing loaded whole on open, every process sees every commit.

Two indexes kept by triggers on the `entries` table, so they change in the same transaction as the
entries they index:

- `routing_text`: an FTS5 table of the entries' texts (rowid = the entry's rowid), ranked by FTS5's
  BM25 (the query's words OR-ed);
- `routing_bits`: a `sqlite-vec` table of the routing keys' sign bits (rowid = the entry's rowid),
  created with the first key when the extension is loaded;
- `routing_changes`: a log of the entry ids whose routing key came, went or changed.

A dense query is the exact cosine over every key. The keys are read into a `KeyCache` (one float32
matrix per process) on the first dense query, not on open, and kept up to date from the change log
(a commit by this or another process: only the changed entries are read). A store whose keys are larger than
`KEY_CACHE_BYTES` is searched inside SQLite instead: the exact scan up to `EXACT_LIMIT` entries, above
it the `RESCORE` nearest by Hamming distance ranked by exact cosine against their float keys.

`SqliteIndex` answers the queries; `ensure_text_index` / `ensure_bits_index` create the tables and
triggers and fill them from the entries already there (a store written before them, or a VACUUM that
renumbered rowids).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .lexical import tokenize_words

# Keys up to KEY_CACHE_BYTES (float32) are searched in memory (`KeyCache`): 100k MiniLM keys are 154 MB.
KEY_CACHE_BYTES = 1 << 30
# Without the cache: up to EXACT_LIMIT entries (by rowid) the exact cosine over every key in SQLite. Above, the RESCORE
# nearest by Hamming distance ranked again by exact cosine: sqlite-vec's k-nearest search costs grow with k (100k sign
# vectors, 2 busy cores: k=64 9 ms, 128 34 ms, 512 152 ms) and its recall depends on the keys (README, routing table).
EXACT_LIMIT = 10000
RESCORE = 512

TEXT_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS routing_text USING fts5(text, tokenize='unicode61')

CREATE TRIGGER IF NOT EXISTS routing_text_insert AFTER INSERT ON entries BEGIN
  INSERT INTO routing_text(rowid, text) VALUES (new.rowid, new.text);
END

CREATE TRIGGER IF NOT EXISTS routing_text_delete AFTER DELETE ON entries BEGIN
  DELETE FROM routing_text WHERE rowid = old.rowid;
END
"""

BITS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS routing_bits USING vec0(key bit[{dim}])

CREATE TRIGGER IF NOT EXISTS routing_bits_insert AFTER INSERT ON entries WHEN new.routing_key IS NOT NULL BEGIN
  INSERT INTO routing_bits(rowid, key) VALUES (new.rowid, vec_quantize_binary(new.routing_key));
END

CREATE TRIGGER IF NOT EXISTS routing_bits_delete AFTER DELETE ON entries BEGIN
  DELETE FROM routing_bits WHERE rowid = old.rowid;
END

CREATE TRIGGER IF NOT EXISTS routing_bits_update AFTER UPDATE OF routing_key ON entries BEGIN
  DELETE FROM routing_bits WHERE rowid = old.rowid;
  INSERT INTO routing_bits(rowid, key) SELECT new.rowid, vec_quantize_binary(new.routing_key) WHERE new.routing_key IS NOT NULL;
END
"""


# Every change of an entry's routing key, by entry id (a VACUUM may renumber rowids), for the key caches of all
# processes (`KeyCache`); the oldest are pruned past CHANGES_KEPT (a cache that missed them reads every key again).
CHANGES_KEPT = 100000
CHANGES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS routing_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)

CREATE TRIGGER IF NOT EXISTS routing_changes_insert AFTER INSERT ON entries WHEN new.routing_key IS NOT NULL BEGIN
  INSERT INTO routing_changes(entry) VALUES (new.id);
END

CREATE TRIGGER IF NOT EXISTS routing_changes_delete AFTER DELETE ON entries WHEN old.routing_key IS NOT NULL BEGIN
  INSERT INTO routing_changes(entry) VALUES (old.id);
END

CREATE TRIGGER IF NOT EXISTS routing_changes_update AFTER UPDATE OF routing_key ON entries BEGIN
  INSERT INTO routing_changes(entry) VALUES (new.id);
END

CREATE TRIGGER IF NOT EXISTS routing_changes_prune AFTER INSERT ON routing_changes WHEN new.seq % 1000 = 0 BEGIN
  DELETE FROM routing_changes WHERE seq <= new.seq - {CHANGES_KEPT};
END
"""


def _run(conn: Any, script: str) -> None:
    for statement in script.split("\n\n"):  # statements are separated by blank lines
        if statement.strip():
            conn.execute(statement)


def has_table(conn: Any, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _in_step(conn: Any, table: str, keyed: bool) -> bool:
    """Whether `table` indexes exactly the entries' rowids (counts and the newest rowid agree)."""
    where = " WHERE routing_key IS NOT NULL" if keyed else ""
    count, newest = conn.execute(f"SELECT COUNT(*), MAX(rowid) FROM entries{where}").fetchone()
    indexed = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    if indexed != count:
        return False
    return newest is None or conn.execute(f"SELECT 1 FROM {table} WHERE rowid = ?", (newest,)).fetchone() is not None


def ensure_text_index(conn: Any) -> None:
    """Create the FTS5 table and its triggers if missing and (re)fill it if it is out of step (caller's transaction)."""
    fresh = not has_table(conn, "routing_text")
    _run(conn, TEXT_SCHEMA)
    if fresh or not _in_step(conn, "routing_text", keyed=False):
        conn.execute("DELETE FROM routing_text")
        conn.execute("INSERT INTO routing_text(rowid, text) SELECT rowid, text FROM entries")


def ensure_change_log(conn: Any) -> None:
    """Create the change log of the routing keys and its triggers if missing (caller's transaction). Caches
    reading a store that has just got it read every key once; the log starts empty."""
    _run(conn, CHANGES_SCHEMA)


def ensure_bits_index(conn: Any, dim: int) -> bool:
    """Create the sign-bit table for `dim`-wide keys and its triggers if missing, (re)fill it if out of step
    (caller's transaction). False when the keys' width is not a multiple of 8 (exact scan then)."""
    if dim % 8:
        return False
    fresh = not has_table(conn, "routing_bits")
    _run(conn, BITS_SCHEMA.format(dim=dim))
    if fresh or not _in_step(conn, "routing_bits", keyed=True):
        conn.execute("DELETE FROM routing_bits")
        conn.execute("INSERT INTO routing_bits(rowid, key) SELECT rowid, vec_quantize_binary(routing_key) FROM entries "
                     "WHERE routing_key IS NOT NULL")
    return True


def match_query(text: str) -> str | None:
    """An FTS5 query OR-ing the text's words (`tokenize_words`, as BM25 routing reads them), each quoted (None when it has none)."""
    words = dict.fromkeys(tokenize_words(text))
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words) or None


def _check_width(vector: np.ndarray, width: int) -> None:
    if width != vector.shape[0]:
        from ..errors import InputError

        raise InputError(f"the query vector has {vector.shape[0]} dimensions, the store's routing keys {width}; "
                         "route with the embedder that made the keys")


class KeyCache:
    """A manifest's routing keys as one float32 matrix in memory, for the exact dense search.

    Empty until the first search, which reads every keyed entry. Before each later search it reads the
    `routing_changes` log past the last change it applied (a commit by any process) and re-reads only
    the entries named there: removed, re-keyed or new (an id deleted and added again is logged twice). The
    log's position is read before the entries, so a commit in between is applied by the next search.
    A store without the log (opened read-only, written before it) is read again whole when its
    `revision` moves. Searches and updates take turns under one lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.seen: tuple[int, int] | None = None  # (last change applied, revision) when filled
        self.over: tuple[int, int] | None = None  # the state at which the keys were found over the budget
        self.keys = np.empty((0, 0), dtype=np.float32)  # [capacity, width]; rows [:len] are live
        self.rowids = np.empty(0, dtype=np.int64)
        self.ids: list[str] = []
        self.slot: dict[str, int] = {}  # entry id -> row (rowids, kept for ties, may be renumbered by a VACUUM)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, conn: Any, revision: Callable[[Any], int], vector: np.ndarray, n: int) -> list[tuple[str, float]] | None:
        """The `n` highest cosines of the unit `vector`, best first (ties: older entry first); None when the
        keys would take more than `max_bytes` (the caller searches in SQLite)."""
        with self._lock:
            if not self._update(conn, revision):
                return None
            if not self.ids:
                return []
            count = len(self.ids)
            _check_width(vector, self.keys.shape[1])
            scores = self.keys[:count] @ vector
            rowids = self.rowids[:count]
            if n < count:
                cut = scores[np.argpartition(-scores, n - 1)[:n]].min()
                top = np.flatnonzero(scores >= cut)  # every entry tied at the cut competes on age
            else:
                top = np.arange(count)
            order = top[np.lexsort((rowids[top], -scores[top]))][:n]
            return [(self.ids[i], float(scores[i])) for i in order]

    def _update(self, conn: Any, revision: Callable[[Any], int]) -> bool:
        logged = has_table(conn, "routing_changes")
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'routing_changes'").fetchone() if logged else None
        now = (last[0] if last else 0, 0 if logged else revision(conn))
        if self.seen is not None and now == self.seen:
            return True
        if self.over == now:  # over the budget at this state of the manifest: not counted again
            return False
        if self.seen is None or not logged or now[1] != self.seen[1] or self._missed(conn):
            return self._load(conn, now)
        changed = [r[0] for r in conn.execute("SELECT DISTINCT entry FROM routing_changes WHERE seq > ? AND seq <= ?",
                                              (self.seen[0], now[0]))]
        rows = self._rows(conn, changed)
        self._drop([e for e in changed if e in self.slot])
        if rows and (len(self.ids) + len(rows)) * len(rows[0][2]) > self.max_bytes:
            self._clear()
            self.over = now
            return False
        self._append(rows)
        self.seen = now
        return True

    def _missed(self, conn: Any) -> bool:
        """Whether changes this cache has not applied were pruned from the log (it then reads everything again)."""
        oldest = conn.execute("SELECT MIN(seq) FROM routing_changes").fetchone()[0]
        return oldest is None or oldest > self.seen[0] + 1

    def _load(self, conn: Any, now: tuple[int, int]) -> bool:
        self._clear()
        row = conn.execute("SELECT COUNT(*), MAX(LENGTH(routing_key)) FROM entries WHERE routing_key IS NOT NULL").fetchone()
        if row[0] * (row[1] or 0) > self.max_bytes:
            self.over = now
            return False
        self._append(conn.execute("SELECT rowid, id, routing_key FROM entries WHERE routing_key IS NOT NULL").fetchall())
        self.seen = now
        return True

    @staticmethod
    def _rows(conn: Any, ids: list[str]) -> list[tuple]:
        rows: list[tuple] = []
        for start in range(0, len(ids), 900):  # under SQLite's default limit of bound parameters
            part = ids[start : start + 900]
            rows += conn.execute(f"SELECT rowid, id, routing_key FROM entries WHERE id IN ({','.join('?' * len(part))}) "
                                 "AND routing_key IS NOT NULL", part).fetchall()
        return rows

    def _drop(self, ids: list[str]) -> None:
        """Remove entries by id: the last live row moves into each freed one."""
        for entry in ids:
            i, last = self.slot.pop(entry), len(self.ids) - 1
            if i != last:
                self.keys[i], self.rowids[i], self.ids[i] = self.keys[last], self.rowids[last], self.ids[last]
                self.slot[self.ids[i]] = i
            self.ids.pop()

    def _append(self, rows: list[tuple]) -> None:
        if not rows:
            return
        fresh = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        count = len(self.ids)
        if count and fresh.shape[1] != self.keys.shape[1]:
            from ..errors import CorruptFileError

            raise CorruptFileError(f"routing keys of {fresh.shape[1]} and {self.keys.shape[1]} dimensions in one store; re-ingest the store")
        if count + len(rows) > len(self.keys):  # grow by half again: appends cost their own rows, amortised
            capacity = max((count + len(rows)) * 9 // 8, len(self.keys) * 3 // 2, 1024)  # room for the next commits
            keys, rowids = np.empty((capacity, fresh.shape[1]), dtype=np.float32), np.empty(capacity, dtype=np.int64)
            if count:
                keys[:count], rowids[:count] = self.keys[:count], self.rowids[:count]
            self.keys, self.rowids = keys, rowids
        self.keys[count : count + len(rows)] = fresh
        self.rowids[count : count + len(rows)] = [r[0] for r in rows]
        for i, r in enumerate(rows, start=count):
            self.slot[r[1]] = i
        self.ids += [r[1] for r in rows]


class SqliteIndex:
    """Queries against a manifest's entries and routing tables through `conn()` (the caller's per-thread connection)."""

    def __init__(self, conn: Callable[[], Any], use_bits: bool, revision: Callable[[Any], int] | None = None,
                 key_cache_bytes: int | None = None) -> None:
        """`use_bits`: the connections load `sqlite-vec`, so `routing_bits` (where present) can be queried.
        `revision(conn)`: the manifest's revision, which moves with every committed change of its entries;
        with it, dense search runs over a `KeyCache` of up to `key_cache_bytes` (default `KEY_CACHE_BYTES`)."""
        self.conn = conn
        self.use_bits = use_bits
        self.revision = revision
        self.cache = KeyCache(KEY_CACHE_BYTES if key_cache_bytes is None else key_cache_bytes) if revision is not None else None

    def __len__(self) -> int:
        return int(self.conn().execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and self.conn().execute("SELECT 1 FROM entries WHERE id = ?", (item,)).fetchone() is not None

    @property
    def ids(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT id FROM entries ORDER BY rowid")]

    def text(self, item: str) -> str | None:
        row = self.conn().execute("SELECT text FROM entries WHERE id = ?", (item,)).fetchone()
        return None if row is None else row[0]

    def dense(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The `n` entries with the highest cosine to the unit `vector`, best first (ties: older first)."""
        conn = self.conn()
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        found = self.cache.search(conn, self.revision, vector, n) if self.cache is not None else None
        if found is not None:
            return found
        if self.searches_bits(conn):
            rows = conn.execute(
                "SELECT e.rowid, e.id, e.routing_key FROM (SELECT rowid FROM routing_bits WHERE key MATCH vec_quantize_binary(?) "
                "AND k = ?) b JOIN entries e ON e.rowid = b.rowid", (vector.tobytes(), max(n, RESCORE))).fetchall()
        else:
            rows = conn.execute("SELECT rowid, id, routing_key FROM entries WHERE routing_key IS NOT NULL").fetchall()
        return self._ranked(rows, vector, n)

    def method(self) -> str:
        """How the last dense search ran: over the key cache, over sign-bit candidates or by an exact scan in SQLite."""
        if self.cache is not None and self.cache.seen is not None:
            return "exact cosine over the in-memory key cache"
        return "sqlite-vec sign bits + exact rescoring" if self.searches_bits() else "exact scan in SQLite"

    def searches_bits(self, conn: Any = None) -> bool:
        """Whether a dense search in SQLite takes sign-bit candidates (above `EXACT_LIMIT` entries, with the bits
        table) rather than the exact cosine over every key."""
        conn = conn or self.conn()
        newest = conn.execute("SELECT MAX(rowid) FROM entries").fetchone()[0] or 0  # >= the entry count, without a scan
        return self.use_bits and newest > EXACT_LIMIT and has_table(conn, "routing_bits")

    def cosines(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        """Exact cosine of the unit `vector` with the keys of `ids` (those that have one)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(f"SELECT rowid, id, routing_key FROM entries WHERE id IN ({marks}) AND routing_key IS NOT NULL", ids).fetchall()
        return dict(self._ranked(rows, np.ascontiguousarray(vector, dtype=np.float32), len(rows)))

    @staticmethod
    def _ranked(rows: list[tuple], vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        if not rows:
            return []
        rows.sort(key=lambda r: r[0])
        keys = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        _check_width(vector, keys.shape[1])
        scores = keys @ vector
        order = np.lexsort((np.arange(len(rows)), -scores))[:n]
        return [(rows[i][1], float(scores[i])) for i in order]

    def lexical(self, query: str, n: int) -> list[tuple[str, float]]:
        """The `n` best entries by FTS5 BM25 (higher is better), best first; none when the query has no words."""
        match = match_query(query)
        if match is None:
            return []
        rows = self.conn().execute(
            "SELECT e.id, -t.rank FROM (SELECT rowid, rank FROM routing_text WHERE routing_text MATCH ? ORDER BY rank LIMIT ?) t "
            "JOIN entries e ON e.rowid = t.rowid ORDER BY t.rank, e.rowid", (match, n)).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def bm25(self, query: str, ids: list[str]) -> dict[str, float]:
        """FTS5 BM25 of `ids` for `query` (0 for entries that share no word with it)."""
        match = match_query(query)
        if match is None or not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(
            f"SELECT e.id, -bm25(routing_text) FROM routing_text JOIN entries e ON e.rowid = routing_text.rowid "
            f"WHERE routing_text MATCH ? AND e.id IN ({marks})", (match, *ids)).fetchall()
        return {r[0]: float(r[1]) for r in rows}
