"""The questionnaire stimulus: an item set's texts tokenized with the run's tokenizer, for the `constructs` group.

Rows are the items, then the construct definitions (when the set has them), then, when the set
has response options, one row per (item, option): `EOT item-tokens option-tokens`, the option
encoded as `" " + text` (so a byte-level BPE sees the word boundary). Each row is cut to the
model's context and right-padded with EOT to the longest row; the length of each row (EOT
included) is kept, and for option rows where the option's tokens start (`option_start`). Why EOT first: position 0 is where decoders park
attention (the "sink"), so its residual vector says little about the item; starting every row with
the document separator, as every training document starts, keeps all of the item's own tokens out
of position 0. Why right padding is clean: the causal mask lets no position see later ones, so the
padding never changes an item's own positions.

Item sets are resolved by `resolve_item_set`: a bundled name (`planted`, `ipip50`) or a CSV path;
without one, `planted` for `synthetic:constructs` runs and `ipip50` otherwise. numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recorders.psychometrics.items import ItemSet, load_item_set

# The document separator every Seedling tokenizer has (seedling.tokenizer.EOT; recorders does not
# import seedling: docs/architecture.md).
EOT = "<|endoftext|>"

__all__ = ["ItemProbe", "build_item_probe", "default_item_set", "item_probe_for_run", "resolve_item_set"]


@dataclass(frozen=True)
class ItemProbe:
    """Tokenized items (+ definitions) of one item set; rows 0..n_items-1 are the items."""

    item_set: ItemSet
    tokens: np.ndarray  # (row, pos) int64, row = items, definitions, then (item, option) pairs item-major
    lengths: np.ndarray  # (row,) tokens per row, EOT at position 0 included
    option_start: np.ndarray  # (item * option,) position of each option row's first option token

    @property
    def n_items(self) -> int:
        return self.item_set.n_items

    @property
    def first_option_row(self) -> int:
        return self.item_set.n_items + len(self.item_set.definitions or ())

    def attrs(self) -> dict[str, object]:
        """The item set and its tokens, as JSON-able group attributes (so anyone can redo the analysis)."""
        s = self.item_set
        return {"item_set": s.name, "item_ids": list(s.ids), "item_texts": list(s.texts),
                "item_constructs": list(s.constructs), "item_keys": s.keys.tolist(),
                "constructs": list(s.construct_names), "definitions": list(s.definitions or ()),
                "item_tokens": self.tokens.tolist(), "item_lengths": self.lengths.tolist(),
                "options": list(s.option_labels), "option_texts": list(s.option_texts),
                "option_scores": [] if s.option_scores is None else s.option_scores.tolist()}


def build_item_probe(item_set: ItemSet, encode: Callable[[str], list[int]], eot_id: int, n_ctx: int) -> ItemProbe:
    """Tokenize every item (and definition) as `[eot_id] + encode(text)`, cut to `n_ctx`, right-padded with eot_id.

    Raises ValueError (one line) when a text encodes to no tokens.
    """
    texts = list(item_set.texts) + list(item_set.definitions or ())
    rows = []
    for i, text in enumerate(texts):
        ids = list(encode(text))
        if not ids:
            what = item_set.ids[i] if i < item_set.n_items else f"definition of {item_set.construct_names[i - item_set.n_items]}"
            raise ValueError(f"item set {item_set.name}: {what} ({text!r}) encodes to no tokens with this run's tokenizer")
        rows.append([eot_id] + ids[: n_ctx - 1])
    starts = []
    options = [list(encode(" " + t)) for t in item_set.option_texts]
    for i in range(item_set.n_items):
        for label, ids in zip(item_set.option_labels, options):
            prompt = rows[i][: max(1, n_ctx - len(ids))]  # keep the whole option; cut the item if it must be
            if not ids or len(prompt) + len(ids) > n_ctx:
                raise ValueError(f"item set {item_set.name}: option {label!r} does not fit the context of {n_ctx} tokens")
            starts.append(len(prompt))
            rows.append(prompt + ids)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    tokens = np.full((len(rows), int(lengths.max())), eot_id, dtype=np.int64)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = r
    return ItemProbe(item_set, tokens, lengths, np.array(starts, dtype=np.int64))


def default_item_set(data_source: str) -> str:
    """The item set a run probes when none is named: the planted set on its own corpus, else the IPIP 50."""
    return "planted" if data_source.startswith("synthetic:constructs") else "ipip50"


def resolve_item_set(spec_items: str | None, data_source: str) -> ItemSet:
    """The ItemSet named by the record spec's `items=` (or the default for the run's data source)."""
    return load_item_set(spec_items or default_item_set(data_source))


def item_probe_for_run(spec_items: str | None, data_source: str, tokenizer, n_ctx: int) -> ItemProbe:
    """The item probe of a run: its item set tokenized with its tokenizer (a `tokenizers.Tokenizer`).

    The training Recorder and checkpoint replay both build it here, so both probe the same rows.
    """
    if tokenizer is None:
        raise ValueError("the constructs group needs the run's tokenizer to tokenize the items")
    eot = tokenizer.token_to_id(EOT)
    if eot is None:
        raise ValueError(f"the run's tokenizer has no {EOT} token to start the items with")
    return build_item_probe(resolve_item_set(spec_items, data_source), lambda t: tokenizer.encode(t).ids, eot, n_ctx)
