"""The one reader of record stores: committed records only, safe while a writer appends or after it was killed.

`xarray.open_zarr(url, group=g, consolidated=False)` works on a store at rest, but refuses a group
whose arrays differ in length, which they do for a moment during every append and for good after
a crash. `read_group` reads the group's `committed` marker first, then opens each array lazily cut
to that many rows; coordinates (`site`, `layer`, ...) come back as coordinates. Every reader in
the project (workbench.RunData, the dashboards, the tests) goes through here. numpy, xarray and
zarr only: no torch, no scipy.

>>> from recorders.store import StoreWriter, VarMeta
>>> meta = {"lr": VarMeta((), "learning rate", "1", "value used by the step")}
>>> with StoreWriter("memory://store-doc/records.zarr", root_attrs={}) as w:
...     w.append("optim", 0, {"lr": 0.5}, meta)
>>> read_group("memory://store-doc/records.zarr", "optim")["lr"].values.tolist()
[0.5]
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from xarray.backends import ZarrStore

from recorders.store_disk import check_schema_version, local_path, zarr_store_for
from recorders.store_schema import StoreError, StoreSchemaError

__all__ = ["StoreDamagedError", "committed_counts", "group_names", "read_group", "root_attrs", "store_summary"]

log = logging.getLogger(__name__)

# While a writer works, zarr's LocalStore leaves `<name>.<uuid>.partial` files for an instant (it
# writes to them and renames them into place); listing a group then warns about them. Harmless.
warnings.filterwarnings("ignore", message=r"Object at .*\.partial is not recognized", category=UserWarning)


class StoreDamagedError(StoreError):
    """A group's records cannot be read as written: the message names the group and the damage."""


def read_group(url: str | Path, group: str, *, attempts: int = 5) -> xr.Dataset:
    """The first `committed` records of recorded `group` as a lazy xarray Dataset indexed by `step`.

    A static group (no step dimension, e.g. `probe`) is returned whole. Arrays load on access
    (`.values`, `.load()`). A group the writer is still creating comes back empty (a `step` of
    length 0). Raises StoreError when the group does not exist (naming those that do) and
    StoreDamagedError when its records are not in strictly increasing step order or its arrays
    are shorter than the committed count (after `attempts` retries: a writer cutting a group back
    makes that true for a moment).
    """
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return _open_committed(url, group)
        except (_Moving, KeyError, FileNotFoundError) as err:
            last = err
            time.sleep(0.05 * (attempt + 1))
    raise StoreDamagedError(f"record store {url}: group {group!r} is incomplete or damaged ({last}); "
                            "if its writer is still running, try again")


class _Moving(Exception):
    """The writer changed the group between reading its marker and its arrays."""


def _open_committed(url: str | Path, group: str) -> xr.Dataset:
    root = _open_root(url)
    if group not in root.group_keys():
        raise StoreError(f"record store {url} has no group {group!r}; it has: {', '.join(sorted(root.group_keys())) or 'none'}")
    zs = ZarrStore.open_group(zarr_store_for(url, read_only=True), group=group, mode="r", consolidated=False, zarr_format=3)
    try:
        attrs = dict(zs.get_attrs())
        variables = dict(zs.get_variables())
    finally:
        zs.close()
    committed = attrs.get("committed")
    if committed is None:
        if not attrs.get("static", False):
            raise _Moving(f"static group {group!r} has no 'static' marker yet")
        return _decode(variables, attrs)
    if committed == 0:  # the writer may still be creating the arrays: show what exists, empty
        cut = {name: (var.isel(step=slice(0, 0)) if "step" in var.dims else var) for name, var in variables.items()}
        return _decode(cut, attrs).assign_coords(step=np.zeros(0, dtype=np.int64))
    short = [name for name, var in variables.items() if "step" in var.dims and var.sizes["step"] < committed]
    if short or "step" not in variables:
        raise _Moving(f"arrays shorter than the {committed} committed records: {short or ['step']}")
    cut = {name: (var.isel(step=slice(0, committed)) if "step" in var.dims else var) for name, var in variables.items()}
    ds = _decode(cut, attrs)
    steps = ds["step"].values
    if steps.size > 1 and not bool(np.all(np.diff(steps) > 0)):
        bad = int(np.argmax(np.diff(steps) <= 0)) + 1
        raise StoreDamagedError(
            f"record store {url}: group {group!r} is damaged: its steps do not increase at record {bad} "
            f"(step {int(steps[bad - 1])} then {int(steps[bad])}); a chunk was lost or overwritten"
        )
    return ds


