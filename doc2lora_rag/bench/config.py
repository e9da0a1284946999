"""What the migration benchmark runs and the project targets it checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

BENCH_MODES = ("classic-rag", "adapter", "hybrid", "selected", "oracle", "none")


ROUTED_MODES = ("classic-rag", "adapter", "hybrid", "selected")


def bench_modes(generator: object) -> tuple[str, ...]:
    """The modes a run answers in: all of BENCH_MODES, less "selected" (StoreQA's question-selected write) where the
    store's generator cannot write for a question (only the memory generator can)."""
    return tuple(m for m in BENCH_MODES if m != "selected" or callable(getattr(generator, "generate_for", None)))


MEMORY_LENGTHS = (512, 1024, 2048, 4096, 8192, 16384)


CHUNK_COUNTS = (1, 2, 4, 8)  # k values of the accuracy-vs-number-of-chunks curve


TARGETS = {
    "adapter_vs_oracle": 0.85,  # adapter accuracy / oracle accuracy >=
    "adapter_latency_ratio": 0.5,  # adapter p50 / classic p50 <=
    "adapter_vs_kv_4k": 0.1,  # adapter bytes of a 4k document / KV cache of 4k tokens <=
    "generation_speedup": 200.0,  # distill seconds per chunk / one-pass generator seconds per chunk >=
}


@dataclass
class BenchConfig:
    """Settings of one `run_rag_bench` run; `__post_init__` checks every field."""

    docs: str
    qa: str
    out: str
    k: int = 4
    generator: str = ""  # "memory" | "hypernet" | "distill": the store's generator ("": the default kind for the base model)
    quick: bool = False  # 2 documents x 2 questions, no distillation, KV measured up to 1k tokens
    tiny: bool = False  # a tiny random Llama (tests)
    max_new_tokens: int = 48
    limit: int = 0  # at most this many questions (0: all; --quick: 4)
    distill_docs: int | None = None  # documents for the distillation run (None: 1, 0 with --quick)

    def __post_init__(self) -> None:
        for name in ("k", "max_new_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"BenchConfig.{name} must be an int >= 1, got {v!r}")
        if self.generator not in ("", "memory", "hypernet", "distill"):
            raise InputError(f"BenchConfig.generator must be 'memory', 'hypernet', 'distill' or '' (default), got {self.generator!r}")
        if not isinstance(self.limit, int) or self.limit < 0:
            raise InputError(f"BenchConfig.limit must be an int >= 0, got {self.limit!r}")
        if self.distill_docs is not None and (not isinstance(self.distill_docs, int) or self.distill_docs < 0):
            raise InputError(f"BenchConfig.distill_docs must be None or an int >= 0, got {self.distill_docs!r}")
        if not Path(self.docs).is_dir():
            raise InputError(f"--docs {self.docs} is not a folder; pass the folder the QA file's 'doc' names refer to")
