"""An OpenAI-compatible chat endpoint over adapter stores.

`POST /v1/chat/completions`: the request's `model` names a store; the last user message is the
question; the answer comes from that store's routed adapters, one adapter written for the question over its
routed texts (selected), its routed text, both, or the bare model (default: the store's `rag.default_mode`,
selected for a memory-generator store, else adapter). Besides the OpenAI fields (`messages`, `max_tokens` / `max_completion_tokens`,
`temperature`, `stop`, `stream`, `n` = 1) a request may carry `k` (chunk groups to route to) and
`mode` ("adapter", "rag", "hybrid", "selected", "none"; hybrid's adapters are the store's
`rag.default_hybrid_adapters`); OpenAI clients send them through `extra_body`. The
response is a `chat.completion` (or `chat.completion.chunk` events) with a `doc2lora` field: mode, k,
the adapter ids switched in, the routed sources and `batch` (the rows of the `generate` that answered). `GET /v1/models` lists the stores, `GET /health`
answers "ok". Errors use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

- `ChatService`: framework-free (a request dict in; a response dict, or chunk dicts, out). Stores are
  routed and read under a lock each; generation goes through the model's shared `AnswerEngine`.
  `complete_many` answers several requests in one batched `generate` (each row its own routed
  adapters, `AnswerEngine.answer_batch`) where that gives the same answers as one at a time: greedy
  requests without both text and adapters (the deferring hybrid decodes two rows of its own).
- `make_app(service)`: the Starlette application; `doc2lora serve` runs it under uvicorn, or on Ray
  Serve with replicas (`doc2lora_rag.ray_serve`), which also batches requests across replicas' queues.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["ChatRequestError", "ChatService", "make_app", "open_stores"]

MODES = ("adapter", "rag", "hybrid", "selected", "none")
DEFAULT_K = 2
MAX_K = 32
MAX_TOKENS_LIMIT = 4096


class ChatRequestError(InputError):
    """A request the endpoint refuses: `status` (400 or 404), the field it names (`param`)."""

    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param

    def body(self) -> dict[str, Any]:
        kind = "not_found_error" if self.status == 404 else "invalid_request_error"
        return {"error": {"message": str(self), "type": kind, "param": self.param, "code": None}}


@dataclass
class ChatRequest:
    """A checked request: the store's name, the question and how to answer it (`mode` None: the store's default)."""

    model: str
    question: str
    mode: str | None = None
    k: int = DEFAULT_K
    max_tokens: int = 48
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    stream: bool = False


@dataclass
class _Routed:
    request: ChatRequest
    adapter_ids: list[str]
    context: str | None
    sources: list[dict[str, Any]]
    select_ids: list[str] = field(default_factory=list)


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or OpenAI's list of parts (the text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ChatRequestError(f"{where}[{i}] must be a text part {{'type': 'text', 'text': ...}}; other parts "
                                       "(images, audio) are not answered here", param="messages")
            parts.append(part["text"])
        return "\n".join(parts)
    raise ChatRequestError(f"{where} must be a string or a list of text parts, got {type(content).__name__}", param="messages")


def _number(body: Mapping[str, Any], name: str, default: Any, low: float, high: float, integer: bool) -> Any:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ChatRequestError(f"{name} must be {kind} in [{low:g}, {high:g}], got {value!r:.40}", param=name)
    return value


def parse_request(body: Any, default_max_tokens: int = 48) -> ChatRequest:
    """Check a chat-completions request body; ChatRequestError (400) says which field is wrong and how to fix it."""
    if not isinstance(body, Mapping):
        raise ChatRequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ChatRequestError("model must name a store (GET /v1/models lists them)", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("messages must be a non-empty list of {'role': ..., 'content': ...}", param="messages")
    question = None
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise ChatRequestError(f"messages[{i}] must be an object with a role and content", param="messages")
        if m["role"] == "user":
            question = _text(m.get("content"), f"messages[{i}].content")
    if question is None or not question.strip():
        raise ChatRequestError("messages must hold a user message with the question (the last user message is answered)",
                               param="messages")
    _number(body, "n", 1, 1, 1, True)  # one choice per request
    mode = body.get("mode")
    if mode is not None and mode not in MODES:
        raise ChatRequestError(f"mode must be one of {', '.join(MODES)}, got {mode!r:.40}", param="mode")
    stop = body.get("stop")
    stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise ChatRequestError("stop must be a non-empty string or a list of at most 4 of them", param="stop")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", default_max_tokens, 1, MAX_TOKENS_LIMIT, True)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ChatRequestError(f"stream must be true or false, got {stream!r:.40}", param="stream")
    return ChatRequest(model, question.strip(), mode, _number(body, "k", DEFAULT_K, 1, MAX_K, True), max_tokens,
                       float(_number(body, "temperature", 0.0, 0.0, 2.0, False)), stops, stream)


def open_stores(paths: Sequence[str | Path] | Mapping[str, str | Path], generator: Any = None) -> dict[str, Any]:
    """Open stores read-only by name (a mapping, or paths named by their folder); stores built with the
    same generator share one loaded base model (`generator`: open every store with this one)."""
    from .errors import ModelMismatchError
    from .store import AdapterStore

    named = dict(paths) if isinstance(paths, Mapping) else {Path(p).name: p for p in paths}
    if not named:
        raise InputError("no stores to serve; pass one or more store folders from `doc2lora ingest`")
    if not isinstance(paths, Mapping) and len(named) != len(paths):
        raise InputError(f"two stores share a folder name among {[str(p) for p in paths]}; name them: NAME=PATH")
    def open_sharing(path: str | Path) -> Any:
        """The store at `path` on an opened store's generator where it was built by the same one, else on its own."""
        for gen in (s.generator for s in stores.values()):
            try:
                return AdapterStore(path, gen, create=False, read_only=True)
            except ModelMismatchError:
                continue
        return AdapterStore(path, create=False, read_only=True)

    stores: dict[str, Any] = {}
    try:
        for name, path in named.items():
            stores[name] = AdapterStore(path, generator, create=False, read_only=True) if generator is not None else open_sharing(path)
    except BaseException:
        for s in stores.values():
            s.close()
        raise
    return stores


