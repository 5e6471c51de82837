"""`prepare(cfg, run_dir)`: from `cfg.data.source` to train/validation token arrays and a tokenizer.

Steps, each logged:
1. Resolve the source (builtin, local path, hf:NAME, synthetic:KIND; see `seedling.data.sources`
   and `seedling.data.synthetic`).
2. Tokenizer: reuse `run_dir/tokenizer.json` when it exists (a resumed run reloads exactly the
   tokenizer it trained with); else train a byte-level BPE on the training split only, with at most
   `cfg.model.d_vocab` tokens, and save it there.
3. Tokens: split by document (`split_documents`), tokenize once, EOT after every document, into
   memory-mapped files cached under `cache_dir`, keyed by a hash of the corpus identity, the byte
   budget, the split and the tokenizer (`seedling.data.shards`).
4. Check that both splits hold at least two windows of n_ctx + 1 tokens.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from seedling.config import RunConfig
from seedling.data.errors import DataError
from seedling.data.sampler import count_windows
from seedling.data.shards import cache_key, default_cache_dir, read_entry, split_documents, write_entry
from seedling.data.sources import resolve_text_source
from seedling.data.synthetic import generate_synthetic
from seedling.tokenizer import EOT, TokenizerError, load_tokenizer, save_tokenizer, train_tokenizer

__all__ = ["PreparedData", "prepare"]

TOKENIZER_FILE = "tokenizer.json"

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """What training needs from the data: token arrays, their tokenizer and counts."""

    tokenizer: Tokenizer
    train: np.ndarray  # 1-D token ids (a read-only memmap for text sources)
    val: np.ndarray
    eot_id: int
    n_train_tokens: int
    n_val_tokens: int
    n_documents: tuple[int, int]  # (train, validation)
    source: str  # a readable description of the corpus
    truth: dict[str, Any] = field(default_factory=dict)  # planted structure (synthetic sources only)
    cache_path: Path | None = None  # the token-file folder (text sources only)
    # bytes_of_text, tokenize_seconds (when the cache entry was built), tokenizer_seconds (None if reused)
    stats: dict[str, Any] = field(default_factory=dict)

    def n_sequences(self, n_ctx: int) -> int:
        """Number of training windows of n_ctx + 1 tokens (counted, never typed in)."""
        return count_windows(self.n_train_tokens, n_ctx)


def prepare(cfg: RunConfig, run_dir: Path, cache_dir: Path | None = None) -> PreparedData:
    """Train/validation token arrays for `cfg`, with the tokenizer saved in `run_dir` (see module doc)."""
    run_dir, cache_dir = Path(run_dir), Path(cache_dir) if cache_dir is not None else default_cache_dir()
    spec = cfg.data.source
    data = _prepare_synthetic(cfg, run_dir) if spec.startswith("synthetic:") else _prepare_text(cfg, run_dir, cache_dir)
    _check_size(data, cfg.model.n_ctx)
    size = f" ({data.stats['bytes_of_text']:,} bytes of text)" if data.stats else ""
    log.info("data: %s%s; train %s tokens in %s documents, validation %s tokens in %s documents; %s training windows",
             data.source, size, f"{data.n_train_tokens:,}", f"{data.n_documents[0]:,}", f"{data.n_val_tokens:,}",
             f"{data.n_documents[1]:,}", f"{data.n_sequences(cfg.model.n_ctx):,}")
    return data


def _prepare_text(cfg: RunConfig, run_dir: Path, cache_dir: Path) -> PreparedData:
    src = resolve_text_source(cfg.data, cache_dir)
    d = cfg.data
    tok_path = run_dir / TOKENIZER_FILE
    tokenizer_seconds = None
    if tok_path.exists():
        tokenizer = _load(tok_path)
        log.info("reusing tokenizer %s (%d tokens)", tok_path, tokenizer.get_vocab_size())
    else:
        log.info("training a byte-level BPE tokenizer (at most %d tokens) on the training split of %s",
                 cfg.model.d_vocab, src.description)
        t0 = time.perf_counter()
        train_docs = (doc for is_val, doc in split_documents(src.documents(), d.val_fraction, d.split_seed) if not is_val)
        try:
            tokenizer = train_tokenizer(train_docs, cfg.model.d_vocab)
        except TokenizerError as e:
            raise DataError(str(e)) from None
        tokenizer_seconds = time.perf_counter() - t0
        log.info("tokenizer trained in %.1f s", tokenizer_seconds)
        save_tokenizer(tokenizer, tok_path)
    _check_vocab(tokenizer, cfg.model.d_vocab, tok_path)
    eot_id = tokenizer.token_to_id(EOT)
    if eot_id is None:
        raise DataError(f"tokenizer {tok_path} has no {EOT} token; delete it to retrain, or add {EOT} as a special token")

    folder = cache_dir / "tokens" / cache_key(src.identity, d.val_fraction, d.split_seed, tokenizer.to_str())
    entry = read_entry(folder)
    if entry is None:
        log.info("tokenizing %s into %s", src.description, folder)
        write_entry(folder, split_documents(src.documents(), d.val_fraction, d.split_seed), tokenizer, eot_id,
                    {"source": src.description, "identity": src.identity}, src.size_hint)
        entry = read_entry(folder)
        assert entry is not None, f"cache entry {folder} was just written but cannot be read"
    else:
        log.info("reusing cached tokens %s", folder)
    meta, train, val = entry
    n_docs = tuple(meta["n_documents"])
    if n_docs[0] < 1 or n_docs[1] < 1:
        raise DataError(f"{src.description} holds {sum(n_docs)} document(s); a split by document needs at least 2 "
                        "(add files, or separate documents in one .txt file by a blank line then a line of ===)")
    stats = {"bytes_of_text": meta["bytes_of_text"], "tokenize_seconds": meta["seconds"], "tokenizer_seconds": tokenizer_seconds}
    return PreparedData(tokenizer, train, val, eot_id, len(train), len(val), n_docs, src.description,
                        cache_path=folder, stats=stats)


def _prepare_synthetic(cfg: RunConfig, run_dir: Path) -> PreparedData:
    d = cfg.data
    corpus = generate_synthetic(d.source, cfg.model.n_ctx, cfg.model.d_vocab, d.val_fraction, d.split_seed)
    tok_path = run_dir / TOKENIZER_FILE
    if tok_path.exists():
        saved = _load(tok_path)
        if saved.get_vocab() != corpus.tokenizer.get_vocab():
            raise DataError(f"tokenizer {tok_path} ({saved.get_vocab_size()} tokens) does not match {d.source} "
                            f"({corpus.tokenizer.get_vocab_size()} tokens); use a new run folder or the original source")
    else:
        save_tokenizer(corpus.tokenizer, tok_path)
    _check_vocab(corpus.tokenizer, cfg.model.d_vocab, tok_path)
    params = ", ".join(f"{k}={v}" for k, v in corpus.params.items())
    return PreparedData(corpus.tokenizer, corpus.train, corpus.val, corpus.eot_id, len(corpus.train), len(corpus.val),
                        corpus.n_documents, f"synthetic:{corpus.kind} ({params})", truth=corpus.truth)


def _load(path: Path) -> Tokenizer:
    try:
        return load_tokenizer(path)
    except TokenizerError as e:
        raise DataError(str(e)) from None


def _check_vocab(tokenizer: Tokenizer, d_vocab: int, path: Path) -> None:
    n = tokenizer.get_vocab_size()
    if n > d_vocab:
        raise DataError(f"tokenizer {path} has {n:,} tokens but model.d_vocab={d_vocab:,}; set model.d_vocab >= {n:,} "
                        "or delete the tokenizer to retrain it")


def _check_size(data: PreparedData, n_ctx: int) -> None:
    for name, n_tok in (("training", data.n_train_tokens), ("validation", data.n_val_tokens)):
        if count_windows(n_tok, n_ctx) < 2:
            raise DataError(
                f"the {name} split of {data.source} has {n_tok:,} tokens, fewer than the {2 * (n_ctx + 1):,} needed for "
                f"two windows of n_ctx + 1 = {n_ctx + 1} tokens; use more text or a smaller model.n_ctx"
            )
