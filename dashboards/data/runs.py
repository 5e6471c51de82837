"""Finding runs and taking their signature: what changes while training is still writing to them.

The run directory and its store are read through `workbench.open_run`, the project's one reader.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.run import RunData, open_run

STORE = "records.zarr"
SAMPLES = "samples.jsonl"  # written by seedling.train.samples during training (docs/run_dir.md)


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


def run_data(run_dir: str | Path) -> RunData | None:
    """The run opened by workbench (cheap: nothing is read until asked); None if it cannot be opened."""
    try:
        return open_run(run_dir)
    except WorkbenchError:
        return None


def record_counts(run_dir: str | Path) -> dict[str, int | None]:
    """Committed records per group (None for static groups); {} without a readable store."""
    run = run_data(run_dir)
    try:
        return run.record_counts if run is not None else {}
    except (OSError, ValueError, KeyError):
        return {}


def committed(run_dir: Path, group: str) -> int | None:
    """Complete records of a group (its `committed` attribute), or None if the group is missing."""
    return record_counts(run_dir).get(group)


def signature(run_dir: Path) -> tuple:
    """What changes while a run is being written; used as part of every cache key."""
    run_dir = Path(run_dir)
    counts = tuple(sorted(record_counts(run_dir).items()))
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
    """Groups present in the store (with at least one committed record, except the static `probe`)."""
    return sorted(g for g, c in record_counts(run_dir).items() if c is None or c > 0)
