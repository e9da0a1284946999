"""The chat endpoint on Ray Serve (a local cluster, 2 replicas, tiny model): 16 concurrent clients, whole
and streamed requests of every mode, no failed request, answers equal to one process's; an unreachable
cluster is refused in seconds. Slow (a Ray cluster starts, replicas build their models): `make test-ray`."""

from __future__ import annotations

import functools
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent
QUESTIONS = ["Who founded Merros Holdings?", "When was Balrodun Robotics established?", "What is the Pramund Kite Festival famous for?"]


def tiny_service(root: str):
    """The tests' tiny memory generator (from the folders under `root`) and the store "facts" there, as a ChatService."""
    import torch
    from tiny import load_tiny_memory, tiny_base

    from doc2lora_rag.chat_api import ChatService, open_stores

    torch.set_num_threads(1)
    gen = load_tiny_memory(tiny_base(num_layers=3), Path(root))
    return ChatService(open_stores({"facts": Path(root) / "facts"}, generator=gen))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    """Generator folders and a store "facts" (bm25 routing: every replica reopens it from disk)."""
    from tiny import TEXTS, load_tiny_memory, save_tiny_memory, tiny_base

    from doc2lora_rag.store import AdapterStore

    path = tmp_path_factory.mktemp("serve")
    base = tiny_base(num_layers=3)
    save_tiny_memory(base, path)
    gen = load_tiny_memory(base, path)
    store = AdapterStore(path / "facts", gen, router="bm25", chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    store.close()
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_replicas_answer_sixteen_concurrent_clients_as_one_process(root) -> None:
    from ray import serve

    from doc2lora_rag.ray_serve import serve_chat

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}})
    try:
        port = _free_port()
        serve_chat(functools.partial(tiny_service, root), port=port, replicas=2, num_cpus=1, max_batch_size=4)
        bodies = [{"model": "facts", "messages": [{"role": "user", "content": q}], "max_tokens": 6, "mode": m, "k": 2}
                  for q in QUESTIONS for m in ("adapter", "rag", "hybrid", "none")]
        local = tiny_service(root)
        want = [local.complete(b)["choices"][0]["message"]["content"] for b in bodies]
        local.close()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        batches: list[int] = []

        def client(c: int) -> list[tuple[int, str]]:
            out = []
            with httpx.Client(timeout=120) as http:
                for j in range(6):
                    i = (c * 5 + j) % len(bodies)
                    if j % 3 == 2:  # every third request streamed
                        text = ""
                        with http.stream("POST", url, json={**bodies[i], "stream": True}) as r:
                            assert r.status_code == 200
                            for line in r.iter_lines():
                                if line.startswith("data: ") and line != "data: [DONE]":
                                    import json

                                    chunk = json.loads(line[6:])
                                    text += chunk["choices"][0]["delta"].get("content", "")
                        out.append((i, text))
                    else:
                        r = http.post(url, json=bodies[i])
                        assert r.status_code == 200, r.text
                        out.append((i, r.json()["choices"][0]["message"]["content"]))
                        batches.append(r.json()["doc2lora"]["batch"])
            return out

        with ThreadPoolExecutor(16) as pool:
            results = [x for xs in pool.map(client, range(16)) for x in xs]
        assert len(results) == 96
        assert max(batches) > 1  # requests that met in a replica shared a batched generate
        assert all(text == want[i] for i, text in results), [(i, t, want[i]) for i, t in results if t != want[i]][:5]
        r = httpx.post(url, json={**bodies[0], "model": "other"}, timeout=60)
        assert r.status_code == 404 and "facts" in r.json()["error"]["message"]
    finally:
        serve.shutdown()
        ray.shutdown()


def test_an_unreachable_cluster_is_refused_in_seconds(root) -> None:
    from doc2lora_rag import StoreError
    from doc2lora_rag.ray_serve import serve_chat

    with pytest.raises(StoreError, match="could not reach the Ray cluster"):
        serve_chat(functools.partial(tiny_service, root), address=f"ray://127.0.0.1:{_free_port()}")
