"""The fixed stimulus set: the same probe sequences at every record step, seeded, stored once.

Three parts, all built from `RecordSpec.seed` so two runs with the same seed see the same stimuli:

- `tokens` (batch, pos): natural sequences, windows taken at evenly spaced offsets from the
  validation token stream when one is given; without data, uniform random tokens (stated in the
  `source` attribute).
- `induction_tokens` (batch, pos): a span of `span = pos // 2` random tokens (uniform over the
  token ids that occur in the validation data, or over the vocabulary without data; no token twice
  within the span when there are at least `span` of them) immediately
  repeated (positions 0..span-1, then span..2*span-1; one more random token when pos is odd), the
  stimulus of the induction score (Olsson et al. 2022).
- `pattern_tokens` (pos,): one short sequence for the full attention pattern: the first 16 tokens of
  the first natural item, repeated once, so previous-token, sink and induction heads all show.
- `sample_pos`: the positions whose residual vectors `act_sample` keeps, evenly spaced.
- `items` (optional): the item set's texts tokenized for the `constructs` group (recorders.item_probe).

`pattern_tokens` and `sample_pos` have their own lengths, so the `probe` group keeps them as
attributes (the dimension vocabulary has one `pos`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from recorders.item_probe import ItemProbe
from recorders.store import VarMeta

__all__ = ["Probe", "build_probe"]

PATTERN_SPAN = 16


@dataclass(frozen=True)
class Probe:
    """The stimulus set; token arrays are int64 numpy, moved to the model's device when used."""

    tokens: np.ndarray  # (batch, pos)
    induction_tokens: np.ndarray  # (batch, pos)
    span: int
    pattern_tokens: np.ndarray  # (pattern_len,)
    sample_pos: np.ndarray  # (n_sample,)
    source: str  # "validation data" or "uniform random tokens"
    text: tuple[str, ...] = ()  # decoded `tokens`, when a tokenizer was given
    items: ItemProbe | None = None  # the questionnaire stimulus of the constructs group (recorders.item_probe)

    @property
    def item_tokens(self) -> np.ndarray:
        """(row, pos) the item set's rows (items, then definitions), EOT first, right-padded: the constructs stimulus."""
        if self.items is None:
            raise ValueError("this probe holds no item set; give the record spec items=NAME|PATH")
        return self.items.tokens

    def tensor(self, name: str, device: torch.device | str) -> torch.Tensor:
        """One token array as a LongTensor on `device`, with a batch axis."""
        a = getattr(self, name)
        return torch.as_tensor(a if a.ndim == 2 else a[None], dtype=torch.long, device=device)

    def static_arrays(self) -> dict[str, np.ndarray]:
        """The arrays the `probe` group stores (no step dimension)."""
        out = {"tokens": self.tokens, "induction_tokens": self.induction_tokens}
        if self.text:
            out["text"] = np.array(self.text, dtype=object)
        return out

    def static_meta(self) -> dict[str, VarMeta]:
        """VarMeta for `static_arrays`."""
        out = {
            "tokens": VarMeta(("batch", "pos"), "probe tokens", "token id", f"none; source: {self.source}", "int64"),
            "induction_tokens": VarMeta(
                ("batch", "pos"), "induction stimulus", "token id",
                f"none; positions 0..{self.span - 1} repeated at {self.span}..{2 * self.span - 1}", "int64",
            ),
        }
        if self.text:
            out["text"] = VarMeta(("batch",), "decoded probe text", "text", "none: tokenizer.decode(tokens[b])", "str")
        return out

    @classmethod
    def from_store(cls, arrays: dict[str, np.ndarray], attrs: dict[str, object]) -> Probe:
        """The probe a run stored (its `probe` group's arrays and attributes): what a replay measures on."""
        text = tuple(str(t) for t in arrays["text"]) if "text" in arrays else ()
        return cls(np.asarray(arrays["tokens"], dtype=np.int64), np.asarray(arrays["induction_tokens"], dtype=np.int64),
                   int(attrs["span"]), np.asarray(attrs["pattern_tokens"], dtype=np.int64),
                   np.asarray(attrs["sample_pos"], dtype=np.int64), str(attrs["source"]), text)

    def attrs(self) -> dict[str, object]:
        """Group attributes of `probe`: the source, the repeat span, the pattern sequence and sample positions."""
        return {
            "source": self.source,
            "span": self.span,
            "pattern_tokens": self.pattern_tokens.tolist(),
            "sample_pos": self.sample_pos.tolist(),
        }

def build_probe(
    n_items: int,
    length: int,
    d_vocab: int,
    seed: int,
    n_sample: int,
    val_tokens: np.ndarray | None = None,
    decode: Callable[[list[int]], str] | None = None,
) -> Probe:
    """Build the probe: `n_items` sequences of `length` tokens (>= 4), from `val_tokens` when given.

    `n_sample` positions per item are kept for `act_sample`. The generator is numpy's PCG64 seeded
    with `seed`, independent of torch's global state (recording never disturbs training's RNG).
    """
    if length < 4:
        raise ValueError(f"probe_len={length} is too short; need at least 4 tokens")
    rng = np.random.default_rng(seed)
    if val_tokens is not None and len(val_tokens) >= length + 1:
        val_tokens = np.asarray(val_tokens, dtype=np.int64)
        starts = np.linspace(0, len(val_tokens) - length, n_items).astype(np.int64)
        tokens = np.stack([val_tokens[s : s + length] for s in starts])
        # Random tokens come from the tokens the data uses: a synthetic corpus may use 256 of 2048
        # ids, and untrained embeddings would hide an induction head that works on real tokens.
        alphabet = np.unique(val_tokens)
        source = "validation data"
    else:
        alphabet = np.arange(d_vocab, dtype=np.int64)
        tokens = rng.choice(alphabet, size=(n_items, length))
        source = "uniform random tokens"
    span = length // 2
    # Without replacement inside the span when the alphabet allows: each query of the repeat then
    # has exactly one earlier match, so a perfect induction head scores 1. With repeats inside the
    # span (a 64-symbol alphabet and a 64-token span) the attention of a perfect head is split over
    # every earlier match and the score's ceiling drops to about 0.6 (docs/data.md).
    distinct = len(alphabet) >= span
    first = np.stack([rng.choice(alphabet, size=span, replace=not distinct) for _ in range(n_items)])
    tail = rng.choice(alphabet, size=(n_items, length - 2 * span))  # one token when length is odd
    induction = np.concatenate([first, first, tail], axis=1)
    head = tokens[0, : min(PATTERN_SPAN, span)]
    pattern = np.concatenate([head, head])
    sample_pos = np.unique(np.linspace(0, length - 1, min(n_sample, length)).round().astype(np.int64))
    text = tuple(decode(row.tolist()) for row in tokens) if decode is not None else ()
    return Probe(tokens, induction, span, pattern, sample_pos, source, text)
