"""Teacher cache: the frozen base model with the document in the prompt answers each question once.

For every (document, question) the teacher answers greedily; its answer tokens and the top-k
log-probs at every answer position are stored compactly (int32 ids, fp16 log-probs) in safetensors
shards plus a JSON index. Building is resumable: questions already in the index are skipped, and a
shard is written atomically before the index that points at it. Answers that do not end with the
end-of-turn token within the token cap are dropped, and the index keeps them as asked (null), so that a
resumed build does not ask them again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..base_model import BaseModel
from ..files import atomic_write
from ..prompts import left_pad, prompt_ids


def _key(doc_id: str, question: str) -> str:
    return hashlib.sha1(f"{doc_id}\0{question}".encode()).hexdigest()


class TeacherCache:
    """Read access: get(doc_id, question) -> (answer ids list, topk ids (n, k), topk log-probs (n, k)) or None."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index = self.path / "index.json"
        self.index: dict[str, list] = json.loads(index.read_text()) if index.is_file() else {}
        self._shards: dict[str, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return sum(entry is not None for entry in self.index.values())

    def __contains__(self, item: tuple[str, str]) -> bool:
        """Whether the teacher answered (doc_id, question)."""
        return self.index.get(_key(*item)) is not None

    def asked(self, doc_id: str, question: str) -> bool:
        """Whether the question was put to the teacher, answered or dropped."""
        return _key(doc_id, question) in self.index

    def get(self, doc_id: str, question: str):
        entry = self.index.get(_key(doc_id, question))
        if entry is None:
            return None
        shard, row = entry
        if shard not in self._shards:
            from safetensors.torch import load_file

            self._shards[shard] = load_file(str(self.path / shard))
        s = self._shards[shard]
        lo, hi = int(s["offsets"][row]), int(s["offsets"][row + 1])
        return s["ids"][lo:hi].tolist(), s["topk_ids"][lo:hi].long(), s["topk_logp"][lo:hi].float()


@torch.no_grad()
def build_teacher_cache(docs: Sequence, base: BaseModel, out_dir: str | Path, *, batch_size: int = 8,
                        max_new_tokens: int = 32, top_k: int = 16, shard_size: int = 256, progress: bool = True) -> TeacherCache:
    """Answer every (doc, question) of `docs` (SynthDoc-like: doc_id, text, qas[].question) with the document in context."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = TeacherCache(out)
    todo = [(d, qa.question) for d in docs for qa in d.qas if not cache.asked(d.doc_id, qa.question)]
    tok = base.tokenizer
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    if not isinstance(end_id, int) or end_id == tok.unk_token_id:
        end_id = tok.eos_token_id
    pending: list[tuple[str, list[int], torch.Tensor, torch.Tensor]] = []
    dropped: list[str] = []
    n_shards = len({entry[0] for entry in cache.index.values() if entry is not None})

    def flush() -> None:
        nonlocal n_shards, pending, dropped
        if not pending and not dropped:
            return
        if pending:
            name = f"shard-{n_shards:05d}.safetensors"
            offsets = [0]
            for _, ids, _, _ in pending:
                offsets.append(offsets[-1] + len(ids))
            tensors = {
                "ids": torch.tensor([i for _, ids, _, _ in pending for i in ids], dtype=torch.int32),
                "topk_ids": torch.cat([p[2] for p in pending]).to(torch.int32),
                "topk_logp": torch.cat([p[3] for p in pending]).to(torch.float16),
                "offsets": torch.tensor(offsets, dtype=torch.int64),
            }
            atomic_write(out / name, lambda tmp: save_file(tensors, tmp))
            for row, (key, *_rest) in enumerate(pending):
                cache.index[key] = [name, row]
            n_shards += 1
        cache.index.update(dict.fromkeys(dropped))  # asked, no answer within the cap
        atomic_write(out / "index.json", lambda tmp: Path(tmp).write_text(json.dumps(cache.index)))
        pending, dropped = [], []

    bar = tqdm(total=len(todo), disable=not progress, desc="teacher")
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        rows = [prompt_ids(tok, q, d.text) for d, q in chunk]
        ids, mask = left_pad(rows, tok.pad_token_id)
        T = ids.shape[1]
        gen = base.model.generate(
            input_ids=ids.to(base.device), attention_mask=mask.to(base.device), max_new_tokens=max_new_tokens,
            do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id,
            eos_token_id=end_id, output_logits=True, return_dict_in_generate=True,
        )
        logits = torch.stack(gen.logits, dim=1).float()  # (B, steps, V)
        new = gen.sequences[:, T:]
        for i, (d, q) in enumerate(chunk):
            seq = new[i].tolist()
            if end_id not in seq:
                dropped.append(_key(d.doc_id, q))  # no stop token within the cap: dropped
                continue
            n = seq.index(end_id) + 1
            logp = F.log_softmax(logits[i, :n], dim=-1)
            top = logp.topk(top_k, dim=-1)
            pending.append((_key(d.doc_id, q), seq[:n], top.indices.cpu(), top.values.cpu()))
        bar.update(len(chunk))
        if len(pending) >= shard_size:
            flush()
    flush()
    bar.close()
    return cache
