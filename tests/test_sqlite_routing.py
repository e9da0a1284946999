"""Routing inside the store's SQLite file (`routing.sqlite_index`): nothing loaded on open, other processes'
commits seen at once, the in-memory key cache ranks like the exact scan in SQLite and follows every change,
the sign-bit search with exact rescoring ranks like the exact scan, old stores upgraded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_store import DOCS, HashEmbedder, add_docs, open_store, small_generator

from doc2lora_rag.routing import sqlite_index
from doc2lora_rag.store import MANIFEST, AdapterStore, sqlite

CHUNKING = dict(chunk_tokens=8, group_size=2, overlap_tokens=1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen(_tiny_base_session):
    return small_generator(_tiny_base_session)


def tables(path: Path) -> set[str]:
    conn = sqlite.connect(str(path / MANIFEST))
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


def test_a_store_routes_in_its_sqlite_file_and_loads_nothing_on_open(tmp_path: Path, gen) -> None:
    with open_store(tmp_path / "s", gen, **CHUNKING) as store:
        add_docs(store)
    assert {"routing_text", "routing_text_insert", "routing_text_delete"} <= tables(tmp_path / "s")
    if sqlite.has_vec():
        assert "routing_bits" in tables(tmp_path / "s")
    with open_store(tmp_path / "s", gen) as store:
        router = store.router
        assert router.index is not None
        assert len(router) == len(store.entries()) and not router._texts and len(router._dense) == 0  # nothing held in RAM
        assert store.search("rye bread oven", k=1)[0][0].metadata["doc_id"] == "bakery"
        assert router.text(router.ids[0]) == store.entries()[0].text


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_document_and_follows_deletes(tmp_path: Path, gen, mode: str) -> None:
    from doc2lora_rag.routing import Router

    router = Router(HashEmbedder(), mode=mode) if mode != "bm25" else Router(mode="bm25")
    with AdapterStore(tmp_path / "s", gen, router=router, **CHUNKING) as store:
        add_docs(store)
        assert store.router.index is not None
        for doc_id, question in [("ship", "sonar array Long Ear"), ("council", "harbour budget vote")]:
            assert store.search(question, k=1)[0][0].metadata["doc_id"] == doc_id
        store.delete(["ship"])
        assert all(d.metadata["doc_id"] != "ship" for d, _ in store.search("sonar array Long Ear", k=10))


def test_another_process_commit_is_seen_without_reopening(tmp_path: Path, gen) -> None:
    path = tmp_path / "s"
    with open_store(path, gen, **CHUNKING) as store:
        add_docs(store)
        before = len(store.search("lighthouse keeper lamp", k=10))
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(REPO / 'tests')!r})
            import conftest  # offline, 2 threads
            from test_store import HashEmbedder, small_generator
            from tiny import tiny_base
            from doc2lora_rag.store import AdapterStore

            with AdapterStore({str(path)!r}, small_generator(tiny_base()), router=HashEmbedder()) as other:
                other.add_texts(["The lighthouse keeper trims the lamp of the Vell light at dusk."], ids=["light"])
        """)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        hits = store.search("lighthouse keeper lamp", k=10)
        assert len(hits) == before + 1 and hits[0][0].metadata["doc_id"] == "light"


ARCHIVE = [f"Entry {i}: the {w} of the {v} harbour archive, shelf {i % 7}." for i, (w, v) in
           enumerate((w, v) for w in ("map", "ledger", "logbook", "chart", "letter") for v in ("north", "south", "east", "old"))]
QUERIES = ["the chart of the east harbour", "logbook north shelf 3", "letter archive", "map", "shelf 5 ledger south"]


def _ranked(store: AdapterStore, k: int = 5) -> list[list[tuple[str, float]]]:
    return [[(d.id, round(s, 5)) for d, s in store.search(q, k=k)] for q in QUERIES]


