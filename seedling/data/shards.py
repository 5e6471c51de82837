"""Token files on disk: split documents, tokenize once, write atomically, read back memory-mapped.

Layout of one cache entry, `CACHE/tokens/<key>/`:
    train.bin, val.bin   raw token ids (uint16 when the vocabulary has < 65,536 tokens, else uint32),
                         documents in order, each followed by EOT
    meta.json            dtype, token and document counts, source description; written last

The entry is built in a temporary folder next to it and renamed into place in one step, so a
preparation killed half way leaves no entry that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

__all__ = ["FORMAT_VERSION", "cache_key", "default_cache_dir", "read_entry", "split_documents", "write_entry"]

FORMAT_VERSION = 1
_BLOCK = 1024  # documents per split block and per encode_batch call

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """`$SEEDLING_CACHE`, else `~/.cache/seedling`."""
    env = os.environ.get("SEEDLING_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seedling"


def cache_key(identity: str, val_fraction: float, split_seed: int, tokenizer_json: str) -> str:
    """Hash of everything the token files depend on (corpus + budget are in `identity`)."""
    payload = json.dumps([FORMAT_VERSION, identity, val_fraction, split_seed, tokenizer_json])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def split_documents(docs: Iterator[str], val_fraction: float, seed: int) -> Iterator[tuple[bool, str]]:
    """Yield (is_validation, document) for each document, deciding by whole documents.

    Documents are taken in blocks of 1,024 in corpus order; in block b, round(f * n) documents,
    chosen by a generator seeded with (seed, b), go to validation (at least one in the first block
    when it has two or more documents). Deterministic, streaming, and no document is ever cut.
    """
    block: list[str] = []
    b = 0
    for doc in docs:
        block.append(doc)
        if len(block) == _BLOCK:
            yield from _assign(block, b, val_fraction, seed)
            block, b = [], b + 1
    if block:
        yield from _assign(block, b, val_fraction, seed)


def _assign(block: list[str], b: int, val_fraction: float, seed: int) -> Iterator[tuple[bool, str]]:
    n = len(block)
    k = round(val_fraction * n)
    if b == 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    val = set(np.random.default_rng([seed, b]).choice(n, size=k, replace=False).tolist())
    for i, doc in enumerate(block):
        yield i in val, doc


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size < 65536 else np.uint32)


def write_entry(folder: Path, split_docs: Iterator[tuple[bool, str]], tokenizer: Tokenizer, eot_id: int,
                meta: dict[str, Any], size_hint: int | None = None) -> dict[str, Any]:
    """Tokenize the documents (EOT after each) into `folder` atomically; return the metadata."""
    dtype = token_dtype(tokenizer.get_vocab_size())
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    counts = {"train": [0, 0], "val": [0, 0]}  # tokens, documents
    t0, n_bytes = time.perf_counter(), 0
    try:
        with (tmp / "train.bin").open("wb") as ftrain, (tmp / "val.bin").open("wb") as fval, \
                tqdm(total=size_hint, unit="B", unit_scale=True, desc="tokenizing", leave=False) as bar:
            block: list[tuple[bool, str]] = []
            for item in split_docs:
                block.append(item)
                if len(block) == _BLOCK:
                    n_bytes += _encode_block(block, tokenizer, eot_id, dtype, ftrain, fval, counts, bar)
                    block = []
            if block:
                n_bytes += _encode_block(block, tokenizer, eot_id, dtype, ftrain, fval, counts, bar)
        seconds = time.perf_counter() - t0
        meta = meta | {
            "format": FORMAT_VERSION, "dtype": dtype.name, "bytes_of_text": n_bytes, "seconds": round(seconds, 3),
            "n_train_tokens": counts["train"][0], "n_val_tokens": counts["val"][0],
            "n_documents": [counts["train"][1], counts["val"][1]],
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        if folder.exists() and read_entry(folder) is None:
            shutil.rmtree(folder)  # a damaged entry (e.g. a truncated file) is replaced, never trusted
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same entry first; its files are identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_tok = counts["train"][0] + counts["val"][0]
    log.info("tokenized %s bytes into %s tokens in %.1f s (%s tokens/s)", f"{n_bytes:,}", f"{n_tok:,}", seconds,
             f"{n_tok / max(seconds, 1e-9):,.0f}")
    return meta


def _encode_block(block, tokenizer, eot_id, dtype, ftrain, fval, counts, bar) -> int:
    encodings = tokenizer.encode_batch([doc for _, doc in block])  # parallel across cores (Rust)
    n_bytes = 0
    for (is_val, doc), enc in zip(block, encodings):
        ids = np.asarray(enc.ids + [eot_id], dtype=dtype)
        ids.tofile(fval if is_val else ftrain)
        c = counts["val" if is_val else "train"]
        c[0] += len(ids)
        c[1] += 1
        n_bytes += len(doc.encode("utf-8"))
    bar.update(n_bytes)
    return n_bytes


def read_entry(folder: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray] | None:
    """(meta, train, val) memory-mapped read-only, or None when the entry is absent or unusable."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    arrays = []
    for split in ("train", "val"):
        path, n = folder / f"{split}.bin", meta[f"n_{split}_tokens"]
        dtype = np.dtype(meta["dtype"])
        if not path.is_file() or path.stat().st_size != n * dtype.itemsize:
            log.warning("cache entry %s is damaged (%s has the wrong size); rebuilding it", folder, path.name)
            return None
        arrays.append(np.memmap(path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype))
    return meta, arrays[0], arrays[1]
