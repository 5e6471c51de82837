"""Item sets: read and validate a questionnaire's items (CSV), with optional definitions and correlations.

Files (UTF-8 CSV with a header row):

- items (required): columns `text` (the item as the model reads it), `construct` (its scale) and
  `key` (+1: agreeing means a high level; -1: reverse-keyed); optional `item` (a unique id; default
  item01, item02, ...) and `mean` (the item's empirical mean, any scale).
- definitions (optional): columns `construct`, `definition`; one row per construct of the items.
- correlations (optional): the empirical item x item correlation matrix, first column `item`, then
  one column per item id (the same ids as the items, any order), symmetric, unit diagonal.
- options (optional): the response options of the log-probability probe, columns `option` (a
  label), `text` (the words after the item: the probe scores `EOT item + " " + text`) and `score`
  (the option's numeric value, e.g. 1..5 on a Likert scale).

Every problem raises `ItemSetError` with one line naming the file, the row or column, and what is
accepted. Bundled sets (`bundled_item_sets()`): `ipip50` (the 50 IPIP Big-Five factor markers,
public domain: https://ipip.ori.org) and `planted` (the items of `--data synthetic:constructs`).
This module imports only numpy and pandas: the recorders and the workbench both read item sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ItemSet", "ItemSetError", "bundled_item_sets", "load_item_set", "read_item_set"]

_BUNDLED = Path(__file__).with_name("item_sets")
_KEYS = {"1": 1, "+1": 1, "-1": -1}


class ItemSetError(ValueError):
    """An item-set file that cannot be used; the message names the file, the place and what is accepted."""


@dataclass(frozen=True)
class ItemSet:
    """Items with their construct and key, in file order; constructs in order of first appearance."""

    name: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    constructs: tuple[str, ...]  # per item
    keys: np.ndarray  # (item,) int8, +1 or -1
    construct_names: tuple[str, ...]
    definitions: tuple[str, ...] | None = None  # per construct_names entry
    correlations: np.ndarray | None = None  # (item, item) in the order of `ids`
    means: np.ndarray | None = None  # (item,)
    option_labels: tuple[str, ...] = ()  # response options of the log-probability probe (may be none)
    option_texts: tuple[str, ...] = ()
    option_scores: np.ndarray | None = None  # (option,)

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @property
    def construct_index(self) -> np.ndarray:
        """(item,) index of each item's construct in `construct_names`."""
        return np.array([self.construct_names.index(c) for c in self.constructs])

    def target(self) -> np.ndarray:
        """(item, construct) keyed target loadings: key_i in the item's construct column, 0 elsewhere."""
        H = np.zeros((self.n_items, len(self.construct_names)))
        H[np.arange(self.n_items), self.construct_index] = self.keys
        return H


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise ItemSetError(f"{what} file {path} does not exist; give a CSV file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ItemSetError(f"{what} file {path} is not a readable UTF-8 CSV with a header row ({first})") from None


def _require(df: pd.DataFrame, path: Path, columns: tuple[str, ...], optional: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ItemSetError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns) or 'none'}; "
                           f"required: {', '.join(columns)} (optional: {', '.join(optional)})")
    if df.empty:
        raise ItemSetError(f"{path}: no rows below the header")


def read_item_set(items: str | Path, definitions: str | Path | None = None, correlations: str | Path | None = None,
                  name: str | None = None, options: str | Path | None = None) -> ItemSet:
    """Read and validate an item set (see the module docstring). Rows are numbered as in a spreadsheet (header = 1)."""
    path = Path(items)
    df = _read_csv(path, "items")
    _require(df, path, ("text", "construct", "key"), ("item", "mean"))
    rows = range(2, len(df) + 2)
    for col in ("text", "construct"):
        for row, v in zip(rows, df[col]):
            if not v.strip():
                raise ItemSetError(f"{path}: row {row} has an empty {col!r}; every item needs its {col}")
    keys = []
    for row, v in zip(rows, df["key"]):
        if v.strip() not in _KEYS:
            raise ItemSetError(f"{path}: row {row} has key {v!r}; accepted: 1, +1 or -1")
        keys.append(_KEYS[v.strip()])
    ids = [v.strip() for v in df["item"]] if "item" in df.columns else [f"item{i:02d}" for i in range(1, len(df) + 1)]
    seen: dict[str, int] = {}
    for row, v in zip(rows, ids):
        if not v or v in seen:
            raise ItemSetError(f"{path}: row {row} has item id {v!r}, " + ("empty" if not v else f"already used in row {seen[v]}")
                               + "; ids must be unique and non-empty")
        seen[v] = row
    means = None
    if "mean" in df.columns:
        means = np.array([_number(path, row, "mean", v) for row, v in zip(rows, df["mean"])])
    constructs = tuple(v.strip() for v in df["construct"])
    names = tuple(dict.fromkeys(constructs))
    if len(names) < 2:
        raise ItemSetError(f"{path}: all items belong to one construct ({names[0]!r}); structure needs at least 2 constructs")
    small = [c for c in names if constructs.count(c) < 2]
    if small:
        raise ItemSetError(f"{path}: construct(s) {', '.join(small)} have one item; each construct needs at least 2")
    item_set = ItemSet(name or path.stem, tuple(ids), tuple(t.strip() for t in df["text"]), constructs,
                       np.array(keys, dtype=np.int8), names, means=means)
    defs = _read_definitions(Path(definitions), names) if definitions is not None else None
    corr = _read_correlations(Path(correlations), tuple(ids)) if correlations is not None else None
    opts = _read_options(Path(options)) if options is not None else {}
    return ItemSet(**{**item_set.__dict__, "definitions": defs, "correlations": corr, **opts})


