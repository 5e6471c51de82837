"""Byte-level BPE tokenizer: train, save atomically, reload.

The tokenizer is GPT-2's kind (Radford et al. 2019): text is read as UTF-8 bytes, each byte is
mapped to a printable stand-in character (the ByteLevel pre-tokenizer), and byte-pair merges are
learned on top (Sennrich et al. 2016). Because all 256 bytes are in the initial alphabet, every
string can be encoded, and decoding gives back exactly the original text:

>>> tok = train_tokenizer(["the cat sat on the mat"] * 10, vocab_size=300)
>>> s = "naïve café ☕ 漢字 \\t tabs"
>>> tok.decode(tok.encode(s).ids, skip_special_tokens=False) == s
True

`EOT` ("<|endoftext|>") is a special token: the data pipeline puts it between documents so the
model can tell where one ends. A literal "<|endoftext|>" inside a text is encoded as that token.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

__all__ = ["EOT", "TokenizerError", "load_tokenizer", "save_tokenizer", "train_tokenizer"]

EOT = "<|endoftext|>"
_MIN_VOCAB = 256 + 1  # every byte, plus EOT

log = logging.getLogger(__name__)


class TokenizerError(ValueError):
    """A tokenizer that cannot be built or read; the message says why and what would work."""


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Learn a byte-level BPE vocabulary of at most `vocab_size` tokens (bytes + EOT + merges).

    `texts` is any iterable of strings (documents); it is read once. The result may be smaller
    than `vocab_size` when the texts run out of pairs worth merging.
    """
    if vocab_size < _MIN_VOCAB:
        raise TokenizerError(
            f"vocab_size={vocab_size} is too small for a byte-level tokenizer; need at least "
            f"{_MIN_VOCAB} (256 bytes + {EOT})"
        )
    tok = Tokenizer(models.BPE())
    # add_prefix_space=False keeps decode(encode(s)) == s exactly (no invented leading space).
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    log.info("trained byte-level BPE tokenizer: %d tokens (asked for at most %d)", tok.get_vocab_size(), vocab_size)
    return tok


def save_tokenizer(tok: Tokenizer, path: str | Path) -> Path:
    """Write `tok` as JSON to `path` atomically (temp file in the same folder, then rename).

    A process killed while saving leaves either the old file or none, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tok.to_str())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer saved by `save_tokenizer` (or any `tokenizers` JSON file)."""
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"tokenizer file {path} does not exist; train one with seedling.data.prepare or train_tokenizer")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a plain Exception for malformed JSON
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TokenizerError(
            f"tokenizer file {path} is not a valid tokenizers JSON file ({first}); delete it to retrain"
        ) from None
