"""LlamaIndex drop-in: the same query engine, before (VectorStoreIndex: node text stuffed into the
prompt) and after (AdapterIndex: the nodes' adapters switched in; the prompt holds only the question).

Before:  index = VectorStoreIndex.from_documents(docs, embed_model=MiniLMEmbedding())
After:   index = AdapterIndex.from_documents(docs, store_path=..., embed_model=MiniLMEmbedding())
Both:    index.as_query_engine(llm=llm, similarity_top_k=2).query(question)

Both use the same base model (Doc2LoRALLM; with no adapters it is the plain model) and the same
MiniLM embedder, on examples/sample_corpus/ and one question per document of examples/sample_qa.jsonl.

    python examples/llamaindex_drop_in.py [--n 4] [--k 2] [--store DIR] [--stream]
    python examples/llamaindex_drop_in.py --tiny     # seconds: a tiny random model and an untrained generator (CI)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.llms.doc2lora import AdapterIndex, Doc2LoRALLM, MiniLMEmbedding

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


def llama_documents() -> list[Document]:
    """The corpus as LlamaIndex Documents with stable ids (file name, plus the page for PDFs)."""
    out = []
    for d in load_paths([CORPUS]):
        page = d.metadata.get("page")
        doc_id = d.metadata["file_name"] + (f":p{page}" if page is not None else "")
        out.append(Document(text=d.text, metadata=d.metadata, id_=doc_id))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model + untrained generator (runs in seconds)")
    parser.add_argument("--n", type=int, default=4, help="questions (one per document)")
    parser.add_argument("--k", type=int, default=2, help="nodes / adapters per question")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--stream", action="store_true", help="stream the adapter answers")
    parser.add_argument("--store", type=Path, help="adapter store directory (default: a temporary one)")
    args = parser.parse_args()
    max_tokens = 8 if args.tiny else args.max_tokens

    t0 = time.perf_counter()
    base = tiny_random_base() if args.tiny else load_base_model()
    generator = AdapterGenerator.untrained(base) if args.tiny else make_generator(None, base)
    if zero_adapters(generator.identity()):
        print("NOTE: no trained generator here: the adapters are all zero, so the adapter answers equal the bare model's.")
    engine = AnswerEngine(base)  # one engine, shared by both query engines
    embed_model = MiniLMEmbedding()
    documents = llama_documents()
    print(f"base model {base.name}; generator {describe(generator.identity())}; {len(documents)} documents ({time.perf_counter() - t0:.1f}s)")

    # -- before: the usual index, node text stuffed into the prompt ---------------------------------
    vector_index = VectorStoreIndex.from_documents(documents, embed_model=embed_model, transformations=[SentenceSplitter(chunk_size=256, chunk_overlap=32)])
    llm = Doc2LoRALLM(engine=engine, max_new_tokens=max_tokens)
    rag_engine = vector_index.as_query_engine(llm=llm, similarity_top_k=args.k)

    # -- after: the index class changes; as_query_engine is called the same way ---------------------
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        index = AdapterIndex.from_documents(documents, store_path=args.store or Path(tmp) / "adapters", generator=generator, embed_model=embed_model)
        print(f"{len(index.store.entries())} adapters in {time.perf_counter() - t1:.1f}s")
        adapter_llm = Doc2LoRALLM(engine=engine, store=index.store, max_new_tokens=max_tokens)
        adapter_engine = index.as_query_engine(llm=adapter_llm, similarity_top_k=args.k, streaming=args.stream)

        for i, item in enumerate(one_question_per_document(args.n), 1):
            t2 = time.perf_counter()
            stuffed = rag_engine.query(item.question)
            t3 = time.perf_counter()
            print(f"\n[{i}] {item.question}   (gold: {item.answers[0]})")
            print(f"    RAG, text in prompt : {str(stuffed)!r}  [{t3 - t2:.2f}s]")
            response = adapter_engine.query(item.question)
            if args.stream:
                print("    adapters, no text   : ", end="", flush=True)
                for piece in response.response_gen:
                    print(piece, end="", flush=True)
                print()
            else:
                print(f"    adapters, no text   : {str(response)!r}  [{time.perf_counter() - t3:.2f}s]")
            print(f"                          adapters {[n.node.node_id for n in response.source_nodes]}")
        index.close()
    print(f"\ntotal {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
