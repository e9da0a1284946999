"""The OpenAI-compatible chat endpoint (tiny model): completions equal `StoreQA`'s answers in every mode,
the real `openai` client over HTTP (uvicorn) gets the same answers whole and streamed, batched
completions equal one-at-a-time ones, and bad requests get OpenAI-shaped errors naming the field."""

from __future__ import annotations

import threading
import time

import pytest
from test_store import HashEmbedder
from tiny import TEXTS, load_tiny_memory, save_tiny_memory

from doc2lora_rag import InputError
from doc2lora_rag.chat_api import ChatRequestError, ChatService, make_app, open_stores, parse_request
from doc2lora_rag.errors import StoreError
from doc2lora_rag.generators.memory import MemoryGenerator
from doc2lora_rag.rag import StoreQA
from doc2lora_rag.serving import shared_engine
from doc2lora_rag.store import AdapterStore

QUESTIONS = ["Who founded Merros Holdings?", "When was Balrodun Robotics established?", "What is the Pramund Kite Festival famous for?"]


@pytest.fixture
def generator(make_tiny_base, tmp_path) -> MemoryGenerator:
    base = make_tiny_base(num_layers=3)
    save_tiny_memory(base, tmp_path)
    return load_tiny_memory(base, tmp_path)


@pytest.fixture
def service(generator, tmp_path):
    store = AdapterStore(tmp_path / "facts", generator, router=HashEmbedder(), chunk_tokens=16, group_size=2, overlap_tokens=2)
    store.add_texts(TEXTS, ids=["merros", "balrodun", "pramund"])
    svc = ChatService({"facts": store})
    yield svc
    svc.close()


def body(question: str, **kw) -> dict:
    return {"model": "facts", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
            "max_tokens": 6, **kw}


def test_completions_answer_as_store_qa_in_every_mode(service) -> None:
    store = service.stores["facts"]
    qa = StoreQA(store, shared_engine(store.generator.base))
    for mode in ("adapter", "rag", "hybrid", "selected", "none", None):
        for q in QUESTIONS[:2]:
            got = service.complete(body(q, k=2, **({"mode": mode} if mode else {})))
            want = qa.answer(q, mode=mode, k=2, max_new_tokens=6)
            mode = mode or "selected"  # no mode: the store's default, selected for a memory-generator store
            assert got["object"] == "chat.completion" and got["model"] == "facts"
            (choice,) = got["choices"]
            assert choice["message"] == {"role": "assistant", "content": want.answer}
            assert got["doc2lora"]["adapter_ids"] == want.adapter_ids and got["doc2lora"]["mode"] == mode
            usage = got["usage"]
            assert usage["prompt_tokens"] == want.prompt_tokens and 1 <= usage["completion_tokens"] <= 6
            assert choice["finish_reason"] == ("length" if usage["completion_tokens"] == 6 else "stop")
    # content as OpenAI's list of text parts; the last user message is the question
    parts = {"model": "facts", "max_tokens": 6, "messages": [
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": "Sunny."},
        {"role": "user", "content": [{"type": "text", "text": QUESTIONS[0]}]}]}
    assert service.complete(parts)["choices"][0]["message"]["content"] == service.complete(body(QUESTIONS[0]))["choices"][0]["message"]["content"]


def test_streamed_chunks_add_up_to_the_completion(service) -> None:
    for mode in ("adapter", "hybrid"):
        whole = service.complete(body(QUESTIONS[0], mode=mode))
        chunks = list(service.stream(body(QUESTIONS[0], mode=mode, stream=True)))
        assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[0]["doc2lora"]["adapter_ids"]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == whole["choices"][0]["message"]["content"]
        assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


def test_batched_completions_equal_one_at_a_time(service) -> None:
    bodies = [body(q, mode=m, k=k, max_tokens=n) for q in QUESTIONS for m, k, n in
              (("adapter", 1, 6), ("adapter", 2, 6), ("rag", 2, 6), ("none", 2, 4), ("hybrid", 2, 6), ("selected", 2, 6))]
    bodies.append(body(QUESTIONS[0], stop=["."]))
    bodies.append({"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    got = service.complete_many(bodies)
    assert isinstance(got[-1], ChatRequestError) and got[-1].status == 404
    for b, g in zip(bodies[:-1], got[:-1]):
        want = service.complete(b)
        assert g["choices"] == want["choices"] and g["usage"] == want["usage"], b
        assert {**g["doc2lora"], "batch": 1} == want["doc2lora"]
    assert max(g["doc2lora"]["batch"] for g in got[:-1]) >= 4  # greedy non-hybrid rows of one length share a generate


@pytest.mark.parametrize(("change", "param"), [
    ({"model": ""}, "model"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "hi"}]}, "messages"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages"),
    ({"n": 2}, "n"),
    ({"mode": "vector"}, "mode"),
    ({"k": 0}, "k"),
    ({"k": True}, "k"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"temperature": -1}, "temperature"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stream": "yes"}, "stream"),
])
def test_bad_requests_name_the_field(change, param) -> None:
    with pytest.raises(ChatRequestError) as err:
        parse_request({**body(QUESTIONS[0]), **change})
    assert err.value.status == 400 and err.value.param == param
    assert err.value.body()["error"]["param"] == param


def test_the_openai_client_over_http_gets_the_same_answers(service) -> None:
    openai = pytest.importorskip("openai")
    uvicorn = pytest.importorskip("uvicorn")
    server = uvicorn.Server(uvicorn.Config(make_app(service), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["facts"]
        messages = [{"role": "user", "content": QUESTIONS[1]}]
        want = service.complete(body(QUESTIONS[1], mode="adapter", k=2))["choices"][0]["message"]["content"]
        got = client.chat.completions.create(model="facts", messages=messages, max_tokens=6, extra_body={"k": 2, "mode": "adapter"})
        assert got.choices[0].message.content == want and got.usage.completion_tokens >= 1
        assert got.model_extra["doc2lora"]["adapter_ids"]
        pieces = client.chat.completions.create(model="facts", messages=messages, max_tokens=6, stream=True,
                                                extra_body={"k": 2, "mode": "adapter"})
        assert "".join(c.choices[0].delta.content or "" for c in pieces) == want
        with pytest.raises(openai.NotFoundError, match="facts"):  # the message lists the stores there are
            client.chat.completions.create(model="other", messages=messages)
        with pytest.raises(openai.BadRequestError, match="k must be"):
            client.chat.completions.create(model="facts", messages=messages, extra_body={"k": 0})
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_stores_open_by_path_under_their_folder_names(generator, tmp_path) -> None:
    for name in ("a", "b"):
        s = AdapterStore(tmp_path / name, generator, router="bm25", chunk_tokens=16, group_size=2, overlap_tokens=2)
        s.add_texts(TEXTS[:2], ids=["merros", "balrodun"])
        s.close()
    stores = open_stores([tmp_path / "a", tmp_path / "b"], generator=generator)
    assert list(stores) == ["a", "b"] and all(s.read_only for s in stores.values())
    for s in stores.values():
        s.close()
    with pytest.raises(StoreError, match="no adapter store"):
        open_stores([tmp_path / "a", tmp_path / "missing"], generator=generator)
    with pytest.raises(InputError, match="no stores"):
        open_stores([])


def test_the_serve_command_refuses_what_it_cannot_serve(tmp_path, capsys) -> None:
    from doc2lora_rag.cli import main

    assert main(["serve"]) == 2 and "at least one STORE" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "a"), f"a={tmp_path / 'b'}"]) == 2 and "distinct name" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing")]) == 2 and "no adapter store" in capsys.readouterr().err
