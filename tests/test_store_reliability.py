"""AdapterStore reliability on the tiny model: a real SIGKILL mid-ingest, simulated crashes at each
step of the write protocol (the store folder is copied at that instant and reopened), failures that
must leave the store unchanged, and concurrent answering while another thread ingests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
import safetensors.torch
import torch
from test_store import DOCS, GENERATOR_KINDS, HashEmbedder, add_docs, open_store, small_generator, snapshot

from doc2lora_rag.chunking import chunk_text, group_chunks
from doc2lora_rag.documents import Document
from doc2lora_rag.errors import StoreError
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.store import ADAPTER_DIR, MANIFEST, AdapterStore, sqlite

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CHUNKING = {"chunk_tokens": 8, "overlap_tokens": 1}
CLEAN = {"missing_files": [], "orphan_files": [], "temp_files": [], "unreadable_files": []}


def crash_doc(i: int) -> str:
    return f"Record {i}: the harbour crane number {i} lifted {i * 7} crates of salt and {i * 3} barrels of oil before noon."


INGEST_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import conftest  # offline, 2 threads
from test_store import HashEmbedder, small_generator
from test_store_reliability import CHUNKING, crash_doc
from tiny import tiny_base
from doc2lora_rag.documents import Document
from doc2lora_rag.store import AdapterStore

store = AdapterStore(sys.argv[1], small_generator(tiny_base()), router=HashEmbedder(), **CHUNKING)
n = int(sys.argv[2])
print("ingesting", flush=True)
store.add_documents([Document(crash_doc(i), {{"n": i}}) for i in range(n)], ids=[f"d{{i}}" for i in range(n)], batch_size=1)
print("done", flush=True)
"""


