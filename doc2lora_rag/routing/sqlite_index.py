"""Routing inside the store's SQLite manifest: nothing loaded whole on open, every process sees every commit.

Two indexes kept by triggers on the `entries` table, so they change in the same transaction as the
entries they index:

- `routing_text`: an FTS5 table of the entries' texts (rowid = the entry's rowid), ranked by FTS5's
  BM25 (the query's words OR-ed);
- `routing_bits`: a `sqlite-vec` table of the routing keys' sign bits (rowid = the entry's rowid),
  created with the first key when the extension is loaded. Up to `EXACT_LIMIT` entries (and
  without the extension) a dense query is the exact cosine over every key; above, it takes the `RESCORE`
  nearest by Hamming distance and ranks them by exact cosine against their float keys (`entries.routing_key`).

`SqliteIndex` answers the queries; `ensure_text_index` / `ensure_bits_index` create the tables and
triggers and fill them from the entries already there (a store written before them, or a VACUUM that
renumbered rowids).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .lexical import tokenize_words

# Up to EXACT_LIMIT entries (by rowid) a dense search is the exact cosine over every key. Above, the RESCORE nearest
# by Hamming distance are ranked again by exact cosine: sqlite-vec's k-nearest search costs grow with k (100k sign
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


class SqliteIndex:
    """Queries against a manifest's entries and routing tables through `conn()` (the caller's per-thread connection)."""

    def __init__(self, conn: Callable[[], Any], use_bits: bool) -> None:
        """`use_bits`: the connections load `sqlite-vec`, so `routing_bits` (where present) can be queried."""
        self.conn = conn
        self.use_bits = use_bits

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
        if self.searches_bits(conn):
            rows = conn.execute(
                "SELECT e.rowid, e.id, e.routing_key FROM (SELECT rowid FROM routing_bits WHERE key MATCH vec_quantize_binary(?) "
                "AND k = ?) b JOIN entries e ON e.rowid = b.rowid", (vector.tobytes(), max(n, RESCORE))).fetchall()
        else:
            rows = conn.execute("SELECT rowid, id, routing_key FROM entries WHERE routing_key IS NOT NULL").fetchall()
        return self._ranked(rows, vector, n)

    def searches_bits(self, conn: Any = None) -> bool:
        """Whether a dense search takes sign-bit candidates (above `EXACT_LIMIT` entries, with the bits table)
        rather than the exact cosine over every key."""
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
        if keys.shape[1] != vector.shape[0]:
            from ..errors import InputError

            raise InputError(f"the query vector has {vector.shape[0]} dimensions, the store's routing keys {keys.shape[1]}; "
                             "route with the embedder that made the keys")
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
