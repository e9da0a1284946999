"""`python -m doc2lora_rag` runs the `doc2lora` command line."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
