"""Concurrent clients against the chat endpoint: Ray Serve with replicas (default) or one uvicorn process.

A store is served (`doc2lora serve` semantics); CLIENTS threads send chat completions for the set's
questions in turn for DURATION seconds (every third one streamed); prints requests, failures,
throughput and p50/p95 latency, and checks the first answers against one process answering alone.

    python benchmarks/serve_load.py runs/store-prose-dev-records --qa data/eval/prose/qa.jsonl --clients 16 --duration 300
    python benchmarks/serve_load.py STORE --qa QA.jsonl --single      # one uvicorn process instead of Ray Serve
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store")
    p.add_argument("--qa", required=True, help="a QA JSONL file: its questions are sent in turn")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=300)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--mode", default="adapter")
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--check", type=int, default=8, help="answers compared with one process answering alone")
    p.add_argument("--single", action="store_true", help="one uvicorn process (2 torch threads) instead of Ray Serve")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    from doc2lora_rag.ray_serve import OpenStores

    questions = [json.loads(line)["question"] for line in Path(args.qa).read_text().splitlines() if line.strip()]
    name = Path(args.store).name
    bodies = [{"model": name, "messages": [{"role": "user", "content": q}], "max_tokens": args.max_tokens, "mode": args.mode,
               "k": args.k} for q in questions]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    if args.single:
        import uvicorn

        from doc2lora_rag.chat_api import make_app

        service = OpenStores([args.store], threads=2)()
        server = uvicorn.Server(uvicorn.Config(make_app(service), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.1)
    else:
        from doc2lora_rag.ray_serve import serve_chat

        serve_chat(OpenStores([args.store], threads=1), port=port, replicas=args.replicas, num_cpus=1, max_batch_size=args.max_batch)
    startup = time.perf_counter() - t0
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    print(f"serving after {startup:.1f} s; {args.clients} clients for {args.duration:.0f} s", flush=True)

    latencies: list[float] = []
    failures: list[str] = []
    batches: list[int] = []
    answers: dict[int, str] = {}
    lock = threading.Lock()
    end = time.perf_counter() + args.duration
    counter = iter(range(10**9))

    def client(c: int) -> None:
        with httpx.Client(timeout=600) as http:
            while time.perf_counter() < end:
                with lock:
                    n = next(counter)
                i = n % len(bodies)
                s = time.perf_counter()
                try:
                    if n % 3 == 2:
                        text = ""
                        with http.stream("POST", url, json={**bodies[i], "stream": True}) as r:
                            if r.status_code != 200:
                                raise RuntimeError(f"{r.status_code} {r.read()[:200]!r}")
                            for line in r.iter_lines():
                                if line.startswith("data: ") and line != "data: [DONE]":
                                    chunk = json.loads(line[6:])
                                    if "error" in chunk:
                                        raise RuntimeError(chunk["error"]["message"])
                                    text += chunk["choices"][0]["delta"].get("content", "")
                    else:
                        r = http.post(url, json=bodies[i])
                        if r.status_code != 200:
                            raise RuntimeError(f"{r.status_code} {r.text[:200]}")
                        text = r.json()["choices"][0]["message"]["content"]
                        with lock:
                            batches.append(r.json()["doc2lora"]["batch"])
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - s)
                    answers.setdefault(i, text)

    t1 = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(client, range(args.clients)))
    wall = time.perf_counter() - t1
    if not args.single:
        from ray import serve

        serve.shutdown()

    # one process answering alone, for the first answers
    import torch

    torch.set_num_threads(2)
    local = OpenStores([args.store])()
    checked = sorted(answers)[: args.check]
    same = sum(local.complete(bodies[i])["choices"][0]["message"]["content"] == answers[i] for i in checked)
    local.close()
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    result = {"server": "uvicorn, 1 process" if args.single else f"Ray Serve, {args.replicas} replicas, batch {args.max_batch}",
              "clients": args.clients, "seconds": round(wall, 1), "startup_s": round(startup, 1), "requests": len(latencies),
              "failed": len(failures), "per_s": round(len(latencies) / wall, 3), "p50_s": round(statistics.median(latencies), 2),
              "p95_s": round(q[18], 2), "same_as_one_process": f"{same}/{len(checked)}",
              "mean_batch": round(statistics.mean(batches), 2) if batches else None, "mode": args.mode, "k": args.k,
              "max_tokens": args.max_tokens, "failures": failures[:5]}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
