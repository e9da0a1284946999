"""Migration benchmark through the LangChain API: the same retrieval chain before and after.

Before:  InMemoryVectorStore(MiniLM) -> create_stuff_documents_chain(ChatDoc2LoRA, prompt)  (k chunk texts in the prompt)
After:   AdapterVectorStore(MiniLM)  -> create_adapter_documents_chain(ChatDoc2LoRA)        (k adapters, question only)

Same base model, same embedder, same chunks (the classic store indexes the adapter store's chunk-group
texts). Prints accuracy, token F1, recall@k, latency p50 and mean prompt tokens for both chains.
The full benchmark (five modes, memory, plots, report) is `doc2lora bench rag`.

    python examples/migrate_benchmark.py [--n 8] [--k 4]
    python examples/migrate_benchmark.py --tiny     # a tiny random model + untrained generator (CI, seconds)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from langchain_classic.chains import create_retrieval_chain
from langchain_classic.chains.combine_documents import create_stuff_documents_chain
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_doc2lora import AdapterVectorStore, ChatDoc2LoRA, MiniLMEmbeddings, create_adapter_documents_chain

from doc2lora_rag import AdapterGenerator, load_base_model
from doc2lora_rag.base_model import tiny_random_base
from doc2lora_rag.evaluation import is_correct, load_qa, token_f1
from doc2lora_rag.generators import describe, make_generator
from doc2lora_rag.llm import AnswerEngine, prompt_ids
from doc2lora_rag.loaders import load_paths

HERE = Path(__file__).resolve().parent


def score(rows: list[dict]) -> dict[str, float]:
    return {
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
        "f1": statistics.fmean(r["f1"] for r in rows),
        "recall": statistics.fmean(r["hit"] for r in rows),
        "p50_s": statistics.median(r["seconds"] for r in rows),
        "prompt_tokens": statistics.fmean(r["prompt_tokens"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=HERE / "sample_corpus")
    parser.add_argument("--qa", type=Path, default=HERE / "sample_qa.jsonl")
    parser.add_argument("--n", type=int, default=8, help="questions")
    parser.add_argument("--k", type=int, default=4, help="chunks / adapters per question")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--tiny", action="store_true", help="tiny random model + untrained generator (runs in seconds)")
    args = parser.parse_args()
    if args.tiny:
        import torch

        torch.set_num_threads(1)
    max_tokens = 8 if args.tiny else args.max_tokens
    items = load_qa(args.qa, args.docs)[: 2 if args.tiny else args.n]

    base = tiny_random_base() if args.tiny else load_base_model()
    generator = AdapterGenerator.untrained(base) if args.tiny else make_generator(None, base)
    engine = AnswerEngine(base)  # one engine, shared by both chains
    embeddings = MiniLMEmbeddings()
    documents = [Document(page_content=d.text, metadata=d.metadata) for d in load_paths([args.docs])]
    rows: dict[str, list[dict]] = {"stuffed RAG": [], "adapters": []}

    with tempfile.TemporaryDirectory() as tmp:
        adapter_store = AdapterVectorStore(Path(tmp) / "adapters", embeddings, generator=generator)
        adapter_store.add_documents(documents)
        chunks = [Document(page_content=e.text, metadata=e.metadata) for e in adapter_store.store.entries()]
        vector_store = InMemoryVectorStore.from_documents(chunks, embeddings)

        llm = ChatDoc2LoRA(engine=engine, store=adapter_store, max_tokens=max_tokens)
        prompt = ChatPromptTemplate.from_messages([("system", "{context}"), ("human", "{input}")])
        chains = {
            "stuffed RAG": create_retrieval_chain(vector_store.as_retriever(search_kwargs={"k": args.k}), create_stuff_documents_chain(llm, prompt)),
            "adapters": create_retrieval_chain(adapter_store.as_retriever(search_kwargs={"k": args.k}), create_adapter_documents_chain(llm)),
        }
        llm.invoke("Warm up.")
        for item in items:
            for name, chain in chains.items():
                t0 = time.perf_counter()
                out = chain.invoke({"input": item.question})
                seconds = time.perf_counter() - t0
                # the prompt the engine saw: the stuffed texts (one system message) before the question, or the question only
                context = "\n\n".join(d.page_content for d in out["context"]) if name == "stuffed RAG" else None
                n_prompt = len(prompt_ids(base.tokenizer, item.question, context))
                rows[name].append(
                    {
                        "correct": is_correct(out["answer"], item.answers),
                        "f1": token_f1(out["answer"], item.answers),
                        "seconds": seconds,
                        "hit": item.doc in [d.metadata.get("file_name") for d in out["context"]],
                        "prompt_tokens": n_prompt,
                    }
                )
        adapter_store.close()

    print(f"base {base.name}, generator {describe(generator.identity())}, {len(items)} questions, k={args.k}")
    print(f"{'chain':<12} {'accuracy':>8} {'F1':>6} {'recall@k':>9} {'p50 s':>7} {'prompt tok':>10}")
    for name, rs in rows.items():
        s = score(rs)
        print(f"{name:<12} {s['accuracy']:>8.3f} {s['f1']:>6.3f} {s['recall']:>9.2f} {s['p50_s']:>7.3f} {s['prompt_tokens']:>10.1f}")


if __name__ == "__main__":
    main()
