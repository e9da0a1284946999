"""Ingest on Ray Data: generation runs on an actor pool, planning and the commit stay in this process.

    from doc2lora_rag import AdapterStore
    from doc2lora_rag.ray_ingest import RayGenerate

    with AdapterStore("my_store") as store:
        store.add_paths(["docs/"], generate=RayGenerate(address="auto", workers=8, num_gpus=1), batch_size=64)

An ingest has three steps. Plan (load, chunk, skip texts the store already holds) and commit (write
the files, one manifest transaction per batch: crash-safe as without Ray) run in the calling process.
Generate — a pure function of a chunk group's text to its record or adapter — runs as a Ray Data
`map_batches` over a pool of actors, each holding the generator (the base model) once, on GPUs when
`num_gpus` asks for them. A worker that dies is restarted and its batch retried (`max_restarts`,
`max_task_retries`); what it would have produced is the same bytes, so a store ingested through Ray
holds the same files as one ingested in one process (the same content hashes; the numbers equal up to
float rounding of batched forward passes). The actors build the generator from
`generator_factory` (picklable, no arguments), by default the store's own generator description
(`generators.from_identity`), so a cluster's workers load the model from their own disk or cache.

Needs `pip install 'doc2lora-rag[ray]'`.
"""

from __future__ import annotations

import functools
import pickle
import socket
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InputError, MissingDependencyError, StoreError

__all__ = ["RayGenerate"]


class _GenerateActor:
    """One pool member: the generator, built once; each batch of pickled texts -> pickled records or adapters."""

    def __init__(self, factory: Callable[[], Any], method: str) -> None:
        self.generator = factory()
        self.method = method  # the store's `record_method`

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        texts = [pickle.loads(t) for t in batch["text"]]
        items = getattr(self.generator, self.method)(texts)
        return {"index": batch["index"], "item": np.array([pickle.dumps(x) for x in items], dtype=object)}


def _from_identity(identity: dict[str, Any], base_name: str | None) -> Any:
    from .generators import from_identity

    return from_identity(identity, base_name)


def connect(address: str | None, needs: str, unchanged: str) -> Any:
    """The `ray` module, initialised: joined to the cluster at `address` (None: a local one). An unreachable
    address fails in seconds (a socket probe, not Ray's own connection retries) with StoreError; `needs`
    and `unchanged` complete the messages (what is missing, what stayed as it was)."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(f"{needs}; pip install 'doc2lora-rag[ray]'") from exc
    if not ray.is_initialized():
        unreachable = f"could not reach the Ray cluster at {address!r}"
        fix = f"start it (ray start --head) or pass address=None for a local one. {unchanged}"
        if address not in (None, "auto", "local"):
            host, _, port = address.removeprefix("ray://").rpartition(":")
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
            except (OSError, ValueError) as exc:
                raise StoreError(f"{unreachable} ({exc}); {fix}") from exc
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # Ray raises several kinds (connection, RPC, timeout)
            raise StoreError(f"{unreachable} ({type(exc).__name__}: {exc}); {fix}") from exc
    return ray


class RayGenerate:
    """Generation for `AdapterStore.add_documents(..., generate=RayGenerate(...))` on a Ray cluster (module docstring).

    Args:
        address: the cluster (``"auto"``, ``"ray://host:10001"``); None starts or joins a local one.
        workers: actors in the pool (each holds one copy of the base model).
        batch_size: group texts per actor call.
        num_cpus / num_gpus: resources per actor.
        generator_factory: builds the generator in each actor (default: the store's generator, from its description).
        max_restarts: how often a dead actor is restarted (its batch retried).
    """

    def __init__(self, address: str | None = None, workers: int = 2, batch_size: int = 4, num_cpus: float = 1, num_gpus: float = 0,
                 generator_factory: Callable[[], Any] | None = None, max_restarts: int = 2) -> None:
        for name, value, low in (("workers", workers, 1), ("batch_size", batch_size, 1), ("max_restarts", max_restarts, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{name} must be an int >= {low}, got {value!r}")
        if address is not None and not isinstance(address, str):
            raise InputError(f"address must be a Ray address string (e.g. 'auto' or 'ray://host:10001') or None, got {address!r}")
        if generator_factory is not None and not callable(generator_factory):
            raise InputError("generator_factory must be a callable without arguments that returns a generator")
        self.address, self.workers, self.batch_size = address, workers, batch_size
        self.num_cpus, self.num_gpus, self.max_restarts = num_cpus, num_gpus, max_restarts
        self.generator_factory = generator_factory

    def _ray(self) -> Any:
        return connect(self.address, "Ray ingest needs Ray Data", "Nothing was written to the store")

    def __call__(self, texts: Sequence[Any], store: Any) -> list[Any]:
        """Records (stores that keep them) or adapters for `texts`, in order, generated on the pool."""
        ray = self._ray()
        factory = self.generator_factory or functools.partial(
            _from_identity, store.meta.get("generator") or {}, (store.meta.get("base_model") or {}).get("name"))
        if not texts:
            return []
        ds = ray.data.from_items([{"index": i, "text": pickle.dumps(t)} for i, t in enumerate(texts)])
        out = ds.map_batches(
            _GenerateActor, fn_constructor_args=(factory, store.record_method), batch_size=self.batch_size,
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(texts))), num_cpus=self.num_cpus, num_gpus=self.num_gpus,
            max_restarts=self.max_restarts, max_task_retries=-1 if self.max_restarts else 0,
        ).take_all()
        by_index = {int(r["index"]): pickle.loads(r["item"]) for r in out}
        if sorted(by_index) != list(range(len(texts))):
            raise StoreError(f"the Ray pool returned {len(by_index)} items for {len(texts)} texts; nothing was committed")
        return [by_index[i] for i in range(len(texts))]