class ChatService:
    """Chat-completions requests answered from named stores (see the module docstring)."""

    def __init__(self, stores: Mapping[str, Any], *, default_max_tokens: int = 48, engine_kwargs: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        from .serving import core_store

        if not isinstance(stores, Mapping) or not stores:
            raise InputError("stores must be a non-empty mapping of name -> AdapterStore (or use open_stores(paths))")
        self.stores = {str(name): core_store(s) for name, s in stores.items()}
        self.default_max_tokens = int(default_max_tokens)
        self._engine_kwargs = dict(engine_kwargs or {})
        self._locks = {name: threading.Lock() for name in self.stores}
        self._clock = clock

    def engine(self, name: str) -> Any:
        from .serving import shared_engine

        return shared_engine(self.stores[name].generator.base, **self._engine_kwargs)

    def models(self) -> dict[str, Any]:
        created = int(self._clock())
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "doc2lora-rag"}
                                           for name in self.stores]}

    def parse(self, body: Any) -> ChatRequest:
        req = parse_request(body, self.default_max_tokens)
        if req.model not in self.stores:
            raise ChatRequestError(f"no store named {req.model!r}; this server has {', '.join(sorted(self.stores))}",
                                   status=404, param="model")
        return req

    def _route(self, req: ChatRequest) -> _Routed:
        from .rag import CONTEXT_SEPARATOR, default_hybrid_adapters, default_mode

        store = self.stores[req.model]
        if req.mode is None:
            req = replace(req, mode=default_mode(store))
        with self._locks[req.model]:
            hits = [] if req.mode == "none" else store.search(req.question, req.k)
        selected = req.mode == "selected" or (req.mode == "hybrid" and default_hybrid_adapters(store) == "selected")
        ids = [doc.id for doc, _ in hits] if req.mode in ("adapter", "hybrid") and not selected else []
        context = CONTEXT_SEPARATOR.join(doc.text for doc, _ in hits) if req.mode in ("rag", "hybrid") and hits else None
        select = [doc.id for doc, _ in hits] if selected else []
        return _Routed(req, ids, context, [dict(doc.metadata) for doc, _ in hits], select)

    def _adapters(self, routed: _Routed) -> list[Any]:
        from .serving import load_adapters, selected_adapters

        req = routed.request
        with self._locks[req.model]:
            if routed.select_ids:
                return selected_adapters(self.stores[req.model], req.question, routed.select_ids)
            return load_adapters(self.stores[req.model], routed.adapter_ids)

    def _response(self, routed: _Routed, text: str, prompt_tokens: int, new_tokens: int, batch: int = 1) -> dict[str, Any]:
        req = routed.request
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(self._clock()), "model": req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if new_tokens >= req.max_tokens else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": new_tokens, "total_tokens": prompt_tokens + new_tokens},
            "doc2lora": {**self._extension(routed), "batch": batch},
        }

    @staticmethod
    def _extension(routed: _Routed) -> dict[str, Any]:
        return {"mode": routed.request.mode, "k": routed.request.k, "adapter_ids": list(routed.adapter_ids or routed.select_ids),
                "sources": routed.sources}

    def complete(self, body: Any) -> dict[str, Any]:
        """One chat completion (the request's `stream` is ignored here; see `stream`)."""
        return self._complete(self._route(self.parse(body)))

    def _complete(self, routed: _Routed) -> dict[str, Any]:
        from .serving import answer

        req = routed.request
        text, out, _ = answer(self.engine(req.model), self.stores[req.model], req.question, context=routed.context,
                              adapter_ids=routed.adapter_ids, select_ids=routed.select_ids, max_new_tokens=req.max_tokens,
                              temperature=req.temperature, stop=req.stop)
        return self._response(routed, text, out.prompt_tokens, out.new_tokens)

    def stream(self, body: Any) -> Iterator[dict[str, Any]]:
        """`chat.completion.chunk` dicts: the role, the answer piece by piece, then the finish reason.

        The request is checked, routed and its adapters loaded before this returns."""
        from .serving import count_tokens, stream

        routed = self._route(self.parse(body))
        req = routed.request
        engine = self.engine(req.model)
        pieces = stream(engine, self.stores[req.model], req.question, context=routed.context, adapter_ids=routed.adapter_ids,
                        select_ids=routed.select_ids, max_new_tokens=req.max_tokens, temperature=req.temperature, stop=req.stop)
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(self._clock()),
                "model": req.model}

        def chunks() -> Iterator[dict[str, Any]]:
            yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                   "doc2lora": self._extension(routed)}
            text = ""
            for piece in pieces:
                text += piece
                yield {**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            finish = "length" if count_tokens(engine, text) >= req.max_tokens else "stop"
            yield {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}

        return chunks()

    def complete_many(self, bodies: Sequence[Any]) -> list[dict[str, Any] | Exception]:
        """Several completions, batched where the answers stay the same as one at a time: greedy rows of
        one base model without stop strings that are not hybrid (text + adapters) go through one `answer_batch` per base model
        and answer length; the rest one by one. A request that fails gives its exception in its place."""
        from .lora import LoraWeights
        from .serving import cut_at_stop

        results: list[dict[str, Any] | Exception | None] = [None] * len(bodies)
        groups: dict[tuple[int, int], list[tuple[int, _Routed, Any]]] = {}
        for i, body in enumerate(bodies):
            try:
                routed = self._route(self.parse(body))
                req = routed.request
                if req.temperature > 0 or req.stop or ((routed.adapter_ids or routed.select_ids) and routed.context is not None):
                    results[i] = self._complete(routed)
                    continue
                adapters = self._adapters(routed)
                joint = None if not adapters else adapters[0] if len(adapters) == 1 else LoraWeights.concat(adapters)
                engine = self.engine(req.model)
                groups.setdefault((id(engine), req.max_tokens), []).append((i, routed, joint))
            except Exception as exc:  # noqa: BLE001 - handed back in the request's place
                results[i] = exc
        for (_, max_tokens), rows in groups.items():
            engine = self.engine(rows[0][1].request.model)
            try:
                outs = engine.answer_batch([r.request.question for _, r, _ in rows], [j for _, _, j in rows],
                                           [r.context for _, r, _ in rows], max_new_tokens=max_tokens)
            except Exception as exc:  # noqa: BLE001
                for i, _, _ in rows:
                    results[i] = exc
                continue
            for (i, routed, _), out in zip(rows, outs):
                results[i] = self._response(routed, cut_at_stop(out.text, routed.request.stop), out.prompt_tokens, out.new_tokens,
                                            len(rows))
        return [r if r is not None else RuntimeError("request not answered") for r in results]

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, OpenAI-shaped error body) of an exception raised while answering."""
    if isinstance(exc, ChatRequestError):
        return exc.status, exc.body()
    if isinstance(exc, InputError):  # e.g. an adapter deleted between routing and loading
        return 400, {"error": {"message": str(exc), "type": "invalid_request_error", "param": None, "code": None}}
    return 500, {"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error", "param": None, "code": None}}


def sse(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events of the chunks, ending with `data: [DONE]`; an error mid-stream becomes an error event."""
    try:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
    except Exception as exc:  # noqa: BLE001 - the status line has gone out; the client reads the error event
        yield f"data: {json.dumps(error_body(exc)[1])}\n\n"
    yield "data: [DONE]\n\n"


