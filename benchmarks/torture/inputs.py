"""Bad input to every command: one line on stderr, exit status 2, nothing changed on disk (hashed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.torture.harness import Harness, Result, one_line, tree_hash


def cases(h: Harness, run: Path, tmp: Path) -> list[tuple[str, str, list[str]]]:
    """(name, module, argv) of each bad input; `run` is a finished run directory, `tmp` a scratch directory."""
    again = h.train_args(run)
    fresh = h.work / "fresh-run"  # a new run directory: the size checks must fire before anything is built
    not_utf8 = tmp / "random-bytes"
    bad_config = tmp / "bad-config"
    report_dir = tmp / "report-dir"
    a_file = tmp / "a-file.csv"
    return [
        *[(f"--set {s}", "seedling.train", [*again, "--set", s]) for s in (
            "train.lr=inf", "train.lr=nan", "train.weight_decay=nan", "train.seed=1e30", "train.min_lr=-inf")],
        *[(f"--set {s} (new run)", "seedling.train", [*h.train_args(fresh), "--set", s]) for s in (
            "model.d_model=262144", "train.micro_batch_size=100000000", "model.d_vocab=1000000000")],
        ("--epochs inf", "seedling.train", [*again, "--epochs", "inf"]),
        ("--epochs nan", "seedling.train", [*again, "--epochs", "nan"]),
        ("--seed -1", "seedling.train", [*again, "--seed", "-1"]),
        ("--seed 2**32", "seedling.train", [*again, "--seed", str(2**32)]),
        ("--record seed=-1", "seedling.train", [*again[:-2], "--record", "seed=-1"]),
        ("--bogus", "seedling.train", [*again, "--bogus"]),
        ("missing --out", "seedling.train", ["--max-steps", "3"]),
        ("--max-steps abc", "seedling.train", [*again, "--max-steps", "abc"]),
        ("malformed config.json", "seedling.train", h.train_args(bad_config)),
        ("random-byte .txt corpus", "seedling.train", [*h.train_args(h.work / "run-not-utf8"), "--data", str(not_utf8)]),
        ("workbench export --out FILE", "workbench", ["export", str(run), "--out", str(a_file)]),
        ("workbench report --out DIR", "workbench", ["report", str(run), "--out", str(report_dir), "--fast"]),
        ("workbench --bogus", "workbench", ["--bogus"]),
        ("workbench summary missing", "workbench", ["summary", str(tmp / "nowhere")]),
        ("export --step 3 (none)", "seedling.export", [str(run), str(tmp / "hf-out"), "--to", "hf", "--step", "3"]),
        ("export --to onnx", "seedling.export", [str(run), str(tmp / "hf-out"), "--to", "onnx"]),
    ]


def prepare(tmp: Path, run: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "random-bytes").mkdir()
    for i in range(3):
        (tmp / "random-bytes" / f"f{i}.txt").write_bytes(b"\xff\xfe" + os.urandom(2000))
    (tmp / "bad-config").mkdir()
    (tmp / "bad-config" / "config.json").write_text("{ not json")
    (tmp / "report-dir").mkdir()
    (tmp / "a-file.csv").write_text("keep me\n")


def bad_inputs(h: Harness, names: set[str] | None = None) -> Result:
    """Every case: exit 2, one line, the run directory and the scratch directory unchanged."""
    r = Result("bad inputs")
    run = h.base()
    tmp = h.work / "bad-input"
    prepare(tmp, run)
    for name, module, argv in cases(h, run, tmp):
        if names is not None and name not in names:
            continue
        before = (tree_hash(run), tree_hash(tmp))
        p = h.run(module, argv)
        after = (tree_hash(run), tree_hash(tmp))
        ok = p.rc == 2 and one_line(p.err) and after == before
        r.check(ok, f"{name}: rc {p.rc}, changed {after != before}, stderr {p.err.strip()[-300:]!r}")
    return r
