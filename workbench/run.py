"""Load a run directory (config, metrics.jsonl, checkpoints, records.zarr) as labelled xarray objects.

Reading is safe while the run is still being written: each group is cut to its ``committed``
attribute (the number of complete records the writer has finished), metadata is never consolidated,
and nothing is cached between calls, so a later ``run.group(...)`` sees later records.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from workbench.errors import MissingMetricError, NotARunError, SchemaVersionError

log = logging.getLogger(__name__)

#: The store schema versions this workbench can read.
SUPPORTED_SCHEMA_VERSIONS = (1,)
_CHECKPOINT_RE = re.compile(r"step_(\d+)\.(pt|safetensors)$")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file: its optimizer step, path and the JSON sidecar (empty dict if absent)."""

    step: int
    path: Path
    sidecar: dict = field(default_factory=dict)


class RunData:
    """A run directory opened for analysis. Build it with :func:`open_run`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.store_path = self.path / "records.zarr"

    def __repr__(self) -> str:
        return f"RunData({str(self.path)!r}, groups={self.groups})"

    @property
    def name(self) -> str:
        """A short label for tables: the directory name (``seed0``) with its parent if it is a seed."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path.name.startswith("seed") else self.path.name

    # -- config, metrics, checkpoints ------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The resolved run config (``config.json``, or the store's root ``config`` attribute)."""
        cfg_file = self.path / "config.json"
        if cfg_file.exists():
            return json.loads(cfg_file.read_text())
        if self.store_path.exists():
            return dict(self._root_attrs().get("config", {}))
        return {}

    @property
    def metrics(self) -> pd.DataFrame:
        """``metrics.jsonl`` as a DataFrame (one row per line; ``event`` is "step" or "eval").

        A half-written last line (the run is still writing) is skipped.
        """
        f = self.path / "metrics.jsonl"
        if not f.exists():
            return pd.DataFrame(columns=["event", "step", "loss", "lr", "grad_norm", "tokens", "elapsed"])
        rows = []
        for line in f.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.debug("skipping incomplete metrics line %r", line[:80])
        df = pd.DataFrame(rows)
        if "event" not in df and len(df):
            df["event"] = "step"
        return df

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """Checkpoints in ``RUN_DIR/checkpoints`` (``step_0000100.pt`` or ``.safetensors``), by step."""
        out = []
        for p in sorted((self.path / "checkpoints").glob("step_*")):
            m = _CHECKPOINT_RE.search(p.name)
            if not m:
                continue
            side = p.with_suffix(".json")
            try:  # an unreadable sidecar reads as none; the verified loader then refuses the file
                sidecar = json.loads(side.read_text()) if side.exists() else {}
            except (OSError, ValueError):
                sidecar = {}
            out.append(Checkpoint(int(m.group(1)), p, sidecar))
        return sorted(out, key=lambda c: c.step)

    # -- the store -------------------------------------------------------------------------------
    def _root_attrs(self) -> dict:
        import zarr

        return dict(zarr.open_group(str(self.store_path), mode="r").attrs)

    def _require_store(self) -> None:
        if not self.store_path.exists():
            raise MissingMetricError(
                f"{self.path} has no records.zarr; train with --record to record trajectories "
                "(python -m seedling.train --record ...)"
            )

    @property
    def schema_version(self) -> int:
        self._require_store()
        return int(self._root_attrs().get("schema_version", -1))

    @property
    def groups(self) -> list[str]:
        """Names of the recorded groups (empty if the run has no store yet)."""
        if not self.store_path.exists():
            return []
        import zarr

        return sorted(zarr.open_group(str(self.store_path), mode="r").group_keys())

    def group(self, name: str) -> xr.Dataset:
        """One group as a Dataset with ``step`` as coordinate, cut to its committed records.

        Arrays are opened one by one (lazily) and cut to the group's ``committed`` attribute, because
        ``xarray.open_zarr`` refuses a group whose arrays differ in length, as they do for a moment
        during every append by a running writer and for good after a writer was killed.
        """
        self._require_store()
        if name not in self.groups:
            raise MissingMetricError(
                f"group {name!r} was not recorded in {self.store_path}; recorded groups: {', '.join(self.groups) or 'none'}"
            )
        for attempt in range(5):
            ds = _open_committed(self.store_path, name)
            if ds is not None:
                return ds
            time.sleep(0.05 * (attempt + 1))  # the writer cut the group back between marker and arrays
        raise MissingMetricError(f"group {name!r} of {self.store_path} kept changing while being read; try again")

    def variable(self, group: str, name: str) -> xr.DataArray:
        """One variable of a group, e.g. ``run.variable("head_scores", "induction")``."""
        ds = self.group(group)
        if name not in ds.data_vars:
            raise MissingMetricError(
                f"variable {name!r} is not in group {group!r}; recorded: {', '.join(sorted(ds.data_vars))}"
            )
        return ds[name]

    def stack_layers(self, group: str, pattern: str) -> xr.DataArray:
        r"""Stack per-layer variables along a new ``layer`` dimension.

        ``pattern`` is a regular expression with one group capturing the layer index, matched against
        the whole variable name, e.g. ``r"blocks\.(\d+)\.hook_resid_post"``.
        """
        ds = self.group(group)
        rx = re.compile(pattern)
        found = {}
        for var in ds.data_vars:
            m = rx.fullmatch(str(var))
            if m:
                found[int(m.group(1))] = ds[var]
        if not found:
            raise MissingMetricError(
                f"no variable of group {group!r} matches {pattern!r}; recorded: {', '.join(sorted(map(str, ds.data_vars)))}"
            )
        layers = sorted(found)
        da = xr.concat([found[layer].rename(None) for layer in layers], dim=pd.Index(layers, name="layer"))
        return da.transpose("step", "layer", ...) if "step" in da.dims else da

    @property
    def record_counts(self) -> dict[str, int | None]:
        """Committed records per group (None for static groups): cheap, and a cache key that changes with new records."""
        if not self.store_path.exists():
            return {}
        import zarr

        root = zarr.open_group(str(self.store_path), mode="r")
        return {name: (None if g.attrs.get("committed") is None else int(g.attrs["committed"])) for name, g in root.groups()}

    def steps(self, group: str) -> np.ndarray:
        """The committed record steps of a group."""
        return self.group(group)["step"].values


