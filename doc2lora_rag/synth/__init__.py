"""Seeded, offline generator of synthetic documents with question/answer pairs.

The hypernetwork is meta-trained and evaluated on these documents. Each document
describes one to four invented entities (people, companies, towns, products,
events, ships, research labs, festivals, pets, bands) with several facts each,
in varied prose, fact-sheet and mixed styles, padded with neutral filler and
distractor sentences. Every fact yields one question whose gold answers (short,
1-4 words) all appear verbatim in the document text, and every question names
its entity so that it stays unambiguous when a document covers several.

Two splits exist. Every pool the generator draws from (name syllables, name
suffixes, sentence, question, label, intro, filler and layout templates) is
partitioned deterministically: the item at index ``i`` of a pool belongs to the
held-out split when ``i % 3 == 2`` and to the training split otherwise. Invented
name words are additionally kept only when the parity of their CRC-32 matches
the split, so no entity name of one split can ever occur in the other.
Categorical answer vocabularies (colours, jobs, materials, months...) are shared.

Lengths are counted with :func:`approx_tokens` (about four characters a token).

Public API: :class:`QA`, :class:`SynthDoc`, :func:`make_corpus`,
:func:`write_eval_set`, :func:`load_jsonl_corpus`, :func:`approx_tokens`,
:func:`template_pools`, and the command line
``python -m doc2lora_rag.synth --split heldout --n 60 --seed 1 --out DIR``.


  documents.py  `QA`, `SynthDoc`, `approx_tokens`, `SPLITS`
  templates.py  the templates and vocabularies, as data
  names.py      the pools of a split; invented names (`Namer`)
  render.py     values, entities, prose and sheets: one document and its questions
  corpus.py     `make_corpus`
  files.py      `write_eval_set`, `load_jsonl_corpus`, `write_fit_corpus`
  __main__.py   the command line

Above the core: training, benchmarks and tests use it; the library's core never imports it.
"""

from __future__ import annotations

from .corpus import make_corpus
from .documents import QA, SPLITS, SynthDoc, approx_tokens
from .files import load_jsonl_corpus, write_eval_set, write_fit_corpus
from .names import template_pools

__all__ = ["QA", "SPLITS", "SynthDoc", "approx_tokens", "load_jsonl_corpus", "make_corpus", "template_pools", "write_eval_set",
           "write_fit_corpus"]
