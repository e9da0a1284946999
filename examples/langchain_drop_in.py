"""LangChain drop-in: the same retrieval chain, before (text stuffed into the prompt) and after
(documents as adapters, switched in; the prompt holds only the question).

Before:  InMemoryVectorStore(MiniLM) -> create_stuff_documents_chain(llm, prompt) -> create_retrieval_chain
After:   AdapterVectorStore(MiniLM)  -> create_adapter_documents_chain(llm)       -> create_retrieval_chain

Both use the same base model (ChatDoc2LoRA; with no adapters it is the plain model) and the same
MiniLM embedder, on examples/sample_corpus/ and one question per document of examples/sample_qa.jsonl.

    python examples/langchain_drop_in.py [--n 4] [--k 2] [--store DIR]
    python examples/langchain_drop_in.py --tiny     # seconds: a tiny random model and an untrained generator (CI)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from langchain_classic.chains import create_retrieval_chain
from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_doc2lora import AdapterVectorStore, ChatDoc2LoRA, MiniLMEmbeddings, create_adapter_documents_chain
from langchain_text_splitters import RecursiveCharacterTextSplitter

from doc2lora_rag import AdapterGenerator, load_base_model
from doc2lora_rag.base_model import tiny_random_base
from doc2lora_rag.evaluation import load_qa
from doc2lora_rag.generators import describe, make_generator, zero_adapters
from doc2lora_rag.llm import AnswerEngine
from doc2lora_rag.loaders import load_paths

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "sample_corpus"
QA_FILE = HERE / "sample_qa.jsonl"


def one_question_per_document(n: int) -> list:
    items, seen = [], set()
    for item in load_qa(QA_FILE):
        if item.doc not in seen:
            seen.add(item.doc)
            items.append(item)
    return items[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model + untrained generator (runs in seconds)")
    parser.add_argument("--n", type=int, default=4, help="questions (one per document)")
    parser.add_argument("--k", type=int, default=2, help="chunks / adapters per question")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--store", type=Path, help="adapter store directory (default: a temporary one)")
    args = parser.parse_args()
    max_tokens = 8 if args.tiny else args.max_tokens

    t0 = time.perf_counter()
    base = tiny_random_base() if args.tiny else load_base_model()
    generator = AdapterGenerator.untrained(base) if args.tiny else make_generator(None, base)
    if zero_adapters(generator.identity()):
        print("NOTE: no trained generator here: the adapters are all zero, so the adapter answers equal the bare model's.")
    engine = AnswerEngine(base)  # one engine, shared by both chains
    embeddings = MiniLMEmbeddings()
    documents = [Document(page_content=d.text, metadata=d.metadata) for d in load_paths([CORPUS])]
    print(f"base model {base.name}; generator {describe(generator.identity())}; {len(documents)} documents ({time.perf_counter() - t0:.1f}s)")

    # -- before: the usual RAG chain, retrieved text stuffed into the prompt ------------------------
    chunks = RecursiveCharacterTextSplitter(chunk_size=600, chunk_overlap=60).split_documents(documents)
    vector_store = InMemoryVectorStore.from_documents(chunks, embeddings)
    llm = ChatDoc2LoRA(engine=engine, max_tokens=max_tokens)
    prompt = ChatPromptTemplate.from_messages([("system", "{context}"), ("human", "{input}")])
    rag_chain = create_retrieval_chain(vector_store.as_retriever(search_kwargs={"k": args.k}), create_stuff_documents_chain(llm, prompt))

    # -- after: two lines change (the store and the combine-documents chain) -----------------------
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        adapter_store = AdapterVectorStore(args.store or Path(tmp) / "adapters", embeddings, generator=generator)
        adapter_store.add_documents(documents)
        print(f"{len(adapter_store.store.entries())} adapters in {time.perf_counter() - t1:.1f}s; {len(chunks)} text chunks for RAG")
        adapter_llm = ChatDoc2LoRA(engine=engine, store=adapter_store, max_tokens=max_tokens)
        adapter_chain = create_retrieval_chain(adapter_store.as_retriever(search_kwargs={"k": args.k}), create_adapter_documents_chain(adapter_llm))

        for i, item in enumerate(one_question_per_document(args.n), 1):
            t2 = time.perf_counter()
            stuffed = rag_chain.invoke({"input": item.question})
            t3 = time.perf_counter()
            adapted = adapter_chain.invoke({"input": item.question})
            t4 = time.perf_counter()
            print(f"\n[{i}] {item.question}   (gold: {item.answers[0]})")
            print(f"    RAG, text in prompt : {stuffed['answer']!r}  [{t3 - t2:.2f}s]")
            routed = [f"{d.metadata['file_name']}#{d.metadata['group_index']}" for d in adapted["context"]]
            print(f"    adapters, no text   : {adapted['answer']!r}  [{t4 - t3:.2f}s]")
            print(f"                          adapters of {routed}")
        adapter_store.close()
    print(f"\ntotal {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
