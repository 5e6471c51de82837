"""Load a run directory (config, metrics.jsonl, samples.jsonl, checkpoints, records.zarr) as labelled xarray objects.

`open_run` is the one place that reads a run directory; its store is read through
`workbench.store` (committed records only). Reading is safe while the run is still being written:
metadata is never consolidated and nothing is cached between calls, so a later ``run.group(...)``
sees later records. Places are coordinates (store schema 2): ``run.variable("weight_norm",
"norm").sel(site="wte.weight")``, ``.groupby("layer")``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from recorders.store_schema import SCHEMA_VERSION, StoreError, StoreSchemaError
from workbench import store
from workbench.errors import MissingMetricError, NotARunError, SchemaVersionError, StoreDamageError

log = logging.getLogger(__name__)

#: The store schema versions this workbench can read.
SUPPORTED_SCHEMA_VERSIONS = (SCHEMA_VERSION,)
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
        df = pd.DataFrame(_jsonl(self.path / "metrics.jsonl"))
        if df.empty:
            return pd.DataFrame(columns=["event", "step", "loss", "lr", "grad_norm", "tokens", "elapsed"])
        if "event" not in df:
            df["event"] = "step"
        return df

    @property
    def samples(self) -> pd.DataFrame | None:
        """``samples.jsonl`` as a table, one row per completion: step, tokens, decoding, prompt, completion, ended.

        `ended`: the model produced end-of-text before the token limit. None when the run has no
        samples.jsonl (trained before it existed, or with --samples off); a torn last line is skipped.
        """
        path = self.path / "samples.jsonl"
        if not path.exists():
            return None
        rows = []
        for rec in _jsonl(path):
            limit = (rec.get("settings") or {}).get("max_new_tokens")
            for sample in rec.get("samples") or []:
                if isinstance(sample, dict):
                    n = sample.get("n_tokens")
                    rows.append({"step": rec.get("step"), "tokens": rec.get("tokens"), "decoding": sample.get("decoding"),
                                 "prompt": sample.get("prompt"), "completion": sample.get("completion"),
                                 "ended": n is not None and limit is not None and n < limit})
        return pd.DataFrame(rows, columns=["step", "tokens", "decoding", "prompt", "completion", "ended"])

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """Checkpoints in ``RUN_DIR/checkpoints`` (``step_0000100.pt`` or ``.safetensors``), by step."""
        out = []
        for p in sorted((self.path / "checkpoints").glob("step_*")):
            m = _CHECKPOINT_RE.search(p.name)
            if not m:
                continue
            side = p.with_suffix(".json")
            sidecar = json.loads(side.read_text()) if side.exists() else {}
            out.append(Checkpoint(int(m.group(1)), p, sidecar))
        return sorted(out, key=lambda c: c.step)

    # -- the store -------------------------------------------------------------------------------
    def _root_attrs(self) -> dict:
        return store.root_attrs(self.store_path)

    def _require_store(self) -> None:
        if not self.store_path.exists():
            raise MissingMetricError(
                f"{self.path} has no records.zarr; train with --record to record trajectories "
                "(python -m seedling.train --record ...)"
            )

    @property
    def schema_version(self) -> int:
        self._require_store()
        import zarr

        return int(zarr.open_group(str(self.store_path), mode="r").attrs.get("schema_version", -1))

    @property
    def groups(self) -> list[str]:
        """Names of the recorded groups (empty if the run has no store yet)."""
        return store.group_names(self.store_path) if self.store_path.exists() else []

    def group(self, name: str) -> xr.Dataset:
        """One group as a Dataset with ``step`` as index coordinate and its places as coordinates, committed records only.

        Raises MissingMetricError for a group that was not recorded and StoreDamageError (one line
        naming the group and the damage) for one whose records cannot be read as written.
        """
        self._require_store()
        if name not in self.groups:
            raise MissingMetricError(
                f"group {name!r} was not recorded in {self.store_path}; recorded groups: {', '.join(self.groups) or 'none'}"
            )
        try:
            return store.read_group(self.store_path, name)
        except store.StoreDamagedError as err:
            raise StoreDamageError(str(err)) from None
        except StoreError as err:
            raise MissingMetricError(str(err)) from None

    def variable(self, group: str, name: str) -> xr.DataArray:
        """One variable of a group, e.g. ``run.variable("head_scores", "induction")``."""
        ds = self.group(group)
        if name not in ds.data_vars:
            raise MissingMetricError(
                f"variable {name!r} is not in group {group!r}; recorded: {', '.join(sorted(ds.data_vars))}"
            )
        return ds[name]

    @property
    def record_counts(self) -> dict[str, int | None]:
        """Committed records per group (None for static groups): cheap, and a cache key that changes with new records."""
        return store.committed_counts(self.store_path) if self.store_path.exists() else {}

    def steps(self, group: str) -> np.ndarray:
        """The committed record steps of a group."""
        return self.group(group)["step"].values


def _jsonl(path: Path) -> list[dict]:
    """The JSON objects of a .jsonl file, one per line; a torn line (being written) or a non-object is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            log.debug("skipping incomplete line %r of %s", line[:80], path.name)
            continue
        if isinstance(rec, dict):
            rows.append(rec)
    return rows


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
        try:
            store.root_attrs(run.store_path)  # checks the schema version
        except StoreSchemaError as err:
            raise SchemaVersionError(str(err)) from None
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
