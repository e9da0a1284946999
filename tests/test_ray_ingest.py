"""Ingest on a local Ray cluster (`ray_ingest.RayGenerate`): the same files as one process, a killed worker
retried, an unreachable cluster refused with the store unchanged. Slow (a Ray cluster starts): `make test-all`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_store import DOCS, HashEmbedder, snapshot

from doc2lora_rag import StoreError
from doc2lora_rag.store import ADAPTER_DIR, AdapterStore

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent
CHUNKING = dict(chunk_tokens=8, group_size=2, overlap_tokens=1)


def tiny_generator(crash_marker: str | None = None):
    """The tests' small hypernetwork on the tiny model, built the same way in every process. With `crash_marker`,
    the first process to generate dies (as a killed worker would) and leaves the marker behind."""
    import torch
    from test_store import small_generator
    from tiny import tiny_base

    torch.set_num_threads(1)
    gen = small_generator(tiny_base())
    if crash_marker is not None:
        real = gen.generate

        def generate(texts):
            if not os.path.exists(crash_marker):
                Path(crash_marker).touch()
                os._exit(1)
            return real(texts)

        gen.generate = generate
    return gen


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}})
    yield
    ray.shutdown()


def files(path: Path) -> dict[str, dict]:
    from safetensors.torch import load_file

    return {f.name: load_file(f) for f in sorted((path / ADAPTER_DIR).iterdir())}


def assert_same_files(a: Path, b: Path) -> None:
    """The same files (content hashes) holding the same tensors, up to the rounding of batched forward passes."""
    import torch

    fa, fb = files(a), files(b)
    assert list(fa) == list(fb) and fa
    for name in fa:
        assert fa[name].keys() == fb[name].keys()
        for key in fa[name]:
            assert torch.allclose(fa[name][key].float(), fb[name][key].float(), rtol=1e-3, atol=1e-5), (name, key)


def test_ray_ingest_writes_the_same_files_as_one_process(tmp_path, cluster) -> None:
    import functools

    import torch

    from doc2lora_rag.ray_ingest import RayGenerate

    torch.set_num_threads(1)
    gen = tiny_generator()
    with AdapterStore(tmp_path / "one", gen, router=HashEmbedder(), **CHUNKING) as one:
        one.add_texts(list(DOCS.values()), ids=list(DOCS))
    with AdapterStore(tmp_path / "ray", gen, router=HashEmbedder(), **CHUNKING) as two:
        two.add_texts(list(DOCS.values()), ids=list(DOCS), generate=RayGenerate(workers=2, batch_size=1,
                                                                                  generator_factory=functools.partial(tiny_generator)))
        assert two.last_ingest.generated == len(files(tmp_path / "one"))
        assert two.search("rye bread oven", k=1)[0][0].metadata["doc_id"] == "bakery"
    assert_same_files(tmp_path / "one", tmp_path / "ray")


def test_a_killed_worker_is_restarted_and_its_batch_retried(tmp_path, cluster) -> None:
    import functools

    from doc2lora_rag.ray_ingest import RayGenerate

    marker = tmp_path / "crashed"
    gen = tiny_generator()
    with AdapterStore(tmp_path / "one", gen, router=HashEmbedder(), **CHUNKING) as one:
        one.add_texts(list(DOCS.values()), ids=list(DOCS))
    with AdapterStore(tmp_path / "ray", gen, router=HashEmbedder(), **CHUNKING) as two:
        two.add_texts(list(DOCS.values()), ids=list(DOCS), generate=RayGenerate(
            workers=1, batch_size=2, generator_factory=functools.partial(tiny_generator, str(marker))))
    assert marker.exists(), "no worker died: the test proved nothing"
    assert_same_files(tmp_path / "one", tmp_path / "ray")


DRIVER_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import conftest  # offline
from test_ray_ingest import tiny_generator
from test_store import HashEmbedder
from test_store_reliability import CHUNKING, crash_doc
from doc2lora_rag.documents import Document
from doc2lora_rag.ray_ingest import RayGenerate
from doc2lora_rag.store import AdapterStore

import ray
ray.init(address=sys.argv[3], log_to_driver=False, runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}}}}})  # the job's workers import the tests
store = AdapterStore(sys.argv[1], tiny_generator(), router=HashEmbedder(), **CHUNKING)
n = int(sys.argv[2])
print("ingesting", flush=True)
store.add_documents([Document(crash_doc(i), {{"n": i}}) for i in range(n)], ids=[f"d{{i}}" for i in range(n)], batch_size=1,
                    generate=RayGenerate(address=sys.argv[3], workers=1, batch_size=1, generator_factory=tiny_generator))
print("done", flush=True)
"""


def test_a_killed_driver_leaves_the_store_consistent(tmp_path, cluster) -> None:
    """The ingest's driver (the process that plans and commits) killed mid-way, on a running cluster: the store
    reopens with whole documents only, no stray files, every file what a one-process ingest writes."""
    import sys

    from test_store_reliability import CHUNKING, crash_doc, kill_after_commits

    path, n = tmp_path / "store", 200
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_SCRIPT.format(tests=str(TESTS)))
    address = ray.get_runtime_context().gcs_address
    m = kill_after_commits([sys.executable, str(script), str(path), str(n), address], path, n, 240,
                           env={"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])})
    gen = tiny_generator()
    with AdapterStore(path, gen, router=HashEmbedder()) as store:
        assert store.verify(deep=True) == {"missing_files": [], "orphan_files": [], "temp_files": [], "unreadable_files": []}
        assert set(store.doc_ids()) == {f"d{i}" for i in range(m)}
    with AdapterStore(tmp_path / "one", gen, router=HashEmbedder(), **CHUNKING) as one:
        one.add_texts([crash_doc(i) for i in range(m)], ids=[f"d{i}" for i in range(m)])
    assert_same_files(tmp_path / "one", path)


def test_an_unreachable_cluster_is_refused_and_the_store_unchanged(tmp_path) -> None:
    from doc2lora_rag.ray_ingest import RayGenerate

    if ray.is_initialized():
        ray.shutdown()
    gen = tiny_generator()
    with AdapterStore(tmp_path / "s", gen, router=HashEmbedder(), **CHUNKING) as store:
        store.add_texts([DOCS["bakery"]], ids=["bakery"])
        before = snapshot(store.path)
        with pytest.raises(StoreError, match="could not reach the Ray cluster"):
            store.add_texts([DOCS["ship"]], ids=["ship"], generate=RayGenerate(address="127.0.0.1:9"))
        assert snapshot(store.path) == before
