"""Command line: prepare a corpus and report its size, tokenizer training time and tokenization speed.

    python -m seedling.data --data builtin --vocab 2048
    python -m seedling.data --data path/to/folder --vocab 16384 --run-dir runs/demo

It runs the same `prepare` as training does (so the token files it caches are reused by a later
run with the same source, split and tokenizer) and prints one line per number.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from seedling.cliutil import OneLineParser
from seedling.config import ConfigError, preset
from seedling.data.errors import DataError
from seedling.data.prepare import prepare


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m seedling.data", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="builtin", help="source: builtin, a .txt/.md/.jsonl file or folder, hf:NAME[:CONFIG], synthetic:KIND")
    parser.add_argument("--vocab", type=int, default=2048, help="largest vocabulary the tokenizer may have (model.d_vocab)")
    parser.add_argument("--n-ctx", type=int, default=128, help="context length, for the count of training windows")
    parser.add_argument("--max-bytes", type=int, default=None, help="byte budget: read at most this many bytes of text")
    parser.add_argument("--run-dir", type=Path, default=None, help="folder for tokenizer.json (default: a fresh temporary folder, so the tokenizer is trained)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="token-file cache (default: $SEEDLING_CACHE or ~/.cache/seedling)")
    parser.add_argument("--fresh-cache", action="store_true", help="use a fresh temporary cache, so tokenization is measured, not reused")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"data.source={args.data}", f"model.d_vocab={args.vocab}", f"model.n_ctx={args.n_ctx}"]
        if args.max_bytes is not None:
            overrides.append(f"data.max_bytes={args.max_bytes}")
        try:
            cfg = preset("tiny", overrides)
            cache = Path(tmp) / "cache" if args.fresh_cache else args.cache_dir
            data = prepare(cfg, args.run_dir or Path(tmp) / "run", cache)
        except (DataError, ConfigError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        n_tok = data.n_train_tokens + data.n_val_tokens
        st = data.stats
        print(f"source: {data.source}")
        print(f"documents: {sum(data.n_documents):,} (train {data.n_documents[0]:,}, validation {data.n_documents[1]:,})")
        if st:
            print(f"bytes of text: {st['bytes_of_text']:,}")
        print(f"tokens: {n_tok:,} (train {data.n_train_tokens:,}, validation {data.n_val_tokens:,}); "
              f"vocabulary {data.tokenizer.get_vocab_size():,}; {data.n_sequences(args.n_ctx):,} training windows of {args.n_ctx + 1}")
        if st.get("tokenizer_seconds") is not None:
            print(f"tokenizer training: {st['tokenizer_seconds']:.1f} s")
        if st:
            print(f"tokenization: {st['tokenize_seconds']:.1f} s, {n_tok / max(st['tokenize_seconds'], 1e-9):,.0f} tokens/s, "
                  f"{st['bytes_of_text'] / max(n_tok, 1):.2f} bytes/token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