async def respond(service: ChatService, request: Any, complete: Callable[[Any], Any] | None = None) -> Any:
    """The Starlette response to `request` (routes in the module docstring). `complete`: an awaitable
    replacement for one non-streamed completion (Ray Serve's batched path)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

    path, method = request.url.path.rstrip("/"), request.method
    if path == "/health" and method == "GET":
        return PlainTextResponse("ok")
    if path == "/v1/models" and method == "GET":
        return JSONResponse(service.models())
    if path != "/v1/chat/completions":
        return JSONResponse({"error": {"message": f"no route {method} {path}; use POST /v1/chat/completions or GET /v1/models",
                                       "type": "not_found_error", "param": None, "code": None}}, status_code=404)
    if method != "POST":
        return JSONResponse({"error": {"message": "use POST for /v1/chat/completions", "type": "invalid_request_error",
                                       "param": None, "code": None}}, status_code=405)
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        return JSONResponse(ChatRequestError(f"the request body is not JSON: {exc}").body(), status_code=400)
    try:
        if isinstance(body, Mapping) and body.get("stream") is True:
            chunks = await run_in_threadpool(service.stream, body)
            return StreamingResponse(sse(chunks), media_type="text/event-stream")
        result = await complete(body) if complete is not None else await run_in_threadpool(service.complete, body)
        if isinstance(result, Exception):
            raise result
        return JSONResponse(result)
    except Exception as exc:  # noqa: BLE001 - every failure answers in OpenAI's error shape
        status, err = error_body(exc)
        return JSONResponse(err, status_code=status)


def make_app(service: ChatService) -> Any:
    """A Starlette application serving `service` (run it with uvicorn: `doc2lora serve`)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def endpoint(request: Any) -> Any:
        return await respond(service, request)

    routes = [Route(p, endpoint, methods=["GET", "POST"]) for p in ("/health", "/v1/models", "/v1/chat/completions")]
    app = Starlette(routes=routes)
    app.state.service = service
    return app