def _open_committed(store_path: Path, name: str) -> xr.Dataset | None:
    """The first ``committed`` records of a group (None if some array is shorter: the writer is cutting back)."""
    from xarray.backends import ZarrStore

    zs = ZarrStore.open_group(str(store_path), group=name, mode="r", consolidated=False, zarr_format=3)
    try:
        attrs = dict(zs.get_attrs())
        variables = zs.get_variables()
    finally:
        zs.close()
    committed = attrs.get("committed")
    if committed is not None:
        if any(v.sizes.get("step", committed) < committed for v in variables.values()):
            return None
        variables = {k: (v.isel(step=slice(0, int(committed))) if "step" in v.dims else v) for k, v in variables.items()}
    ds = xr.decode_cf(xr.Dataset(dict(variables), attrs=attrs), decode_times=False, decode_timedelta=False)
    return ds


def open_run(run_dir: str | Path) -> RunData:
    """Open a run directory; raise a clear error if it is not one or its store is too new."""
    path = Path(run_dir)
    if not path.is_dir():
        raise NotARunError(f"{path} is not a directory; give a run directory made by python -m seedling.train")
    markers = [path / "config.json", path / "metrics.jsonl", path / "records.zarr"]
    if not any(m.exists() for m in markers):
        seeds = sorted(p.name for p in path.glob("seed*") if p.is_dir())
        hint = f" (it holds seed runs {', '.join(seeds)}: use open_runs or give one of them)" if seeds else ""
        raise NotARunError(
            f"{path} is not a run directory: it has none of config.json, metrics.jsonl, records.zarr{hint}"
        )
    run = RunData(path)
    if run.store_path.exists():
        version = run.schema_version
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise SchemaVersionError(
                f"{run.store_path} has schema_version {version}; this workbench reads versions "
                f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}: update seedling-workbench to read it"
            )
    return run


def open_runs(paths: list[str | Path]) -> list[RunData]:
    """Open several runs; a directory of seed runs (``seed0``, ``seed1``, ...) expands to its seeds."""
    runs = []
    for p in map(Path, paths):
        seeds = sorted((s for s in p.glob("seed*") if s.is_dir()), key=lambda s: int(re.sub(r"\D", "", s.name) or 0))
        if seeds and not (p / "records.zarr").exists():
            runs.extend(open_run(s) for s in seeds)
        else:
            runs.append(open_run(p))
    return runs
