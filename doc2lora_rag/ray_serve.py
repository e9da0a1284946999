"""The chat endpoint (`doc2lora_rag.chat_api`) as a Ray Serve deployment.

Each replica builds its own `ChatService` (stores opened read-only, the base model, an `AnswerEngine`
with its own adapter slots) from a picklable factory, and answers the same routes as `doc2lora serve`.
Non-streamed completions that reach a replica together are answered in one batched `generate`
(`serve.batch` → `ChatService.complete_many`: each row its own routed adapters, per-row tensors), so
questions whose routes differ share a forward pass; streamed ones are answered one by one.

    doc2lora serve my_store --ray --replicas 2            # a local cluster; --ray ADDRESS for a running one

or from Python: `serve_chat(OpenStores(["my_store"]), replicas=2, port=8000)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError, MissingDependencyError

__all__ = ["OpenStores", "chat_deployment", "serve_chat"]

APP_NAME = "doc2lora-chat"


class OpenStores:
    """Picklable factory of a replica's `ChatService`: opens the stores at `paths` (a list named by folder,
    or name -> path) read-only in the replica's process."""

    def __init__(self, paths: Sequence[str | Path] | Mapping[str, str | Path], engine_kwargs: Mapping[str, Any] | None = None,
                 default_max_tokens: int = 48, threads: int = 0) -> None:
        self.paths = {k: str(v) for k, v in paths.items()} if isinstance(paths, Mapping) else [str(p) for p in paths]
        self.engine_kwargs = dict(engine_kwargs or {})
        self.default_max_tokens = default_max_tokens
        self.threads = threads

    def __call__(self) -> Any:
        from .chat_api import ChatService, open_stores

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return ChatService(open_stores(self.paths), default_max_tokens=self.default_max_tokens, engine_kwargs=self.engine_kwargs)


def _serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise MissingDependencyError("serving on Ray needs Ray Serve: pip install 'doc2lora-rag[ray]'") from exc
    return serve


def chat_deployment(make_service: Callable[[], Any], *, replicas: int = 2, num_cpus: float = 1, num_gpus: float = 0,
                    max_batch_size: int = 8, batch_wait_s: float = 0.02, max_ongoing_requests: int = 32) -> Any:
    """A bound Ray Serve application: `replicas` copies of the chat endpoint built by `make_service()`."""
    for name, value, low in (("replicas", replicas, 1), ("max_batch_size", max_batch_size, 1), ("max_ongoing_requests", max_ongoing_requests, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InputError(f"{name} must be an int >= {low}, got {value!r}")
    if not callable(make_service):
        raise InputError(f"make_service must be a callable that builds a ChatService (e.g. OpenStores(paths)), got {make_service!r:.80}")
    serve = _serve()

    @serve.deployment(name="chat", num_replicas=replicas, max_ongoing_requests=max_ongoing_requests,
                      ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus})
    class ChatDeployment:
        def __init__(self, factory: Callable[[], Any]) -> None:
            self.service = factory()

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_s)
        async def complete(self, bodies: list[Any]) -> list[Any]:
            return await asyncio.to_thread(self.service.complete_many, bodies)

        async def __call__(self, request: Any) -> Any:
            from .chat_api import respond

            return await respond(self.service, request, complete=self.complete)

    return ChatDeployment.bind(make_service)


def serve_chat(make_service: Callable[[], Any], *, address: str | None = None, host: str = "127.0.0.1", port: int = 8000,
               **deployment_kwargs: Any) -> Any:
    """Start the chat endpoint on Ray Serve (a local cluster when `address` is None) at http://host:port/v1;
    returns the application's handle. `deployment_kwargs`: as `chat_deployment`."""
    from .ray_ingest import connect

    serve = _serve()
    connect(address, "serving on Ray needs Ray Serve", "Nothing was started")
    serve.start(http_options={"host": host, "port": port})
    return serve.run(chat_deployment(make_service, **deployment_kwargs), name=APP_NAME, route_prefix="/")
