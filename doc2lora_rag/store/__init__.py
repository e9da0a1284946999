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
own SQLite connection per thread. Processes: writes take an exclusive `flock` on `.lock`; routing runs
in the manifest itself (`routing.sqlite_index`: FTS5 and sqlite-vec tables kept by triggers), so every
search sees what any process has committed (a read-only store written before those tables loads its
entries into the router at open and catches up on the next search after a change).

Package layout:

    layout.py    the directory layout and format constants; id and argument checks
    manifest.py  the SQLite manifest (documents, entries, routing keys and tables, meta)
    sqlite.py    the SQLite driver: the standard library's, or pysqlite3 where only it loads sqlite-vec
    write.py     the write protocol above (`WriteProtocol`, mixed into the facade)
    read.py      adapters by entry id: files, the routed set as one adapter, verification (`AdapterReads`)
    routing.py   the router a store opens with, its routing tables, embedding keys (`StoreRouting`)
    facade.py    `AdapterStore`: open, lock, recovery, router, the generator that built it, reads

Adapters in memory (loaded files, joint adapters, slot placement) belong to the process's
`lora.manager.AdapterManager` of the store's base model, shared with the answer engines.
"""

from __future__ import annotations

from .facade import AdapterStore
from .layout import ADAPTER_DIR, DEFAULT_CHUNKING, FORMAT_VERSION, LOCK_FILE, MANIFEST, SUFFIX
from .manifest import StoreEntry
from .write import GENERATE_BATCH, IngestReport

__all__ = ["ADAPTER_DIR", "DEFAULT_CHUNKING", "FORMAT_VERSION", "GENERATE_BATCH", "LOCK_FILE", "MANIFEST", "SUFFIX", "AdapterStore",
           "IngestReport", "StoreEntry"]
