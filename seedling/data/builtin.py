"""The built-in corpus: English text that ships with every Python install, extracted at run time.

Two kinds of document, in a fixed order so the corpus is the same on every run of one Python:

1. Each topic of the language reference in `pydoc_data.topics` (what `help("if")` shows) is one
   document.
2. Each standard-library module under `sysconfig.get_paths()["stdlib"]` is one document: its
   module docstring followed by the docstrings of its classes, functions and methods, each under
   a header line with its dotted name. The files are parsed with `ast`, never imported, so nothing
   in them runs. Test suites, `site-packages` and files that do not parse are skipped.

It works offline and needs nothing downloaded. Its size depends on the Python version (on CPython
3.11: 2.5 MB of text in 722 documents, about 0.84M tokens at vocabulary 2048; see docs/data.md).
"""

from __future__ import annotations

import ast
import logging
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

__all__ = ["EXTRACTOR_VERSION", "builtin_documents", "builtin_identity"]

# Bump when the extraction below changes, so cached token files are not reused.
EXTRACTOR_VERSION = 1
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}

log = logging.getLogger(__name__)


def builtin_identity() -> str:
    """What the built-in corpus depends on: the extractor, the Python version and the stdlib path."""
    return f"builtin:v{EXTRACTOR_VERSION}:{sys.version}:{sysconfig.get_paths()['stdlib']}"


def builtin_documents() -> Iterator[str]:
    """Yield the built-in corpus, one document at a time (reference topics first, then modules)."""
    from pydoc_data.topics import topics

    for name in sorted(topics):
        text = topics[name].strip()
        if text:
            yield text
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    n_files = 0
    for path in sorted(stdlib.rglob("*.py")):
        if _SKIP_DIRS & set(path.relative_to(stdlib).parts[:-1]):
            continue
        doc = module_docstrings(path, _module_name(path.relative_to(stdlib)))
        if doc:
            n_files += 1
            yield doc
    log.debug("built-in corpus: %d topics, %d modules with docstrings", len(topics), n_files)


def module_docstrings(path: Path, module: str) -> str:
    """All docstrings of one source file, as one document; '' if it has none or does not parse."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return ""
    parts = []
    for name, node in _walk(tree, module):
        doc = ast.get_docstring(node, clean=True)
        if doc and doc.strip():
            parts.append(f"{name}\n\n{doc.strip()}")
    return "\n\n".join(parts)


def _walk(node: ast.AST, name: str) -> Iterator[tuple[str, ast.AST]]:
    """The module, then its classes and functions depth-first in source order, with dotted names."""
    yield name, node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _walk(child, f"{name}.{child.name}")


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "__init__"
