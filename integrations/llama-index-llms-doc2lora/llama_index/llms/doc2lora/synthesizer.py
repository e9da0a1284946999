"""AdapterSynthesizer: a LlamaIndex response synthesizer that stuffs no text.

The built-in synthesizers format the retrieved nodes' text into a prompt. This one takes the
nodes' adapter ids and calls the LLM with the question only and those adapters active; the nodes
still come back as the response's `source_nodes`. With `streaming=True` it returns a
`StreamingResponse` whose generator yields the answer piece by piece.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.types import RESPONSE_TEXT_TYPE

from doc2lora_rag import InputError
from doc2lora_rag.rag import CONTEXT_SEPARATOR, default_hybrid_adapters, default_mode

__all__ = ["AdapterSynthesizer", "adapter_ids_from_nodes"]


def adapter_ids_from_nodes(nodes: Sequence[NodeWithScore]) -> list[str]:
    """Adapter ids of retrieved nodes (``metadata["adapter_id"]`` or ``["adapter_ids"]``), in order, no repeats."""
    ids: list[str] = []
    for i, item in enumerate(nodes):
        node = item.node if isinstance(item, NodeWithScore) else item
        metadata = getattr(node, "metadata", None) or {}
        found = [metadata["adapter_id"]] if metadata.get("adapter_id") else list(metadata.get("adapter_ids") or [])
        if not found:
            raise InputError(f"nodes[{i}] has no metadata['adapter_id']; retrieve nodes with Doc2LoRARetriever / AdapterIndex")
        ids.extend(x for x in found if x not in ids)
    return ids


class AdapterSynthesizer(BaseSynthesizer):
    """Answers with the retrieved nodes' adapters switched in; no node text reaches the prompt.

    Instantiate: ``AdapterSynthesizer(llm=Doc2LoRALLM(store=store), streaming=False)``; the LLM must
    accept ``adapter_ids`` in ``complete``/``stream_complete``. ``hybrid=True``: the nodes' text goes
    in as well (``context=``, placed before the question), next to their adapters. ``selected=True``: instead of
    the nodes' adapters, one adapter written for the question over their texts (``select_ids=``: the memory
    generator's selected write, only the sentences that best match the question), next to the text when ``hybrid``;
    ``selected=None`` (default): so where the LLM's store answers in selected mode by default (a memory-generator
    store, ``rag.default_mode`` and ``rag.default_hybrid_adapters``). With no nodes it returns the
    "Empty Response" like the built-in synthesizers.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        streaming: bool = False,
        hybrid: bool = False,
        selected: bool | None = None,
        callback_manager: CallbackManager | None = None,
        empty_response: str | None = None,
    ) -> None:
        if not isinstance(llm, LLM):
            raise InputError(f"llm must be a LlamaIndex LLM accepting adapter_ids (Doc2LoRALLM), got {type(llm).__name__}")
        super().__init__(llm=llm, callback_manager=callback_manager, streaming=streaming, empty_response=empty_response)
        self.hybrid = bool(hybrid)
        if selected is None:
            store = getattr(llm, "store", None)
            selected = store is not None and (default_hybrid_adapters(store) if hybrid else default_mode(store)) == "selected"
        self.selected = bool(selected)

    def _ids(self, nodes: Sequence[NodeWithScore]) -> dict[str, list[str]]:
        return {"select_ids" if self.selected else "adapter_ids": adapter_ids_from_nodes(nodes)}

    def _get_prompts(self) -> PromptDictType:
        return {}  # no templates: nothing is formatted into a prompt

    def _update_prompts(self, prompts: PromptDictType) -> None:
        if prompts:
            raise InputError(f"AdapterSynthesizer has no prompt templates to update (got {sorted(prompts)})")

    def _with_text(self, text_chunks: Sequence[str], response_kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**response_kwargs, "context": CONTEXT_SEPARATOR.join(text_chunks)} if self.hybrid and text_chunks else response_kwargs

    def get_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> RESPONSE_TEXT_TYPE:
        """The answer to `query_str`; ``adapter_ids`` (or ``select_ids``) come in response_kwargs; `text_chunks` go in as context only when hybrid."""
        response_kwargs = self._with_text(text_chunks, response_kwargs)
        if self._streaming:
            pieces = self._llm.stream_complete(query_str, **response_kwargs)
            return _deltas(pieces)
        return self._llm.complete(query_str, **response_kwargs).text

    async def aget_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> RESPONSE_TEXT_TYPE:
        response_kwargs = self._with_text(text_chunks, response_kwargs)
        if self._streaming:
            pieces = await self._llm.astream_complete(query_str, **response_kwargs)
            return _adeltas(pieces)
        return (await self._llm.acomplete(query_str, **response_kwargs)).text

    def synthesize(
        self,
        query: str | QueryBundle,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        return super().synthesize(query, nodes, additional_source_nodes, **self._ids(nodes), **response_kwargs)

    async def asynthesize(
        self,
        query: str | QueryBundle,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        return await super().asynthesize(query, nodes, additional_source_nodes, **self._ids(nodes), **response_kwargs)


def _deltas(responses: Any) -> Generator[str, None, None]:
    for r in responses:
        if r.delta:
            yield r.delta


async def _adeltas(responses: Any) -> AsyncGenerator[str, None]:
    async for r in responses:
        if r.delta:
            yield r.delta
