"""Run directories for the workbench tests: the project's one synthetic run, plus the states a live or newer writer leaves."""

from __future__ import annotations

from pathlib import Path

import zarr

from recorders.synthetic_run import make_synthetic_run


def make_run(path: Path, n_records: int = 41, every: int = 50, n_layers: int = 2, n_heads: int = 4, seed: int = 0,
             committed: int | None = None, schema_version: int | None = None) -> Path:
    """A synthetic run (recorders.synthetic_plants: induction head (1, 3), previous-token head (0, 2), midpoints at 30%
    and 25% of the run). `committed` < n_records imitates a writer caught mid-append (arrays longer than the marker);
    `schema_version` overwrites the store's version (a store from another release)."""
    make_synthetic_run(path, n_records, every, n_layers, n_heads, seed)
    root = zarr.open_group(str(path / "records.zarr"), mode="r+")
    if committed is not None:
        for _name, group in root.groups():
            if "committed" in group.attrs:
                group.attrs["committed"] = committed
    if schema_version is not None:
        root.attrs["schema_version"] = schema_version
    return path
