"""Finding runs and taking their signature: what changes while training is still writing to them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

STORE = "records.zarr"
SAMPLES = "samples.jsonl"  # written by seedling.train.samples during training (docs/run_dir.md)
GROUPS = ("loss", "optim", "weight_norm", "grad_norm", "update_ratio", "attn_entropy", "attn_pattern",
          "head_scores", "act_stats", "act_sample", "probe", "constructs")


class RunsError(ValueError):
    """The runs directory or a run in it cannot be read; the message says what was expected."""


def runs_root(argv: list[str]) -> Path:
    """The runs directory from the app's own arguments (`streamlit run dashboards/app.py -- --runs DIR`)."""
    parser = argparse.ArgumentParser(prog="dashboards/app.py", description="Seedling Workbench dashboard.")
    parser.add_argument("--runs", default="runs",
                        help="a run directory, or a directory holding run directories (default: runs)")
    args, _unknown = parser.parse_known_args(argv)
    return Path(args.runs).expanduser()


def is_run(path: Path) -> bool:
    """A run directory holds at least one of config.json, metrics.jsonl or records.zarr."""
    return any((path / name).exists() for name in ("config.json", "metrics.jsonl", STORE))


def find_runs(root: Path) -> list[Path]:
    """Run directories: `root` itself if it is one, else its sub-directories (two levels) that are runs."""
    root = Path(root)
    if not root.is_dir():
        raise RunsError(f"runs directory {str(root)!r} does not exist; start the app with "
                        "`streamlit run dashboards/app.py -- --runs DIR` where DIR holds runs made by "
                        "`python -m seedling.train --out DIR/NAME`")
    if is_run(root):
        return [root]
    found = sorted(p for p in root.iterdir() if p.is_dir() and is_run(p))
    found += sorted(q for p in root.iterdir() if p.is_dir() and not is_run(p) for q in p.iterdir()
                    if q.is_dir() and is_run(q))
    return found


def group_meta(run_dir: Path, group: str) -> dict | None:
    """The metadata (zarr.json) of one group of the run's store, or None if it is missing or unreadable."""
    meta = run_dir / STORE / group / "zarr.json"
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError):
        return None


def committed(run_dir: Path, group: str) -> int | None:
    """Complete records of a group (its `committed` attribute), or None if the group is missing."""
    meta = group_meta(Path(run_dir), group)
    if meta is None:
        return None
    return int(meta.get("attributes", {}).get("committed", 0))


def signature(run_dir: Path) -> tuple:
    """What changes while a run is being written; used as part of every cache key."""
    run_dir = Path(run_dir)
    counts = tuple((g, committed(run_dir, g)) for g in GROUPS)
    files = tuple(_file_stamp(run_dir / name) for name in ("metrics.jsonl", SAMPLES))
    ckpts = tuple(sorted(p.name for p in run_dir.glob("checkpoints/*")))
    return counts, files, ckpts


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def available_groups(run_dir: Path) -> list[str]:
    """Groups present in the store (with at least one committed record, except `probe`)."""
    return [g for g in GROUPS if (c := committed(Path(run_dir), g)) is not None and (c > 0 or g == "probe")]