def test_the_key_cache_loads_on_the_first_search_and_ranks_like_the_exact_scan_in_sqlite(tmp_path: Path, gen, monkeypatch) -> None:
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(ARCHIVE, ids=[f"e{i}" for i in range(len(ARCHIVE))])
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder()) as store:
        cache = store.router.index.cache
        assert len(cache) == 0 and cache.seen is None  # nothing read on open
        in_memory = _ranked(store)
        assert len(cache) == len(ARCHIVE) and store.router.index.method().startswith("exact cosine over the in-memory")
        monkeypatch.setattr(store.router.index, "cache", None)
        assert _ranked(store) == in_memory  # the exact scan in SQLite: same entries, same order, same scores


def test_the_key_cache_follows_deletes_and_a_text_replaced_under_the_same_id(tmp_path: Path, gen) -> None:
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(ARCHIVE, ids=[f"e{i}" for i in range(len(ARCHIVE))])
        store.search("map", k=1)  # the cache is filled
        store.delete(["e19"])  # the newest rows: SQLite hands their rowids out again
        store.add_texts(["The lighthouse keeper trims the lamp of the Vell light at dusk."], ids=["e19"])
        hits = store.search("lighthouse keeper lamp Vell", k=1)
        assert hits[0][0].metadata["doc_id"] == "e19" and "lighthouse" in hits[0][0].text
        assert len(store.router.index.cache) == len(ARCHIVE)
        assert all("letter of the old" not in d.text for d, _ in store.search("letter old archive", k=20))
        conn = store.router.index.conn()
        calls: list[str] = []
        conn.set_trace_callback(calls.append)
        store.add_texts(["The ferry timetable of the Vell crossing changes in May."], ids=["ferry"])
        calls.clear()
        assert store.search("ferry timetable Vell crossing", k=1)[0][0].metadata["doc_id"] == "ferry"
        conn.set_trace_callback(None)
        reads = [c for c in calls if "routing_key FROM entries" in c]
        assert reads and all(" IN (" in c for c in reads)  # only the changed entry was read, not every key


def test_a_cache_that_missed_pruned_changes_reads_every_key_again(tmp_path: Path, gen) -> None:
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(ARCHIVE[:10], ids=[f"e{i}" for i in range(10)])
        want_before = store.search("map", k=1)
        store.add_texts(ARCHIVE[10:], ids=[f"e{i}" for i in range(10, len(ARCHIVE))])
        store.delete(["e0"])
        with store.manifest.transaction() as c:
            c.execute("DELETE FROM routing_changes")  # as the log's pruning does past CHANGES_KEPT
        store.add_texts(["The ferry timetable of the Vell crossing changes in May."], ids=["ferry"])
        assert want_before and len(store.router.index.cache) == 10
        assert store.search("ferry timetable Vell crossing", k=1)[0][0].metadata["doc_id"] == "ferry"
        assert len(store.router.index.cache) == len(ARCHIVE)  # 20 - e0 + ferry
        in_memory = _ranked(store)
        store.router.index.cache = None
        assert _ranked(store) == in_memory


def test_keys_over_the_cache_budget_are_searched_in_sqlite(tmp_path: Path, gen) -> None:
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(ARCHIVE, ids=[f"e{i}" for i in range(len(ARCHIVE))])
        want = _ranked(store)
        store.router.index.cache = sqlite_index.KeyCache(max_bytes=4 * 64)  # less than one key's worth per entry
        assert _ranked(store) == want
        assert len(store.router.index.cache) == 0 and store.router.index.method() == "exact scan in SQLite"


