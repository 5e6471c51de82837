"""The benchmark suite keeps running: one benchmark's quick mode in-process, the table, the CLI's errors."""

from __future__ import annotations

import math

import pytest

from benchmarks import __main__ as cli
from benchmarks import train_throughput
from benchmarks.common import Options, interleaved, median
from benchmarks.models import SIZES, flops_per_token
from benchmarks.suite import table


def test_train_quick_measures_both_models_side_by_side():
    rows = train_throughput.run(Options(quick=True, repeat=2))
    by_metric = {r.metric: r for r in rows}
    ours = by_metric["train tokens/s [ours]"]
    assert set(ours.samples) == {"ours", "ref"} and all(len(v) == 2 for v in ours.samples.values())
    assert ours.ours > 0 and ours.ref > 0 and ours.ratio > 0
    # The ratio is the median of paired ratios ref_seconds / ours_seconds, not a ratio of medians.
    assert ours.ratio == pytest.approx(median([r / o for r, o in zip(ours.samples["ref"], ours.samples["ours"])]))
    mfu = by_metric["MFU [ours]"]
    assert 0 < mfu.ours and mfu.ratio == pytest.approx(mfu.ours / mfu.ref)
    text = table({"train": {"status": "ok", "rows": [r.to_dict() for r in rows], "wall_s": 1.0}})
    assert "train tokens/s [ours]" in text and "train: ok" in text


def test_interleaved_alternates_order_and_counts_samples():
    calls = []
    t = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=3, warmup=1, inner=2)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] + ["b", "b", "a", "a"] + ["a", "a", "b", "b"]
    assert {k: len(v) for k, v in t.items()} == {"a": 3, "b": 3}


def test_flops_per_token_matches_hand_count_for_tiny():
    m = SIZES["tiny"].config().model  # 2 layers, d_model 128, n_ctx 128, vocab 2048
    n = 2 * (4 * 128 * 128 + 2 * 128 * 512) + 2048 * 128
    assert math.isclose(flops_per_token(SIZES["tiny"].config()), 6 * n + 12 * 2 * 128 * 128)
    assert m.n_layers == 2


def test_cli_rejects_unknown_benchmark(capsys):
    assert cli.main(["no-such-bench"]) == 2
    err = capsys.readouterr().err
    assert "no-such-bench" in err and "train" in err and len(err.strip().splitlines()) == 1
