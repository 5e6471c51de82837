"""Data preparation speed: tokenizer training time and tokens/s of `seedling.data.prepare`.

Each repetition prepares the built-in corpus (capped at `MAX_BYTES`) from scratch into fresh
folders: train a byte-level BPE on the training split, then split, tokenize and write the token
files. The reference, interleaved with it, is the floor of the same work: `Tokenizer.encode_batch`
on the same documents in memory (the Rust tokenizer's own parallel speed, no splitting or files).
Ratio = prepare tokens/s / encode_batch tokens/s (1.0 would mean our pipeline adds nothing).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import Options, Row, median

NAME = "data"
SUMMARY = "data preparation tokens/s (vs raw encode_batch) and tokenizer training time, built-in corpus"

MAX_BYTES = 1_000_000


def run(opts: Options) -> list[Row]:
    from seedling.config import preset
    from seedling.data.prepare import prepare
    from seedling.data.sources import resolve_text_source

    max_bytes = 200_000 if opts.quick else MAX_BYTES
    cfg = preset("tiny", [f"data.max_bytes={max_bytes}"])
    tok_s, prep_tps, raw_tps, wall = [], [], [], []
    for _ in range(opts.reps(3)):
        tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
        try:
            t0 = time.perf_counter()
            data = prepare(cfg, tmp / "run", tmp / "cache")
            wall.append(time.perf_counter() - t0)
            n_tokens = data.n_train_tokens + data.n_val_tokens
            tok_s.append(data.stats["tokenizer_seconds"])
            prep_tps.append(n_tokens / data.stats["tokenize_seconds"])
            docs = list(resolve_text_source(cfg.data, tmp / "cache").documents())
            t0 = time.perf_counter()
            enc = data.tokenizer.encode_batch(docs)
            raw_tps.append(sum(len(e.ids) for e in enc) / (time.perf_counter() - t0))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    label = f"builtin corpus, {data.stats['bytes_of_text'] / 1e6:.2f} MB, vocab {cfg.model.d_vocab}"
    return [
        Row(label, "tokenize + write tokens/s", median(prep_tps), "tokens/s", ref=median(raw_tps),
            ratio=median([p / q for p, q in zip(prep_tps, raw_tps)]),
            note=f"{n_tokens:,} tokens; ref: Tokenizer.encode_batch in memory",
            samples={"ours": prep_tps, "ref": raw_tps}),
        Row(label, "tokenizer training time", median(tok_s), "s", note="byte-level BPE on the training split",
            samples={"ours": tok_s}),
        Row(label, "prepare() wall time", median(wall), "s", note="tokenizer + split + tokenize + write",
            samples={"ours": wall}),
    ]