def committed_docs(path: Path) -> int:
    try:
        conn = sqlite.connect(f"file:{path / MANIFEST}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        finally:
            conn.close()
    except sqlite.error():  # not created yet
        return 0


def check_reopened(path: Path, tiny_base, expected_docs: dict[str, str], kind: str = "hypernet") -> AdapterStore:
    """Reopen after a crash: no orphans, every entry's adapter loads and equals the one a fresh store ingests."""
    gen = GENERATOR_KINDS[kind](tiny_base)
    store = open_store(path, gen)
    assert store.verify(deep=True) == CLEAN
    assert set(store.doc_ids()) == set(expected_docs)
    fresh = open_store(path.parent / f"{path.name}-fresh", gen, **CHUNKING)
    fresh.add_texts(list(expected_docs.values()), ids=list(expected_docs))
    for doc_id, text in expected_docs.items():
        assert store.get_by_ids([doc_id])[0].text == text
        groups = group_chunks(chunk_text(text, tiny_base.tokenizer, 8, 1), 2)
        entries = store.entries(doc_id)
        assert len(entries) == len(groups), f"{doc_id}: a document is committed whole or not at all"
        for e in entries:
            got, want = store.adapter(e.id), fresh.adapter(e.id)
            torch.testing.assert_close(got.a["down_proj"], want.a["down_proj"], atol=2e-3, rtol=2e-3)
            torch.testing.assert_close(got.b["down_proj"], want.b["down_proj"], atol=2e-3, rtol=2e-3)
    return store


# -- a real crash ---------------------------------------------------------------------------------


def kill_after_commits(argv: list[str], path: Path, n: int, deadline_s: float, **popen) -> int:
    """Run an ingest subprocess of `n` documents (one per transaction, printing "done" at the end), SIGKILL it once
    3 are committed, and return how many were (at least 3, fewer than n: the kill came mid-ingest)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **popen.pop("env", {})}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    try:
        deadline = time.monotonic() + deadline_s
        while committed_docs(path) < 3:  # one document per transaction: kill after a few commits
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the ingest subprocess made no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL and "done" not in out, "the ingest finished before the kill"
    m = committed_docs(path)
    assert 3 <= m < n
    return m


def test_sigkill_during_ingest_leaves_committed_adapters_intact(tmp_path: Path, tiny_base) -> None:
    path, n = tmp_path / "store", 400
    script = tmp_path / "ingest.py"
    script.write_text(INGEST_SCRIPT.format(tests=str(TESTS)))
    m = kill_after_commits([sys.executable, str(script), str(path), str(n)], path, n, 120, cwd=REPO)
    store = check_reopened(path, tiny_base, {f"d{i}": crash_doc(i) for i in range(m)})
    with store:
        print(f"killed after {m} of {n} documents; recovery removed {store.recovered}")
        store.add_documents([Document(crash_doc(n), {})], ids=["after"])  # usable afterwards
        assert store.verify() == CLEAN and len(store) == m + 1


# -- simulated crashes: copy the folder at one instant of the write protocol, then reopen ----------


def _copy_at(store: AdapterStore, dst: Path) -> None:
    shutil.copytree(store.path, dst)


@pytest.mark.parametrize("kind", sorted(GENERATOR_KINDS))
@pytest.mark.parametrize("point", ["temp_file", "files_written", "inside_transaction", "after_commit"])
def test_crash_at_each_step_of_a_write(tmp_path: Path, tiny_base, monkeypatch: pytest.MonkeyPatch, point: str, kind: str) -> None:
    store = open_store(tmp_path / "store", GENERATOR_KINDS[kind](tiny_base), **CHUNKING)
    assert store.keeps_records == (kind == "memory")
    add_docs(store)
    before = dict(DOCS)
    new_ship = "The ship Kestrel Mora was refitted in 2020 and now carries the submersible Pippin."
    after = {**DOCS, "ship": new_ship, "extra": "A new record about the lantern festival on Tamberlane Hill."}
    crash = tmp_path / "crash"
    if point == "temp_file":
        real_save = safetensors.torch.save_file

        def save_then_copy(tensors, filename, metadata=None):
            real_save(tensors, filename, metadata=metadata)
            if not crash.exists():
                assert Path(filename).name.startswith(".")  # the temporary file, before its rename
                _copy_at(store, crash)

        monkeypatch.setattr(safetensors.torch, "save_file", save_then_copy)
        expected = before
    elif point == "files_written":
        real = store._commit
        monkeypatch.setattr(store, "_commit", lambda *a: (_copy_at(store, crash), real(*a))[1])
        expected = before
    elif point == "inside_transaction":
        store.manifest.conn().set_trace_callback(lambda sql: _copy_at(store, crash) if sql == "COMMIT" and not crash.exists() else None)
        expected = before
    else:
        real = store._remove_files
        monkeypatch.setattr(store, "_remove_files", lambda files: (_copy_at(store, crash) if files else None, real(files))[1])
        expected = after
    store.add_texts([new_ship, after["extra"]], [{"file_name": "ship.txt"}, {}], ids=["ship", "extra"])
    store.manifest.conn().set_trace_callback(None)
    assert crash.exists(), "the crash point was reached"
    assert store.verify() == CLEAN and set(store.doc_ids()) == set(after)
    leftovers = os.listdir(crash / ADAPTER_DIR)
    with check_reopened(crash, tiny_base, expected, kind) as reopened:
        removed = reopened.recovered
        assert sum(removed.values()) > 0, f"the copy at {point} had files to clean up: {leftovers}"
        assert removed["temp_files"] == (1 if point == "temp_file" else 0)
    store.close()


# -- failures: the store is unchanged ---------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(GENERATOR_KINDS))
def test_generation_failure_midway_leaves_the_store_unchanged(tmp_path: Path, tiny_base, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    gen = GENERATOR_KINDS[kind](tiny_base)
    store = open_store(tmp_path / "store", gen, **CHUNKING)
    add_docs(store)
    before = snapshot(store.path)
    calls = []
    method = store.record_method  # what the store calls to write its files (token_records for the memory generator)
    real = getattr(gen, method)

    def flaky(texts):
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("out of memory (simulated)")
        return real(texts)

    monkeypatch.setattr(gen, method, flaky)
    monkeypatch.setattr("doc2lora_rag.store.write.GENERATE_BATCH", 1)  # one text per call: the 1st adapter is on disk
    texts = [f"Fresh record {i} about the salt crates and the harbour crane." for i in range(3)]
    with pytest.raises(RuntimeError, match="simulated"):
        store.add_texts(texts, batch_size=10)
    assert len(calls) == 2 and snapshot(store.path) == before
    assert {d.metadata["doc_id"] for d, _ in store.search("salt crates harbour crane", k=20)} == set(DOCS), "nor its router"
    store.close()


def test_transaction_failure_removes_the_new_files(tmp_path: Path, tiny_base, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "store", small_generator(tiny_base), **CHUNKING)
    add_docs(store)
    before = snapshot(store.path)

    def broken(*_):
        raise StoreError("disk full (simulated)")

    monkeypatch.setattr(store, "_commit", broken)
    with pytest.raises(StoreError, match="simulated"):
        store.add_texts(["A new text about the lighthouse keeper and his cat."], ids=["new"])
    assert snapshot(store.path) == before and "new" not in store
    store.close()


def test_batches_commit_one_by_one(tmp_path: Path, tiny_base, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = small_generator(tiny_base)
    store = open_store(tmp_path / "store", gen, **CHUNKING)
    real = gen.generate
    monkeypatch.setattr(gen, "generate", lambda texts: real(texts) if "third" not in repr(texts) else 1 / 0)
    texts = ["The first record of the day.", "The second record of the day.", "The third record of the day."]
    with pytest.raises(ZeroDivisionError):
        store.add_texts(texts, ids=["a", "b", "c"], batch_size=2)
    assert store.doc_ids() == ["a", "b"] and store.verify(deep=True) == CLEAN
    store.close()


# -- concurrency ------------------------------------------------------------------------------------

QUESTIONS = ["Which oven bakes the rye bread?", "What does the research ship map?", "What will the council vote on?"]


def _filler_words(n: int) -> list[str]:
    """Words whose hash buckets are not used by any question (and not bucket 0): new documents do not
    change the routing of the questions, so answers must not change while they are ingested."""
    used = {0} | {zlib.crc32(w.encode()) % HashEmbedder.dim for q in QUESTIONS for w in re.findall(r"\w+", q.lower())}
    out, i = [], 0
    while len(out) < n:
        w = f"zq{i}"
        if zlib.crc32(w.encode()) % HashEmbedder.dim not in used:
            out.append(w)
        i += 1
    return out


@pytest.mark.parametrize("kind", sorted(GENERATOR_KINDS))
def test_concurrent_answers_while_ingesting(tmp_path: Path, make_tiny_base, kind: str) -> None:
    base = make_tiny_base()
    store = open_store(tmp_path / "store", GENERATOR_KINDS[kind](base), **CHUNKING)
    add_docs(store)
    qa = StoreQA(store)
    modes = ("adapter", "rag", "hybrid")

    def ask(q: str, mode: str) -> tuple:
        r = qa.answer(q, mode=mode, k=2, max_new_tokens=5)
        return r.answer, r.adapter_ids, [s["adapter_id"] for s in r.sources]

    expected = {(q, m): ask(q, m) for q in QUESTIONS for m in modes}
    assert len({v[0] for v in expected.values()}) > 1, "answers differ between questions/modes, so a mix-up would show"
    words = _filler_words(40)
    new_docs = [f"{words[2 * i]} {words[2 * i + 1]}" for i in range(20)]  # one chunk each: no word is cut
    assert all(len(base.tokenizer(d)["input_ids"]) <= CHUNKING["chunk_tokens"] for d in new_docs)
    errors: list[BaseException] = []
    results: list[tuple] = []
    done = threading.Event()

    def ingest() -> None:
        try:
            store.add_texts(new_docs, ids=[f"new{i}" for i in range(len(new_docs))], batch_size=2)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def query(offset: int) -> None:
        try:
            rounds = 0
            while not done.is_set() or rounds < 1:
                for i, q in enumerate(QUESTIONS):
                    m = modes[(i + offset + rounds) % len(modes)]
                    results.append(((q, m), ask(q, m)))
                    hits = store.search(q, k=2)
                    results.append(((q, "search"), [d.id for d, _ in hits]))
                rounds += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest)] + [threading.Thread(target=query, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert len(store) == len(DOCS) + len(new_docs) and store.verify() == CLEAN
    searches = {q: expected[(q, "adapter")][2] for q in QUESTIONS}
    assert len(results) >= 2 * 3 * len(QUESTIONS)
    for key, got in results:
        want = searches[key[0]] if key[1] == "search" else expected[key]
        assert got == want, key
    assert {key: ask(*key) for key in expected} == expected  # the new documents did not change them
    print(f"concurrency: {len(results)} answers and searches checked while 10 batches were committed")
    store.close()


# -- a store on a read-only disk ---------------------------------------------------------------------


@pytest.fixture
def read_only_disk(tmp_path: Path):
    """A small tmpfs mounted here; `remount()` makes it read-only. Skipped where this user cannot mount."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("cannot mount a filesystem here (needs root)")

    def remount() -> None:
        if subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount the filesystem read-only here")

    try:
        yield mnt, remount
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_store_on_a_read_only_disk_is_refused_for_writing_and_read_with_read_only(read_only_disk, tiny_base) -> None:
    mnt, remount = read_only_disk
    gen = small_generator(tiny_base)
    with open_store(mnt / "s", gen, chunk_tokens=8, group_size=2, overlap_tokens=1) as store:
        add_docs(store)
        want = [(d.id, round(s, 5)) for d, s in store.search("rye bread oven", k=2)]
        ids = [e.id for e in store.entries()][:2]
    remount()

    def files() -> dict[str, bytes]:
        return {str(f): f.read_bytes() for f in sorted((mnt / "s").rglob("*")) if f.is_file()}

    before = files()
    with pytest.raises(StoreError, match="read_only=True"):
        open_store(mnt / "s", gen)
    with open_store(mnt / "s", gen, read_only=True) as store:  # SQLite cannot make its WAL index here: opened immutable
        assert [(d.id, round(s, 5)) for d, s in store.search("rye bread oven", k=2)] == want
        assert store.routed_adapters(ids)[0].rank > 0
        with pytest.raises(StoreError, match="read-only"):
            store.add_texts(["The ferry timetable changes in May."], ids=["ferry"])
    assert files() == before
