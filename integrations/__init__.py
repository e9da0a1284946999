"""Framework integrations of doc2lora-rag (optional; the core package never imports them).

- ``integrations.langchain_doc2lora``: LangChain vector store, retriever, chat model, adapter
  documents chain and agent middleware (extra ``doc2lora-rag[langchain]``).
- ``integrations.llama_index_doc2lora``: LlamaIndex retriever, LLM, response synthesizer and index
  (extra ``doc2lora-rag[llamaindex]``).
"""
