"""Synthetic corpora with a planted structure whose truth is known, generated as token ids.

`data.source` is `synthetic:KIND` or `synthetic:KIND?key=value&key=value`. Every sequence is one
document of exactly `n_ctx` symbols preceded by EOT, so each (n_ctx + 1)-token training window is
one whole document: `EOT s_1 ... s_n_ctx`. Symbols are drawn from an alphabet of `vocab` symbols
"t0".."t{vocab-1}"; the tokenizer is a real `tokenizers` WordLevel tokenizer over them (id i is
"t{i}", EOT is id `vocab`), so decoded batches read as "t17 t4 t301 ...".

KIND = `induction` (the setting where induction heads form; Olsson et al. 2022):
    a background chain with a planted dependency, then one fresh span a_1..a_s of uniform random
    symbols (s ~ Uniform{span_min..span_max}) written `copies` times at random places (random
    gaps, so the distance between copies varies and no positional head can stand in for prefix
    matching). The background of `mix` percent of the sequences is a skip-bigram chain (s_{t+1}
    uniform over `skip` fixed successors of s_{t-1}: it rewards a previous-token head, the first half
    of an induction circuit); the rest is a bigram chain (s_{t+1} uniform over `bigram` fixed
    successors of s_t: it keeps the current token's identity strong in the residual stream, which
    the induction head's query and its copied value read). Known truth: inside the later copies,
    a_{j+1} follows from "find the earlier a_j and copy what came after it" (prefix matching).
    Why the background: on uniform random symbols nothing rewards a previous-token head until the
    induction head exists, and the tiny preset stays on the ln(vocab) plateau for thousands of steps;
    with a skip-bigram background alone the model learns a shifted copy circuit (attending two
    after the earlier occurrence) instead of prefix matching (measured: docs/data.md).
    `truth["loss_floor_nats"]` is a lower bound on the mean next-token loss: it assumes the
    predictor knows where the spans are (first copy and the first symbol of each later copy cost
    ln(vocab), the rest of the later copies nothing, the background ln(skip) or ln(bigram)).
    Options (defaults): vocab (64), copies (2), span_min (n_ctx // 8), span_max (3 n_ctx // 8),
    or span (sets both), skip (4), bigram (4), mix (50), n (65536 training sequences: more than a
    default plan reads, so nothing is seen twice), seed (data.split_seed), echo (0): with E > 0, each
    background symbol repeats the one two before it (s_t = s_{t-2}) with probability E percent.

KIND = `bigram` (a planted previous-token dependency):
    a Markov chain: s_1 is uniform; s_{t+1} ~ P[s_t, :], where each row of P puts Dirichlet(1)
    weights on `fanout` successors chosen at random. Known truth: P itself (returned as
    `truth["transition"]`), and the exact floor of the mean next-token loss (`loss_floor_nats`):
    (ln vocab + sum_{t=1}^{n_ctx-1} u P^{t-1} h) / n_ctx, with u uniform and h_i the entropy of row i.
    Options (defaults): vocab (256), fanout (4), n (4096), seed (data.split_seed).

KIND = `constructs` (five planted latent constructs; the psychometric probes' test bed):
    documents of six-word sentences about one person whose adjectives follow the person's pole on
    each construct; the items of the planted item set are written from the same words (the
    generator and its truth live in `seedling.data.constructs`). Its tokenizer is a WordLevel over
    those words, not "t{i}" symbols. Options (defaults): constructs (5), noise (10: percent of
    adjectives replaced by a random one), n (32768), seed (data.split_seed).

Model size and plan: a synthetic alphabet uses `vocab + 1` token ids. `recommended_overrides(spec)`
gives `model.d_vocab = vocab + 1` for every kind, which `python -m seedling.train` applies to a new
run unless the user set that field (with --set, --config or a flag). Why: the output head is tied to
the token embedding, and with the tiny preset's 2048 rows for a 257-token alphabet the untrained rows
hold the model on the ln(vocab) plateau. `induction` also asks for context 32, batch 32 and a
1,500-step plan: the time to the induction phase change grows with the square of the context, and
at context 32 the head forms near step 800 (docs/data.md, "Induction heads on the defaults").
`constructs` asks for d_vocab = its words + EOT, context 60 (ten sentences) and a 1,500-step plan.

Validation sequences come from the same process with a different stream of random numbers; their
number is max(2, round(n * data.val_fraction)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers

from seedling.data.constructs import (
    CONSTRUCTS,
    POLES,
    construct_tokenizer,
    construct_words,
    generate_constructs,
    planted_items,
)
from seedling.data.errors import DataError
from seedling.tokenizer import EOT

__all__ = ["SyntheticCorpus", "generate_synthetic", "parse_synthetic", "recommended_overrides", "symbol_tokenizer"]

_DEFAULTS: dict[str, dict[str, int | None]] = {
    "induction": {"vocab": 64, "span_min": None, "span_max": None, "span": None, "copies": 2, "skip": 4, "bigram": 4,
                  "mix": 50, "echo": 0, "n": 65536, "seed": None},
    "bigram": {"vocab": 256, "fanout": 4, "n": 4096, "seed": None},
    "constructs": {"constructs": 5, "noise": 10, "tie": 50, "n": 32768, "seed": None},
}


# Options where 0 is meaningful: no seed offset, no planted dependency, no echo, no skip rows.
_MAY_BE_ZERO = {"seed", "skip", "bigram", "mix", "echo", "noise", "tie"}

# What `induction` asks of the model and plan (see the module docstring); d_vocab is added per spec.
_INDUCTION_PLAN = {"model.n_ctx": 32, "train.micro_batch_size": 32, "train.max_steps": 1500,
                   "train.eval_every": 100, "train.checkpoint_every": 250}
# What `constructs` asks for: ten six-word sentences per document, and a plan in which the planted
# factors are recovered (docs/data.md, "Planted constructs").
_CONSTRUCTS_PLAN = {"model.n_ctx": 60, "train.micro_batch_size": 32, "train.max_steps": 1500,
                    "train.eval_every": 100, "train.checkpoint_every": 100}


@dataclass
class SyntheticCorpus:
    """Generated train/val token ids (EOT-separated), the tokenizer, and the planted truth."""

    kind: str
    params: dict[str, int]
    train: np.ndarray
    val: np.ndarray
    tokenizer: Tokenizer
    eot_id: int
    n_documents: tuple[int, int]
    truth: dict[str, Any] = field(default_factory=dict)


def parse_synthetic(spec: str) -> tuple[str, dict[str, int]]:
    """`synthetic:induction?span=32` -> ("induction", {"span": 32}); unknown kinds or keys are errors."""
    body = spec.removeprefix("synthetic:")
    kind, _, query = body.partition("?")
    if kind not in _DEFAULTS:
        raise DataError(f"synthetic source kind {kind!r} is not known; accepted: {', '.join('synthetic:' + k for k in _DEFAULTS)}")
    options: dict[str, int] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if key not in _DEFAULTS[kind] or not eq:
            raise DataError(f"option {item!r} of {spec!r} is not accepted; accepted keys: {', '.join(_DEFAULTS[kind])} (as key=integer)")
        try:
            options[key] = int(value)
        except ValueError:
            raise DataError(f"option {key}={value!r} of {spec!r} is not an integer") from None
        if options[key] < 0 or (key not in _MAY_BE_ZERO and options[key] == 0):
            raise DataError(f"option {key}={value} of {spec!r} must be a positive integer")
    return kind, options


def recommended_overrides(spec: str) -> dict[str, int]:
    """Config fields a synthetic source asks for: `model.d_vocab = vocab + 1` (the alphabet and EOT),
    and for `induction` the context and plan in which its head forms (module docstring)."""
    kind, options = parse_synthetic(spec)
    if kind == "constructs":
        n_words = len(construct_words(options.get("constructs", 5)))
        return {"model.d_vocab": n_words + 1, **_CONSTRUCTS_PLAN}
    vocab = options.get("vocab", _DEFAULTS[kind]["vocab"])
    plan = _INDUCTION_PLAN if kind == "induction" else {}
    return {"model.d_vocab": int(vocab) + 1, **plan}


def symbol_tokenizer(vocab: int) -> Tokenizer:
    """WordLevel tokenizer: "t{i}" -> i for i < vocab, EOT -> vocab; whitespace separates symbols."""
    words = {f"t{i}": i for i in range(vocab)} | {EOT: vocab}
    tok = Tokenizer(models.WordLevel(words, unk_token=EOT))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([EOT])
    return tok


def generate_synthetic(spec: str, n_ctx: int, d_vocab: int, val_fraction: float, split_seed: int) -> SyntheticCorpus:
    """Generate the corpus named by `spec` for windows of `n_ctx` (+1) tokens (see module docstring)."""
    kind, options = parse_synthetic(spec)
    p: dict[str, Any] = {k: v for k, v in _DEFAULTS[kind].items()} | options
    p["seed"] = split_seed if p["seed"] is None else p["seed"]
    if kind == "constructs":
        return _constructs_corpus(spec, p, n_ctx, d_vocab, val_fraction)
    if p["vocab"] + 1 > d_vocab:
        raise DataError(f"{spec}: alphabet of {p['vocab']} symbols + EOT = {p['vocab'] + 1} tokens exceeds model.d_vocab={d_vocab}; "
                        f"lower vocab (e.g. {spec.partition('?')[0]}?vocab={d_vocab - 1}) or raise model.d_vocab")
    n_val = max(2, round(p["n"] * val_fraction))
    train_rng, val_rng, truth_rng = (np.random.default_rng([p["seed"], i]) for i in range(3))
    if kind == "induction":
        if p["span"] is not None:
            p["span_min"] = p["span_max"] = p["span"]
        c = p["copies"]
        p["span_max"] = p["span_max"] or max(1, min(3 * n_ctx // 8, n_ctx // c))
        p["span_min"] = p["span_min"] or max(1, min(n_ctx // 8, p["span_max"]))
        p.pop("span")
        if c < 2 or not 1 <= p["span_min"] <= p["span_max"] <= n_ctx // c:
            raise DataError(f"{spec}: need copies >= 2 and 1 <= span_min <= span_max <= n_ctx/copies = {n_ctx // c}; "
                            f"got copies={c}, span {p['span_min']}..{p['span_max']}")
        for key in ("echo", "mix"):
            if p[key] > 100:
                raise DataError(f"{spec}: {key}={p[key]} is a percentage; accepted: 0..100")
        skip_table = truth_rng.integers(0, p["vocab"], size=(p["vocab"], p["skip"])) if p["skip"] else None
        bigram_table = truth_rng.integers(0, p["vocab"], size=(p["vocab"], p["bigram"])) if p["bigram"] else None
        background = _Background(skip_table, bigram_table, p["mix"] / 100, p["echo"] / 100)
        train, val = (_induction(rng, n, n_ctx, p["vocab"], p["span_min"], p["span_max"], c, background)
                      for rng, n in ((train_rng, p["n"]), (val_rng, n_val)))
        truth = {"loss_floor_nats": _induction_floor(n_ctx, p, c),
                 "skip_successors": skip_table, "bigram_successors": bigram_table}
    else:
        transition = _sparse_transition(truth_rng, p["vocab"], min(p["fanout"], p["vocab"]))
        train, val = (_markov(rng, transition, n, n_ctx) for rng, n in ((train_rng, p["n"]), (val_rng, n_val)))
        truth = {"transition": transition, "loss_floor_nats": _markov_floor(transition, n_ctx)}
    eot = p["vocab"]
    return SyntheticCorpus(kind, p, _with_eot(train, eot), _with_eot(val, eot), symbol_tokenizer(p["vocab"]), eot,
                           (p["n"], n_val), truth)


def _constructs_corpus(spec: str, p: dict[str, Any], n_ctx: int, d_vocab: int, val_fraction: float) -> SyntheticCorpus:
    """`synthetic:constructs` (seedling.data.constructs): five planted constructs, items from their words."""
    if not 1 <= p["constructs"] <= len(CONSTRUCTS) or max(p["noise"], p["tie"]) > 100:
        raise DataError(f"{spec}: need 1 <= constructs <= {len(CONSTRUCTS)}, and noise and tie percentages 0..100; "
                        f"got constructs={p['constructs']}, noise={p['noise']}, tie={p['tie']}")
    tok = construct_tokenizer(p["constructs"])
    if tok.get_vocab_size() > d_vocab:
        raise DataError(f"{spec}: {tok.get_vocab_size()} words + EOT exceed model.d_vocab={d_vocab}; raise model.d_vocab")
    n_val = max(2, round(p["n"] * val_fraction))
    train_rng, val_rng = (np.random.default_rng([p["seed"], i]) for i in range(2))
    train, val = (generate_constructs(rng, n, n_ctx, p["constructs"], p["noise"] / 100, p["tie"] / 100)
                  for rng, n in ((train_rng, p["n"]), (val_rng, n_val)))
    eot = tok.get_vocab_size() - 1
    names = CONSTRUCTS[:p["constructs"]]
    truth = {"constructs": list(names), "poles": {c: [list(w) for w in POLES[c]] for c in names},
             "items": planted_items(p["constructs"])}
    return SyntheticCorpus("constructs", p, _with_eot(train, eot), _with_eot(val, eot), tok, eot, (p["n"], n_val), truth)


def _with_eot(seqs: np.ndarray, eot: int) -> np.ndarray:
    """(n, n_ctx) symbols -> flat [EOT, seq_1..., EOT, seq_2...], so windows are whole documents."""
    out = np.concatenate([np.full((len(seqs), 1), eot, seqs.dtype), seqs], axis=1)
    return out.reshape(-1)


@dataclass(frozen=True)
class _Background:
    """The planted dependency outside the repeated spans (see the module docstring)."""

    skip: np.ndarray | None  # (vocab, K): successors of s_{t-1}
    bigram: np.ndarray | None  # (vocab, K): successors of s_t
    skip_fraction: float  # of sequences with the skip-bigram background; the rest get the bigram one
    echo: float


def _induction(rng: np.random.Generator, n: int, n_ctx: int, vocab: int, span_min: int, span_max: int,
               copies: int, bg: _Background) -> np.ndarray:
    seqs = rng.integers(0, vocab, size=(n, n_ctx), dtype=np.int64)
    pick = rng.integers(0, 1 << 30, size=(n, n_ctx))
    skip_rows = rng.random(n) < bg.skip_fraction
    for table, rows, lag in ((bg.skip, skip_rows, 2), (bg.bigram, ~skip_rows, 1)):
        if table is None or not rows.any():
            continue
        for t in range(lag, n_ctx):  # vectorised over sequences: s_t = a successor of s_{t-lag}
            seqs[rows, t] = table[seqs[rows, t - lag], pick[rows, t] % table.shape[1]]
    if bg.echo > 0:  # s_t = s_{t-2} with probability `echo`: an "ABA" that a previous-token head predicts
        repeat = rng.random((n, n_ctx)) < bg.echo
        for t in range(2, n_ctx):
            seqs[repeat[:, t], t] = seqs[repeat[:, t], t - 2]
    spans = rng.integers(span_min, span_max + 1, size=n)
    for s in range(span_min, span_max + 1):  # vectorised over the sequences whose span has length s
        rows = np.flatnonzero(spans == s)
        fresh = rng.integers(0, vocab, size=(len(rows), s))
        # `copies` non-overlapping slots, uniform over placements: sorted offsets into the free room
        gaps = np.sort(rng.integers(0, n_ctx - copies * s + 1, size=(len(rows), copies)), axis=1)
        for k in range(copies):
            seqs[rows[:, None], gaps[:, k:k + 1] + k * s + np.arange(s)] = fresh
    return seqs.astype(np.uint16 if vocab < 65535 else np.uint32)


def _induction_floor(n_ctx: int, p: dict[str, Any], copies: int) -> float:
    """Lower bound on the mean next-token loss (nats) for a predictor that knows where the spans are."""
    mean_s = (p["span_min"] + p["span_max"]) / 2
    ln_v = math.log(p["vocab"])
    k_bg = {"skip": p["skip"] or p["vocab"], "bigram": p["bigram"] or p["vocab"]}
    f = p["mix"] / 100
    background_nats = f * math.log(k_bg["skip"]) + (1 - f) * math.log(k_bg["bigram"])
    n_bg = n_ctx - copies * mean_s
    unpredictable = mean_s + (copies - 1)  # the first copy, and the first symbol of each later copy
    return (n_bg * background_nats + unpredictable * ln_v + ln_v) / (n_ctx + 1)  # + the symbol after EOT


def _sparse_transition(rng: np.random.Generator, vocab: int, fanout: int) -> np.ndarray:
    P = np.zeros((vocab, vocab))
    for i in range(vocab):
        P[i, rng.choice(vocab, size=fanout, replace=False)] = rng.dirichlet(np.ones(fanout))
    return P


def _markov(rng: np.random.Generator, P: np.ndarray, n: int, n_ctx: int) -> np.ndarray:
    # Each row's successors and their cumulative probabilities: sampling compares against a few
    # numbers per step instead of the whole row.
    fanout = int((P > 0).sum(axis=1).max())
    succ = np.argsort(-P, axis=1, kind="stable")[:, :fanout]
    cdf = np.cumsum(np.take_along_axis(P, succ, axis=1), axis=1)
    cdf[:, -1] = 1.0  # guard against rounding: every row ends exactly at 1
    seqs = np.empty((n, n_ctx), dtype=np.int64)
    seqs[:, 0] = rng.integers(0, len(P), size=n)
    u = rng.random((n, n_ctx))
    rows = np.arange(n)
    for t in range(1, n_ctx):  # vectorised over sequences: inverse-CDF sampling of each next state
        prev = seqs[:, t - 1]
        k = np.minimum((u[:, t, None] > cdf[prev]).sum(axis=1), fanout - 1)
        seqs[rows, t] = succ[prev, k]
    return seqs.astype(np.uint16 if len(P) < 65535 else np.uint32)


def _markov_floor(P: np.ndarray, n_ctx: int) -> float:
    """Exact expected loss (nats/token) of the true model on one window: see the module docstring."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    d = np.full(len(P), 1.0 / len(P))
    total = math.log(len(P))
    for _ in range(1, n_ctx):
        total += float(d @ h)
        d = d @ P
    return total / n_ctx