def _decode(variables: dict[str, Any], attrs: dict[str, Any]) -> xr.Dataset:
    # decode_coords reads each variable's `coordinates` attribute, so `layer` along `site` is a coordinate.
    ds = xr.decode_cf(xr.Dataset(variables, attrs=attrs), decode_times=False, decode_timedelta=False, decode_coords=True)
    # Text arrives as numpy's variable-width StringDType, which pandas, `.astype(str)` and older numpy
    # code do not take; labels and texts are small, so hand them over as Python strings (object).
    text = {name: ds[name].astype(object) for name in ds.variables if ds[name].dtype.kind == "T"}
    return ds.assign_coords({k: v for k, v in text.items() if k in ds.coords}).assign(
        {k: v for k, v in text.items() if k not in ds.coords})


def root_attrs(url: str | Path) -> dict[str, Any]:
    """The store's root attributes: schema_version, package_version, config, record_spec."""
    return dict(_open_root(url).attrs)


def group_names(url: str | Path) -> list[str]:
    """The store's groups, recorded and static, sorted."""
    return sorted(_open_root(url).group_keys())


def committed_counts(url: str | Path) -> dict[str, int | None]:
    """Committed records per group (None for static groups): cheap, and a cache key that changes with new records."""
    return {name: (None if g.attrs.get("committed") is None else int(g.attrs["committed"]))
            for name, g in _open_root(url).groups()}


def store_summary(url: str | Path) -> dict[str, Any]:
    """Root attributes and, per group: committed records (None for static groups), variables, sizes.

    `record_bytes` is the uncompressed size of one record (every array along `step`, `step`
    included: the product of its shape after `step` times its item size); `disk_bytes` is what
    the group's files take (local stores only, else None), so `disk_bytes / committed` estimates
    the bytes a record costs on disk after compression. `variables` lists the arrays along
    `step`; `coords` the coordinate arrays.
    """
    root = _open_root(url)
    path = local_path(url)
    groups: dict[str, Any] = {}
    for name, group in root.groups():
        committed = group.attrs.get("committed")
        arrays = dict(group.arrays())
        along = {k: a for k, a in arrays.items() if (a.metadata.dimension_names or ("",))[0] == "step"}
        row_bytes = [int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize
                     for a in along.values() if isinstance(a.dtype, np.dtype) and a.dtype.kind in "biuf"]
        groups[name] = {
            "committed": None if committed is None else int(committed),
            "variables": sorted(k for k in (along if committed is not None else arrays) if k != "step"),
            "coords": sorted(k for k in arrays if k not in along) if committed is not None else [],
            "record_bytes": None if committed is None else int(sum(row_bytes)),
            "disk_bytes": None if path is None else sum(f.stat().st_size for f in (path / name).rglob("*") if f.is_file()),
        }
    return {"attrs": dict(root.attrs), "groups": groups}


def _open_root(url: str | Path) -> zarr.Group:
    try:
        root = zarr.open_group(store=zarr_store_for(url, read_only=True), mode="r", zarr_format=3)
    except FileNotFoundError:
        raise StoreError(f"no record store at {url}; give the path of a run's records.zarr") from None
    found = root.attrs.get("schema_version")
    if found is None:
        raise StoreSchemaError(f"{url} is a Zarr store without a schema_version attribute, so not a Seedling record store")
    check_schema_version(found, url)
    return root
