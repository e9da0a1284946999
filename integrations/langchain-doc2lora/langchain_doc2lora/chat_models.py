"""ChatDoc2LoRA: a LangChain chat model over doc2lora's `AnswerEngine`, adapters switched in per call.

Messages map to one engine call: the last human message is the question; system messages, when
present, are joined into context text placed before the question (that is how a stuffed-RAG prompt
reaches the model), followed by the conversation so far (earlier human and AI turns as a transcript,
"User: ..." / "Assistant: ..."); tool messages are not used. `adapter_ids=[...]` (per call, or via `.bind(adapter_ids=[...])`) activates those adapters
of the store together (memory adapters: one joint write over their keys; others rank-concatenated);
`select_ids=[...]` instead writes one adapter for the question over those entries' texts (the memory generator's
selected write: only their sentences that best match the question); without either the bare base model answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from doc2lora_rag import InputError
from doc2lora_rag.serving import (
    DEFAULT_MAX_NEW_TOKENS,
    answer,
    check_adapter_ids,
    check_engine,
    check_stop,
    core_store,
    count_tokens,
    prompt_tokens,
    shared_engine,
    stream,
)

__all__ = ["ChatDoc2LoRA"]

_CALL_KWARGS = ("adapter_ids", "select_ids", "routing_scores", "max_tokens", "temperature", "model", "stream")
HISTORY_HEADER = "Conversation so far:"


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)


class ChatDoc2LoRA(BaseChatModel):
    """Chat model answering with a frozen base LLM and, per call, generated LoRA adapters switched in.

    Setup:
        ``pip install 'doc2lora-rag[langchain]'``; an ``AdapterStore`` (or ``AdapterVectorStore``)
        to load adapters from, and/or an ``AnswerEngine``.

    Instantiate:
        .. code-block:: python

            from langchain_doc2lora import ChatDoc2LoRA

            llm = ChatDoc2LoRA(store=vector_store)          # engine on the store generator's base model
            llm = ChatDoc2LoRA(engine=engine, store=store, max_tokens=64, stop=["\\n\\n"])

    Invoke:
        .. code-block:: python

            llm.invoke("Who founded the festival?")                              # no adapter
            llm.invoke("Who founded the festival?", adapter_ids=["festival#0"])  # adapters active
            llm.bind(adapter_ids=["festival#0"]).invoke("...")

    Stream:
        .. code-block:: python

            for chunk in llm.stream("...", adapter_ids=[...]):
                print(chunk.text, end="")

    The returned message's ``response_metadata`` has ``model_name``, ``adapter_ids`` (those active),
    ``routing_scores`` (when the caller passed them, as the adapter chain and middleware do) and
    ``timings`` (``adapter_s``, ``generate_s``, ``total_s``); ``usage_metadata`` counts prompt and generated tokens (streaming: the re-tokenized
    length of the streamed text). Greedy decoding at ``temperature=0``. Tool calling and structured
    output are not supported (a small base model cannot follow tool schemas).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    engine: Any = Field(default=None, exclude=True, description="a doc2lora_rag.llm.AnswerEngine; None: one on the store's base model")
    store: Any = Field(default=None, exclude=True, description="AdapterStore or AdapterVectorStore to load adapters by id from")
    model_name: str | None = Field(default=None, alias="model", description="the base model's name (defaults to the engine's or store's)")
    temperature: float = 0.0
    max_tokens: int | None = Field(default=None, description=f"new tokens per answer (None: {DEFAULT_MAX_NEW_TOKENS})")
    stop: list[str] | None = None
    streaming: bool = False

    _engine: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> ChatDoc2LoRA:
        if self.engine is None and self.store is None:
            raise InputError("ChatDoc2LoRA needs engine=AnswerEngine(...) or store=AdapterStore(...) (or both)")
        if self.engine is not None:
            check_engine(self.engine)
        if self.store is not None:
            core_store(self.store)
        if isinstance(self.temperature, bool) or self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens < 1):
            raise InputError(f"max_tokens must be an int >= 1 or None, got {self.max_tokens!r}")
        self.stop = check_stop(self.stop) or None
        if self.model_name is None:
            if self.engine is not None:
                self.model_name = self.engine.base.name
            else:
                self.model_name = (core_store(self.store).meta.get("base_model") or {}).get("name") or "doc2lora"
        return self

    # -- LangChain plumbing ------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "doc2lora"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature, "max_tokens": self.max_tokens, "stop": self.stop}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "doc2lora"
        params["ls_model_name"] = kwargs["model"] if isinstance(kwargs.get("model"), str) else self.model_name
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stops = stop if stop is not None else self.stop
        if stops:
            params["ls_stop"] = list(stops)
        return params

    @property
    def answer_engine(self) -> Any:
        """The AnswerEngine in use (created on first use from the store's base model when not given)."""
        if self.engine is not None:
            return self.engine
        if self._engine is None:
            self._engine = shared_engine(core_store(self.store).generator.base)
        return self._engine

    # -- one call ----------------------------------------------------------------------------

    @staticmethod
    def question_and_context(messages: list[BaseMessage]) -> tuple[str, str | None]:
        """(last human message, context or None): what the engine receives.

        The context is the system messages joined, then the earlier human / AI turns as a transcript.
        """
        last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=None)
        if last is None or not messages[last].text.strip():
            raise InputError("ChatDoc2LoRA answers the last human message, and the messages have none with text; add a HumanMessage")
        parts = [m.text.strip() for m in messages if isinstance(m, SystemMessage) and m.text.strip()]
        turns = [
            f"{'User' if isinstance(m, HumanMessage) else 'Assistant'}: {m.text.strip()}"
            for m in messages[:last]
            if isinstance(m, (HumanMessage, AIMessage)) and m.text.strip()
        ]
        if turns:
            parts.append("\n".join([HISTORY_HEADER, *turns]))
        return messages[last].text, ("\n\n".join(parts) or None)

    def _call(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(_CALL_KWARGS))
        if unknown:
            raise InputError(f"ChatDoc2LoRA got unknown call arguments {unknown}; it accepts {list(_CALL_KWARGS[:6])} and stop")
        model = kwargs.get("model")
        if model is not None and model != self.model_name:
            raise InputError(f"this ChatDoc2LoRA runs base model {self.model_name!r}; model={model!r} cannot be switched per call")
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
            raise InputError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        temperature = kwargs.get("temperature", self.temperature)
        question, context = self.question_and_context(messages)
        scores = kwargs.get("routing_scores")
        if scores is not None and (isinstance(scores, (str, bytes)) or not all(isinstance(x, (int, float)) for x in scores)):
            raise InputError(f"routing_scores must be a list of numbers aligned with adapter_ids, got {scores!r:.80}")
        return {
            "question": question,
            "context": context,
            "adapter_ids": check_adapter_ids(kwargs.get("adapter_ids")),
            "select_ids": check_adapter_ids(kwargs.get("select_ids")),
            "max_new_tokens": max_tokens or DEFAULT_MAX_NEW_TOKENS,
            "temperature": float(temperature),
            "stop": check_stop(stop if stop is not None else self.stop),
        }

    def _response_metadata(self, call: dict[str, Any], kwargs: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
        meta: dict[str, Any] = {"model_name": self.model_name, "adapter_ids": call["adapter_ids"], "timings": timings}
        if call["select_ids"]:
            meta["select_ids"] = call["select_ids"]
        if kwargs.get("routing_scores") is not None:
            meta["routing_scores"] = [float(x) for x in kwargs["routing_scores"]]
        return meta

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> ChatResult:
        call = self._call(messages, stop, kwargs)
        text, out, timings = answer(self.answer_engine, self.store, **call)
        message = AIMessage(
            content=text,
            usage_metadata=_usage(out.prompt_tokens, out.new_tokens),
            response_metadata=self._response_metadata(call, kwargs, timings),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        call = self._call(messages, stop, kwargs)
        engine = self.answer_engine
        text = ""
        t0 = time.perf_counter()
        pieces = stream(engine, self.store, **call)  # adapters are loaded here
        t1 = time.perf_counter()
        for piece in pieces:
            text += piece
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        t2 = time.perf_counter()
        usage = _usage(prompt_tokens(engine, call["question"], call["context"]), count_tokens(engine, text))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage,
                response_metadata=self._response_metadata(call, kwargs, {"adapter_s": t1 - t0, "generate_s": t2 - t1, "total_s": t2 - t0}),
                chunk_position="last",
            )
        )
