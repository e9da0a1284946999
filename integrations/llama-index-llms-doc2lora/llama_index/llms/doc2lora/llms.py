"""Doc2LoRALLM: a LlamaIndex `CustomLLM` over doc2lora's `AnswerEngine`, adapters passed per call.

`complete(prompt, adapter_ids=[...])` answers the prompt (as the question) with those adapters of
the store switched in; without `adapter_ids` the bare base model answers, so the same LLM serves a
classic stuffed-prompt pipeline as well. Chat messages are reduced to the last user message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

from doc2lora_rag import InputError
from doc2lora_rag.serving import DEFAULT_MAX_NEW_TOKENS, answer, check_adapter_ids, check_engine, check_stop, core_store, shared_engine, stream

__all__ = ["Doc2LoRALLM"]

_CALL_KWARGS = ("adapter_ids", "max_new_tokens", "temperature", "stop")


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
        return {
            "question": prompt if formatted else self.completion_to_prompt(prompt),
            "adapter_ids": check_adapter_ids(kwargs.get("adapter_ids")),
            "max_new_tokens": max_new_tokens,
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": check_stop(stop if stop is not None else self.stop),
        }

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        call = self._call(prompt, formatted, kwargs)
        text, out, timings = answer(self.answer_engine, self.store, **call)
        info = {"adapter_ids": call["adapter_ids"], "prompt_tokens": out.prompt_tokens, "new_tokens": out.new_tokens, "timings": timings}
        return CompletionResponse(text=text, raw=dict(info), additional_kwargs=info)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        call = self._call(prompt, formatted, kwargs)
        pieces = stream(self.answer_engine, self.store, **call)  # adapters load here, before the first piece
        info = {"adapter_ids": call["adapter_ids"]}

        def gen() -> CompletionResponseGen:
            text = ""
            for piece in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece, additional_kwargs=dict(info))
            if not text:  # an empty answer is still one response (LlamaIndex's callbacks need a last one)
                yield CompletionResponse(text="", delta="", additional_kwargs=dict(info))

        return gen()
