"""`RUN_DIR/samples.jsonl`: short completions of fixed prompts at every checkpoint, written during training.

A training subscriber (`CheckpointSamples`). When a checkpoint is about to be saved (`on_checkpoint`), the
model continues the same few prompts, taken from the start of the validation documents (plus one that
repeats a span of the first, see `with_repeat`), once greedily and
once with nucleus sampling from a fixed seed, and one JSON line per checkpoint is appended:

    {"step": 100, "tokens": 409600, "samples": [{"prompt": ..., "completion": ..., "decoding": "greedy"}, ...],
     "settings": {"max_new_tokens": 24, "prompt_tokens": 8, "top_p": 0.9, "temperature": 1.0, "seed": 0}}

Read the lines over steps like the same items given at every wave of a longitudinal study: what the model
writes after the same beginning, as it learns. The dashboard's Overview shows them; it never loads torch
to do so, which is why they are made here.

Training is unchanged by it, bit for bit: generation runs under `torch.no_grad` in eval mode (dropout off)
on the raw model, draws from its own `torch.Generator`, and every global RNG (python, numpy, torch, cuda)
and the number of CPU threads are captured before and restored after. A resumed run cuts the file back to the checkpoint's step, as it
does metrics.jsonl, so each checkpoint appears once.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seedling.sampling import generate
from seedling.train.checkpoint_io import capture_rng, restore_rng
from seedling.train.metrics import read_metrics

__all__ = ["FILE", "CheckpointSamples", "SampleSettings", "prompts_from_tokens", "read_samples", "with_repeat"]

log = logging.getLogger("seedling.train")

FILE = "samples.jsonl"


@dataclass(frozen=True)
class SampleSettings:
    """What is generated at each checkpoint (written into every line, so a reader knows)."""

    n_prompts: int = 2  # prompts: the first n validation documents
    prompt_tokens: int = 8  # of each, this many tokens
    max_new_tokens: int = 24
    top_p: float = 0.9  # the sampled completion (temperature 1); the other is greedy
    temperature: float = 1.0
    seed: int = 0
    repeat_prompt: bool = True  # one more prompt: the first prompt's tokens, then its first half again


def with_repeat(prompts: list[list[int]]) -> list[list[int]]:
    """`prompts` plus one that repeats a span: the first prompt, then its first half again.

    A model with induction heads continues the repeat with the rest of the span (the completion copies
    tokens 5-8 after the prompt's 1-8 then 1-4); without them it cannot. On the synthetic induction data
    this is the task itself, so the Overview's samples show the induction head's effect in text, checkpoint
    by checkpoint; on natural text it is the same in-context copying probe (Olsson et al. 2022).

    >>> with_repeat([[1, 2, 3, 4], [7, 8]])
    [[1, 2, 3, 4], [7, 8], [1, 2, 3, 4, 1, 2]]
    """
    if not prompts or len(prompts[0]) < 2:
        return prompts
    first = prompts[0]
    return [*prompts, first + first[: len(first) // 2]]


def prompts_from_tokens(tokens: np.ndarray, eot_id: int | None, n: int, length: int) -> list[list[int]]:
    """The first `length` tokens of each of the first `n` non-empty documents of `tokens` (split at `eot_id`).

    When the tokens hold fewer documents, consecutive windows of `length` tokens from the start fill in
    (without repeating a prompt).

    >>> prompts_from_tokens(np.array([9, 1, 2, 3, 9, 4, 5, 9]), 9, 2, 2)
    [[1, 2], [4, 5]]
    """
    ids = np.asarray(tokens[: max(n * length * 64, 4096)], dtype=np.int64)  # the start is enough; memmaps stay unread
    docs: list[list[int]] = []
    if eot_id is not None:
        for doc in np.split(ids, np.flatnonzero(ids == eot_id)):
            doc = doc[doc != eot_id]
            if doc.size:
                docs.append(doc[:length].tolist())
            if len(docs) == n:
                return docs
    for i in range(2 * n):
        window = ids[i * length : (i + 1) * length]
        window = window[window != eot_id].tolist() if eot_id is not None else window.tolist()
        if window and window not in docs:
            docs.append(window)
        if len(docs) == n:
            break
    return docs


class CheckpointSamples:
    """Subscriber: at each checkpoint, completions of fixed validation prompts appended to RUN_DIR/samples.jsonl."""

    def __init__(self, run_dir: Path, data: Any, settings: SampleSettings | None = None) -> None:
        self.path = Path(run_dir) / FILE
        self.settings = settings or SampleSettings()
        self.tokenizer = data.tokenizer
        self.eot_id = getattr(data, "eot_id", None)
        self.prompts = prompts_from_tokens(data.val, self.eot_id, self.settings.n_prompts, self.settings.prompt_tokens)
        if self.settings.repeat_prompt:
            self.prompts = with_repeat(self.prompts)

    def on_train_start(self, state: Any) -> None:
        """Cut the file back to the checkpoint a resumed run starts from (a fresh run starts it empty)."""
        if state.is_main:
            truncate_after(self.path, state.step if state.resumed else -1)

    def on_checkpoint(self, state: Any) -> None:
        if not state.is_main or not self.prompts:
            return
        model = state.model
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            return  # the loop saves no checkpoint of non-finite weights; nothing to describe
        rng, threads = capture_rng(), torch.get_num_threads()
        # One sequence of one token at a time: matrices this small gain nothing from more CPU threads, and
        # on a busy machine the threads wait for each other (measured: 10x slower with 2 threads than with 1).
        torch.set_num_threads(1)
        try:
            samples = self._complete(model)
        finally:
            torch.set_num_threads(threads)
            restore_rng(rng)
        append_line(self.path, {"step": state.step, "tokens": state.tokens, "samples": samples,
                                "settings": asdict(self.settings)})

    def _complete(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        s = self.settings
        vocab = min(self.tokenizer.get_vocab_size(), model.cfg.d_vocab)
        start = [self.eot_id] if self.eot_id is not None else []  # every training document follows an EOT
        out = []
        for prompt in self.prompts:
            for decoding, kwargs in (("greedy", {"temperature": 0.0}),
                                     (f"top_p={s.top_p}", {"temperature": s.temperature, "top_p": s.top_p})):
                new = generate(model, start + prompt, s.max_new_tokens, seed=s.seed, stop_at_eot=self.eot_id,
                               vocab_size=vocab, **kwargs)
                out.append({"prompt": self.tokenizer.decode(prompt), "completion": _continuation(self.tokenizer,
                            prompt, new), "decoding": decoding, "n_tokens": len(new)})
        return out


def _continuation(tokenizer: Any, prompt: list[int], new: list[int]) -> str:
    # Decoded together, then the prompt cut off: decoding `new` alone would drop the separator between
    # the two with word-level tokenizers.
    before, full = tokenizer.decode(prompt), tokenizer.decode(prompt + new)
    return full[len(before) :] if full.startswith(before) else tokenizer.decode(new)


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single write, flushed and fsync'ed: a reader sees whole lines or, after a
    crash mid-write, one torn last line that `read_samples` skips."""
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate_after(path: Path, step: int) -> int:
    """Keep only the lines with `step` <= step (and no torn line); atomic (temporary file, rename). Lines kept."""
    path = Path(path)
    if not path.exists():
        return 0
    kept = [r for r in read_samples(path) if r.get("step", 0) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(kept)


def read_samples(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a samples.jsonl (a torn last line from a killed run is skipped)."""
    return read_metrics(path)