def _read_options(path: Path) -> dict[str, object]:
    df = _read_csv(path, "options")
    _require(df, path, ("option", "text", "score"), ())
    labels, texts, scores = [], [], []
    for row, (label, text, score) in enumerate(zip(df["option"].str.strip(), df["text"].str.strip(), df["score"]), 2):
        if not label or label in labels or not text:
            raise ItemSetError(f"{path}: row {row} has option {label!r} with text {text!r}; options need a unique "
                               "non-empty label and a non-empty text")
        labels.append(label)
        texts.append(text)
        scores.append(_number(path, row, "score", score))
    if len(labels) < 2:
        raise ItemSetError(f"{path}: {len(labels)} option; the log-probability probe needs at least 2")
    return {"option_labels": tuple(labels), "option_texts": tuple(texts), "option_scores": np.array(scores)}


def _number(path: Path, row: int, col: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if not np.isfinite(x):
        raise ItemSetError(f"{path}: row {row} has {col} {v!r}; accepted: a finite number")
    return x


def _read_definitions(path: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    df = _read_csv(path, "definitions")
    _require(df, path, ("construct", "definition"), ())
    found = {}
    for row, c, d in zip(range(2, len(df) + 2), df["construct"].str.strip(), df["definition"]):
        if c not in names:
            raise ItemSetError(f"{path}: row {row} defines construct {c!r}, which no item has; accepted: {', '.join(names)}")
        if c in found or not d.strip():
            raise ItemSetError(f"{path}: row {row}: construct {c!r} is " + ("defined twice" if c in found else "given an empty definition"))
        found[c] = d.strip()
    missing = [c for c in names if c not in found]
    if missing:
        raise ItemSetError(f"{path}: no definition for construct(s) {', '.join(missing)}; give one row per construct")
    return tuple(found[c] for c in names)


def _read_correlations(path: Path, ids: tuple[str, ...]) -> np.ndarray:
    df = _read_csv(path, "correlations")
    _require(df, path, ("item",), ids)
    cols = [c for c in df.columns if c != "item"]
    rows = [v.strip() for v in df["item"]]
    for label, got in (("columns", cols), ("rows", rows)):
        if sorted(got) != sorted(ids):
            odd = sorted(set(got) ^ set(ids)) or ["a repeated id"]
            raise ItemSetError(f"{path}: the {label} must name each item id once; mismatched: {', '.join(odd[:5])}")
    R = np.array([[_number(path, r + 2, c, df.iloc[r][c]) for c in ids] for r in [rows.index(i) for i in ids]])
    if not np.allclose(R, R.T, atol=1e-6):
        i, j = np.unravel_index(np.argmax(np.abs(R - R.T)), R.shape)
        raise ItemSetError(f"{path}: not symmetric: ({ids[i]}, {ids[j]}) = {R[i, j]} but ({ids[j]}, {ids[i]}) = {R[j, i]}")
    if np.abs(R).max() > 1 + 1e-9 or not np.allclose(np.diag(R), 1, atol=1e-6):
        raise ItemSetError(f"{path}: correlations must lie in [-1, 1] with 1 on the diagonal")
    return R


def bundled_item_sets() -> dict[str, Path]:
    """{name: items CSV} of the sets shipped with the package (definitions beside them as NAME_definitions.csv)."""
    return {p.stem: p for p in sorted(_BUNDLED.glob("*.csv"))
            if not p.stem.endswith(("_definitions", "_correlations", "_options"))}


def load_item_set(spec: str | Path) -> ItemSet:
    """A bundled set by name (`ipip50`, `planted`) or an items CSV path; NAME_definitions.csv,
    NAME_correlations.csv and NAME_options.csv beside the items file are read when they exist."""
    bundled = bundled_item_sets()
    path = bundled.get(str(spec), Path(spec))
    if not path.is_file():
        raise ItemSetError(f"item set {spec!r} is neither a bundled set ({', '.join(bundled)}) nor an existing CSV file")
    side = {k: path.with_name(f"{path.stem}_{k}.csv") for k in ("definitions", "correlations", "options")}
    return read_item_set(path, **{k: (p if p.is_file() else None) for k, p in side.items()},
                         name=path.stem if str(spec) in bundled else None)
