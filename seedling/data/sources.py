"""Text sources: turn `cfg.data.source` into a stream of documents with a stable identity.

Accepted forms of `data.source` (synthetic ones live in `seedling.data.synthetic`):

- `builtin`: English text shipped with Python (see `seedling.data.builtin`).
- a path to a `.txt` or `.md` file: one document, or several separated by a line of three or
  more `=` that follows a blank line (a line of `=` right under text is a Markdown heading and is
  kept).
- a path to a `.jsonl` file: one document per line, the text in the field `data.text_field`.
- a path to a folder: every `.txt`, `.md` and `.jsonl` file below it, recursively, in sorted order.
- `hf:NAME[:CONFIG]`: the `train` split of a Hugging Face dataset, streamed once (up to
  `data.max_bytes` of text) into a local JSONL file under the cache folder, then read from there.

Every source has an `identity` string: when it changes, cached token files are not reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seedling.config import DataConfig
from seedling.data.builtin import builtin_documents, builtin_identity
from seedling.data.errors import DataError
from seedling.data.hub import stream_hub_documents

__all__ = ["ACCEPTED_SOURCES", "TEXT_SUFFIXES", "TextSource", "read_text_file", "resolve_text_source"]

TEXT_SUFFIXES = (".txt", ".md", ".jsonl")
ACCEPTED_SOURCES = (
    "'builtin', a path to a .txt/.md/.jsonl file or a folder of them, 'hf:NAME[:CONFIG]', "
    "'synthetic:induction', 'synthetic:bigram' or 'synthetic:constructs' (options as synthetic:induction?span=32)"
)
# A document separator inside one text file: a blank line, then a line of three or more '='.
_SEPARATOR = re.compile(r"(?:\A|\n[ \t]*\n)={3,}[ \t]*(?:\n|\Z)")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextSource:
    """A corpus of documents: `documents()` starts a fresh pass over them, in a fixed order."""

    identity: str
    description: str
    documents: Callable[[], Iterator[str]]
    size_hint: int | None = None  # bytes of text, for the progress bar, when known


def resolve_text_source(data: DataConfig, cache_dir: Path) -> TextSource:
    """The text source named by `data.source` (not synthetic), with the byte budget applied."""
    spec = data.source
    if spec == "builtin":
        src = TextSource(builtin_identity(), "builtin (Python's language reference and standard-library docstrings)",
                         _extracted_once(builtin_documents, cache_dir / "corpus" / _builtin_file()))
    elif spec.startswith("hf:"):
        src = _hub_source(spec, data, cache_dir)
    elif ":" in spec.split("/")[0] and not Path(spec).exists() and not re.match(r"^[A-Za-z]:[\\/]", spec):
        raise DataError(f"data source {spec!r} is not a known kind; accepted: {ACCEPTED_SOURCES}")
    else:
        src = _local_source(Path(spec).expanduser(), data.text_field)
    if data.max_bytes is None:
        return src
    budget = data.max_bytes
    return TextSource(f"{src.identity}|max_bytes={budget}", f"{src.description}, first {budget:,} bytes",
                      lambda: _within_budget(src.documents(), budget), min(src.size_hint or budget, budget))


def _builtin_file() -> str:
    return f"builtin-{hashlib.sha256(builtin_identity().encode()).hexdigest()[:16]}.jsonl"


def _extracted_once(documents: Callable[[], Iterator[str]], saved: Path) -> Callable[[], Iterator[str]]:
    """`documents`, extracted on the first complete pass and then read from `saved` (JSONL) and memory.

    Extraction (parsing the whole standard library) takes seconds to minutes; the saved copy makes
    later passes and later runs cheap. It is written atomically, and only after a complete pass.
    """
    kept: list[str] = []

    def replay() -> Iterator[str]:
        if kept:
            yield from kept
            return
        if saved.is_file():
            kept.extend(read_text_file(saved))
            yield from kept
            return
        docs = []
        for doc in documents():
            docs.append(doc)
            yield doc
        kept.extend(docs)
        _write_jsonl_atomically(saved, docs)

    return replay


def _write_jsonl_atomically(path: Path, docs: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for text in docs:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)  # only a complete file is ever trusted
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _within_budget(docs: Iterator[str], budget: int) -> Iterator[str]:
    """Documents while their UTF-8 bytes fit in `budget`; the one that crosses it is cut at the line."""
    used = 0
    for doc in docs:
        n = len(doc.encode("utf-8"))
        if used + n > budget:
            rest = doc.encode("utf-8")[: budget - used].decode("utf-8", errors="ignore")
            if rest.strip():
                yield rest
            return
        used += n
        yield doc


# --- local files ---------------------------------------------------------------------------------

def _local_source(path: Path, text_field: str) -> TextSource:
    if not path.exists():
        raise DataError(f"data source path {path} does not exist; accepted: {ACCEPTED_SOURCES}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise DataError(f"folder {path} holds no .txt, .md or .jsonl files; accepted: {', '.join(TEXT_SUFFIXES)}")
    elif path.suffix.lower() in TEXT_SUFFIXES:
        files = [path]
    else:
        raise DataError(f"file {path} has suffix {path.suffix!r}; accepted: {', '.join(TEXT_SUFFIXES)} or a folder")
    stats = [(str(f.relative_to(path) if path.is_dir() else f.name), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    size = sum(s for _, s, _ in stats)
    if size == 0:
        raise DataError(f"data source {path} is empty (0 bytes in {len(files)} file(s)); it needs text")
    identity = "local:" + hashlib.sha256(json.dumps([str(path.resolve()), text_field, stats]).encode()).hexdigest()

    def documents() -> Iterator[str]:
        for f in files:
            yield from read_text_file(f, text_field)

    return TextSource(identity, f"{path} ({len(files)} file(s), {size:,} bytes)", documents, size)


def read_text_file(path: Path, text_field: str = "text") -> Iterator[str]:
    """The non-empty documents of one .txt, .md or .jsonl file (see the module docstring)."""
    if path.suffix.lower() == ".jsonl":
        try:
            yield from _jsonl_documents(path, text_field)
        except UnicodeDecodeError as e:
            raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start} of a line); convert it "
                            "to UTF-8 or remove it from the corpus") from None
        return
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start} of {len(raw):,} cannot be decoded); convert it, "
                        f"e.g. iconv -f latin1 -t utf-8, or remove it from the corpus") from None
    for doc in _SEPARATOR.split(text):
        if doc.strip():
            yield doc.strip("\n")


def _jsonl_documents(path: Path, text_field: str) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno} is not valid JSON ({e.msg}); a .jsonl file has one JSON object per line") from None
            if not isinstance(record, dict) or text_field not in record:
                keys = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise DataError(f"{path}:{lineno} has no field {text_field!r} (found {keys}); set data.text_field")
            text = str(record[text_field])
            if text.strip():
                yield text


# --- Hugging Face hub ----------------------------------------------------------------------------

def _hub_source(spec: str, data: DataConfig, cache_dir: Path) -> TextSource:
    name, _, config = spec[3:].partition(":")
    if not name:
        raise DataError(f"data source {spec!r} names no dataset; use hf:NAME or hf:NAME:CONFIG, e.g. hf:stas/openwebtext-10k")
    key = hashlib.sha256(json.dumps([name, config, data.text_field, data.max_bytes]).encode()).hexdigest()[:16]
    local = cache_dir / "hub" / f"{name.replace('/', '__')}-{config or 'default'}-{key}.jsonl"
    if not local.exists():
        _write_jsonl_atomically(local, stream_hub_documents(name, config or None, data.text_field, data.max_bytes))
        log.info("saved %s (%s bytes) for offline reuse", local, f"{local.stat().st_size:,}")
    src = _local_source(local, "text")
    return TextSource(f"hf:{name}:{config}:{data.text_field}:{data.max_bytes}", f"{spec} (cached in {local})",
                      src.documents, src.size_hint)
