"""`doc2lora bench rag`: the migration benchmark, classic text RAG against the adapter store.

On one base model, one embedder (MiniLM, `routing.MiniLMEmbedder`) and one chunking (the store's:
the classic vector store indexes exactly the store's chunk-group texts), every question is answered
in five modes, one question at a time, modes interleaved per question:

  classic-rag  retrieval of k chunk texts by cosine similarity (`classic.ClassicRAG`, what LangChain's
               `InMemoryVectorStore` does), stuffed into the prompt
               (`AnswerEngine.answer(question, context=joined chunks)`, the same join as StoreQA)
  adapter      `StoreQA` mode "adapter": the k routed adapters switched in, no text
  hybrid       `StoreQA` mode "hybrid": routed adapters + routed text
  oracle       the whole gold document in the prompt
  none         the question only

Measured per mode: accuracy and token F1 (`evaluation.is_correct` / `token_f1`), routing recall@k,
latency p50/p95 (retrieval + adapters + generation), prompt tokens, KV-cache bytes of a backbone
forward pass over the actual prompt, and adapter bytes (disk: the store's adapters/ folder; memory:
`LoraWeights.nbytes` of the routed adapters). Also: ingest seconds per chunk group, memory against
document length (512 .. 16k tokens), accuracy of the routed modes against the number of chunks per
question (k = 1, 2, 4, 8), and optionally a context-distillation run (`DistillGenerator`) for update
latency and accuracy. Writes results.json, predictions.jsonl, report.md and PNG plots to the output
folder; `report.md` states each project target as met or not from the measured numbers.

  config.py   `BenchConfig`, modes, targets
  classic.py  the classic text-RAG baseline (cosine top-k over the store's chunk-group texts)
  run.py      `run_rag_bench`: ingest, answer every question in every mode, distillation run
  measure.py  KV-cache bytes, percentiles, summaries per mode, memory against document length, machine
  report.py   project targets met or not, report.md
  plots.py    PNG plots (matplotlib, optional)
  cli.py      `doc2lora bench rag`
"""

from __future__ import annotations

from .cli import add_bench
from .config import BENCH_MODES, BenchConfig
from .measure import kv_cache_bytes
from .run import run_rag_bench

__all__ = ["BENCH_MODES", "BenchConfig", "add_bench", "kv_cache_bytes", "run_rag_bench"]