def test_a_read_only_store_without_the_change_log_reads_its_keys_again_when_the_revision_moves(tmp_path: Path, gen) -> None:
    path = tmp_path / "s"
    with AdapterStore(path, gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(ARCHIVE, ids=[f"e{i}" for i in range(len(ARCHIVE))])
        with store.manifest.transaction() as c:  # as a store written before the log (session 11) has it
            for name in ("routing_changes_insert", "routing_changes_delete", "routing_changes_update", "routing_changes_prune"):
                c.execute(f"DROP TRIGGER {name}")
            c.execute("DROP TABLE routing_changes")
    with AdapterStore(path, gen, router=HashEmbedder(), read_only=True) as reader:
        assert "routing_changes" not in tables(path)  # a read-only open adds nothing
        assert reader.search("map", k=1) and len(reader.router.index.cache) == len(ARCHIVE)
        with AdapterStore(path, gen, router=HashEmbedder()) as writer:  # a writable open adds the log, then a commit
            writer.add_texts(["The ferry timetable of the Vell crossing changes in May."], ids=["ferry"])
            writer.delete(["e0"])
        assert reader.search("ferry timetable Vell crossing", k=1)[0][0].metadata["doc_id"] == "ferry"
        assert len(reader.router.index.cache) == len(ARCHIVE)
        assert all(d.metadata["doc_id"] != "e0" for d, _ in reader.search("map north", k=30))


def test_sign_bits_then_exact_rescoring_ranks_like_the_exact_scan(tmp_path: Path, gen, monkeypatch) -> None:
    if not sqlite.has_vec():
        pytest.skip("sqlite-vec cannot be loaded here")
    texts = [f"Entry {i}: the {w} of the {v} harbour archive, shelf {i % 7}." for i, (w, v) in
             enumerate((w, v) for w in ("map", "ledger", "logbook", "chart", "letter") for v in ("north", "south", "east", "old"))]
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), chunk_tokens=64) as store:
        store.add_texts(texts, ids=[f"e{i}" for i in range(len(texts))])
        queries = ["the chart of the east harbour", "logbook north shelf 3", "letter archive"]
        exact = [store.search(q, k=3) for q in queries]
        monkeypatch.setattr(store.router.index, "cache", None)  # search in SQLite, not over the in-memory keys
        monkeypatch.setattr(sqlite_index, "RESCORE", 8)  # 20 entries > 8 candidates: the sign-bit search runs
        monkeypatch.setattr(sqlite_index, "EXACT_LIMIT", 4)
        calls = []
        real = store.router.index.conn

        def counting():
            conn = real()
            conn.set_trace_callback(lambda sql: calls.append(sql))
            return conn

        monkeypatch.setattr(store.router.index, "conn", counting)
        fast = [store.search(q, k=3) for q in queries]
        real().set_trace_callback(None)
        assert any("routing_bits" in sql for sql in calls)
        for a, b in zip(exact, fast):
            assert [d.id for d, _ in a][:1] == [d.id for d, _ in b][:1]
            assert np.allclose([s for _, s in a][:1], [s for _, s in b][:1])


def test_a_store_written_before_the_routing_tables_gets_them(tmp_path: Path, gen) -> None:
    path = tmp_path / "s"
    with open_store(path, gen, **CHUNKING) as store:
        add_docs(store)
    conn = sqlite.connect(str(path / MANIFEST))  # as a store of the previous version left it
    for name in ("routing_text_insert", "routing_text_delete", "routing_bits_insert", "routing_bits_delete", "routing_bits_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP TABLE routing_text")
    conn.execute("DROP TABLE IF EXISTS routing_bits")
    conn.close()
    with AdapterStore(path, read_only=True, router=HashEmbedder()) as ro:  # read-only: routes from memory, as before
        assert ro.router.index is None and ro.search("sonar", k=1)[0][0].metadata["doc_id"] == "ship"
    with open_store(path, gen) as store:  # writable: the tables are built from the entries
        assert store.router.index is not None
        assert store.search("sonar array", k=1)[0][0].metadata["doc_id"] == "ship"
        assert store.search("rye bread", k=1)[0][0].metadata["doc_id"] == "bakery"
        n = len(store.entries())
    conn = sqlite.connect(str(path / MANIFEST))
    assert conn.execute("SELECT COUNT(*) FROM routing_text").fetchone()[0] == n
    conn.close()


def test_routing_tables_out_of_step_are_rebuilt_on_open(tmp_path: Path, gen) -> None:
    path = tmp_path / "s"
    with open_store(path, gen, **CHUNKING) as store:
        add_docs(store)
    conn = sqlite.connect(str(path / MANIFEST))
    conn.execute("DELETE FROM routing_text")  # e.g. rows renumbered by a VACUUM
    conn.close()
    with open_store(path, gen) as store:
        assert store.router.mode == "dense"
        conn = store.manifest.conn()
        assert conn.execute("SELECT COUNT(*) FROM routing_text").fetchone()[0] == len(store.entries())
        assert set(DOCS) == {e.doc_id for e in store.entries()}
