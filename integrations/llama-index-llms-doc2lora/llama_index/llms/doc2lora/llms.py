"""Doc2LoRALLM: a LlamaIndex `CustomLLM` over doc2lora's `AnswerEngine`, adapters passed per call.

`complete(prompt, adapter_ids=[...])` answers the prompt (as the question) with those adapters of
the store switched in (``context="..."``: text placed before the question, as in hybrid mode); without
`adapter_ids` the bare base model answers, so the same LLM serves a classic stuffed-prompt pipeline as
well. Chat messages are reduced to the last user message. The async methods (`acomplete`, `achat`,
`astream_complete`, `astream_chat`) run generation in a worker thread: the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.generic_utils import astream_completion_response_to_chat_response, completion_response_to_chat_response
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseAsyncGen, CompletionResponseAsyncGen, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from doc2lora_rag import InputError
from doc2lora_rag.serving import DEFAULT_MAX_NEW_TOKENS, answer, check_adapter_ids, check_engine, check_stop, core_store, shared_engine, stream

__all__ = ["Doc2LoRALLM"]

_CALL_KWARGS = ("adapter_ids", "select_ids", "context", "max_new_tokens", "temperature", "stop")


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    """The text of the last user message (the engine answers one question)."""
    for message in reversed(list(messages)):
        if message.role == MessageRole.USER and (message.content or "").strip():
            return message.content
    raise InputError("Doc2LoRALLM answers the last user message, and the messages have none with text")


class Doc2LoRALLM(CustomLLM):
    """The frozen base LLM, answering with a store's adapters switched in per call.

    Instantiate: ``Doc2LoRALLM(store=adapter_store)`` (an engine on the store generator's base
    model) or ``Doc2LoRALLM(engine=engine, store=store)``. Use: ``llm.complete(q)``,
    ``llm.complete(q, adapter_ids=["doc#0"])``, ``llm.stream_complete(q, adapter_ids=[...])``.
    The response's ``additional_kwargs`` has ``adapter_ids`` and token counts (``raw`` too).
    """

    engine: Any = Field(default=None, exclude=True, description="a doc2lora_rag.llm.AnswerEngine; None: one on the store's base model")
    store: Any = Field(default=None, exclude=True, description="the AdapterStore (or AdapterIndex) adapters are loaded from")
    model_name: str | None = Field(default=None, description="the base model's name (defaults to the engine's or store's)")
    max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    context_window: int = Field(default=2048, ge=1, description="prompt tokens the base model takes")
    stop: list[str] | None = None

    _engine: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("messages_to_prompt", last_user_message)
        super().__init__(**kwargs)

    @model_validator(mode="after")
    def _check(self) -> Doc2LoRALLM:
        if self.engine is None and self.store is None:
            raise InputError("Doc2LoRALLM needs engine=AnswerEngine(...) or store=AdapterStore(...) (or both)")
        if self.engine is not None:
            check_engine(self.engine)
        if self.store is not None:
            self.store = core_store(self.store)
        self.stop = check_stop(self.stop) or None
        if self.model_name is None:
            if self.engine is not None:
                self.model_name = self.engine.base.name
            else:
                self.model_name = (self.store.meta.get("base_model") or {}).get("name") or "doc2lora"
        return self

    @classmethod
    def class_name(cls) -> str:
        return "Doc2LoRALLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.context_window, num_output=self.max_new_tokens, model_name=self.model_name, is_chat_model=False)

    @property
    def answer_engine(self) -> Any:
        """The AnswerEngine in use (created on first use from the store's base model when not given)."""
        if self.engine is not None:
            return self.engine
        if self._engine is None:
            self._engine = shared_engine(self.store.generator.base)
        return self._engine

    def _call(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(_CALL_KWARGS))
        if unknown:
            raise InputError(f"Doc2LoRALLM got unknown call arguments {unknown}; it accepts {list(_CALL_KWARGS)}")
        max_new_tokens = kwargs.get("max_new_tokens", self.max_new_tokens)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
        stop = kwargs.get("stop")
        context = kwargs.get("context")
        if context is not None and not isinstance(context, str):
            raise InputError(f"context must be a str (text placed before the question) or None, got {type(context).__name__}")
        return {
            "question": prompt if formatted else self.completion_to_prompt(prompt),
            "context": context or None,
            "adapter_ids": check_adapter_ids(kwargs.get("adapter_ids")),
            "select_ids": check_adapter_ids(kwargs.get("select_ids")),
            "max_new_tokens": max_new_tokens,
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": check_stop(stop if stop is not None else self.stop),
        }

    def _complete(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> CompletionResponse:
        call = self._call(prompt, formatted, kwargs)
        text, out, timings = answer(self.answer_engine, self.store, **call)
        info = {"adapter_ids": call["adapter_ids"], "select_ids": call["select_ids"], "prompt_tokens": out.prompt_tokens,
                "new_tokens": out.new_tokens, "timings": timings}
        return CompletionResponse(text=text, raw=dict(info), additional_kwargs=info)

    def _stream_complete(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> CompletionResponseGen:
        call = self._call(prompt, formatted, kwargs)
        pieces = stream(self.answer_engine, self.store, **call)  # adapters load here, before the first piece
        info = {"adapter_ids": call["adapter_ids"], "select_ids": call["select_ids"]}

        def gen() -> CompletionResponseGen:
            text = ""
            for piece in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece, additional_kwargs=dict(info))
            if not text:  # an empty answer is still one response (LlamaIndex's callbacks need a last one)
                yield CompletionResponse(text="", delta="", additional_kwargs=dict(info))

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._complete(prompt, formatted, kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self._stream_complete(prompt, formatted, kwargs)

    # -- async: generation runs in a worker thread, the event loop keeps running ------------------

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await asyncio.to_thread(self._complete, prompt, formatted, kwargs)

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        return _in_thread(await asyncio.to_thread(self._stream_complete, prompt, formatted, kwargs))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        prompt = self.messages_to_prompt(messages)
        return completion_response_to_chat_response(await asyncio.to_thread(self._complete, prompt, True, kwargs))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        prompt = self.messages_to_prompt(messages)
        pieces = await asyncio.to_thread(self._stream_complete, prompt, True, kwargs)
        return astream_completion_response_to_chat_response(_in_thread(pieces))


async def _in_thread(responses: Iterator[CompletionResponse]) -> CompletionResponseAsyncGen:
    """The responses of a blocking generator, each one produced in a worker thread."""
    done = object()
    while (item := await asyncio.to_thread(next, responses, done)) is not done:
        yield item
