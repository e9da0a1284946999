"""AdapterRoutingMiddleware: LangChain v1 agent middleware that routes each model call to adapters.

Before every model call it routes the last human message through the store and passes the chosen
adapter ids to the model as `model_settings["adapter_ids"]`, which `create_agent` forwards as
`model.bind(adapter_ids=...)`. It is the adapter version of the "two-step chain" RAG pattern (a
middleware that retrieves and stuffs a system prompt): nothing is added to the prompt.

The agent's model must accept `adapter_ids` (`ChatDoc2LoRA`). `create_agent` needs tool calling
only when tools are given; a small base model cannot call tools, so use it with `tools=[]`.
Requires the `langchain` (v1) package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import HumanMessage

from doc2lora_rag import InputError
from doc2lora_rag.serving import core_store

from .chains import adapter_ids_from_documents
from .vectorstores import AdapterVectorStore

__all__ = ["AdapterRoutingMiddleware"]


class AdapterRoutingMiddleware(AgentMiddleware):
    """Routes each model call's question to the store's `k` best adapters.

    Setup:
        ``pip install 'langchain>=1,<2'`` and an AdapterStore / AdapterVectorStore with documents.

    Instantiate:
        .. code-block:: python

            from langchain.agents import create_agent

            agent = create_agent(ChatDoc2LoRA(store=vector_store), tools=[],
                                 middleware=[AdapterRoutingMiddleware(vector_store, k=2)])
            agent.invoke({"messages": [{"role": "user", "content": "Who founded the festival?"}]})

    Args:
        store: an ``AdapterVectorStore`` or a doc2lora ``AdapterStore``.
        k: adapters per model call.
        score_threshold: when the best routing score is below it, the call runs without adapters.
    """

    def __init__(self, store: Any, k: int = 2, *, score_threshold: float | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k must be an int >= 1, got {k!r}")
        if score_threshold is not None and (isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float))):
            raise InputError(f"score_threshold must be a number or None, got {score_threshold!r}")
        self.vectorstore = store if isinstance(store, AdapterVectorStore) else AdapterVectorStore(core_store(store))
        self.k = k
        self.score_threshold = score_threshold

    def routed(self, messages: list[Any]) -> dict[str, list]:
        """``{"adapter_ids": [...], "routing_scores": [...]}`` for the last human message of `messages`
        (empty lists when there is none or the call is gated)."""
        humans = [m for m in messages if isinstance(m, HumanMessage) and m.text.strip()]
        hits = self.vectorstore.similarity_search_with_score(humans[-1].text, k=self.k) if humans else []
        if not hits or (self.score_threshold is not None and hits[0][1] < self.score_threshold):
            return {"adapter_ids": [], "routing_scores": []}
        return {"adapter_ids": adapter_ids_from_documents([doc for doc, _ in hits]), "routing_scores": [score for _, score in hits]}

    def adapter_ids(self, messages: list[Any]) -> list[str]:
        """The adapters for the last human message of `messages` ([] when there is none or it is gated)."""
        return self.routed(messages)["adapter_ids"]

    @staticmethod
    def _routed(request: ModelRequest, routed: dict[str, list]) -> ModelRequest:
        return request.override(model_settings={**request.model_settings, **routed})

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> ModelResponse:
        return handler(self._routed(request, self.routed(request.messages)))

    async def awrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]) -> ModelResponse:
        routed = await asyncio.to_thread(self.routed, request.messages)
        return await handler(self._routed(request, routed))
