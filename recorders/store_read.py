"""Read a record store safely: only committed records, even while a writer appends or after it was killed.

`xarray.open_zarr(url, group=g, consolidated=False)` works on a store at rest, but refuses a group
whose arrays differ in length, which they do for a moment during every append and for good after
a crash. `committed_dataset` reads the group's `committed` marker first and then opens each
array lazily, cut to that many rows. numpy, xarray and zarr only (no torch).
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
from recorders.store_schema import StoreError

__all__ = ["committed_dataset", "store_summary"]

log = logging.getLogger(__name__)

# While a writer works, zarr's LocalStore leaves `<name>.<uuid>.partial` files for an instant (it
# writes to them and renames them into place); listing a group then warns about them. Harmless.
warnings.filterwarnings("ignore", message=r"Object at .*\.partial is not recognized", category=UserWarning)


def committed_dataset(url: str | Path, group: str, *, attempts: int = 5) -> xr.Dataset:
    """The first `committed` records of recorded `group` as a lazy xarray Dataset indexed by `step`.

    A static group (no step dimension, e.g. `probe`) is returned whole. Arrays load on access
    (`.values`, `.load()`), so opening a large group is cheap. Raises StoreError when the group
    does not exist, naming those that do.

    The rare race with a writer that cuts the store back (on resume) while we open it is retried
    `attempts` times.
    """
    for attempt in range(attempts):
        try:
            return _open_committed(url, group)
        except _Moving:
            time.sleep(0.05 * (attempt + 1))
    return _open_committed(url, group)


class _Moving(Exception):
    """The writer changed the group between reading its marker and its arrays."""


def _open_committed(url: str | Path, group: str) -> xr.Dataset:
    root = _open_root(url)
    if group not in root.group_keys():
        raise StoreError(f"record store {url} has no group {group!r}; it has: {', '.join(sorted(root.group_keys())) or 'none'}")
    zs = ZarrStore.open_group(zarr_store_for(url, read_only=True), group=group, mode="r", consolidated=False, zarr_format=3)
    try:
        attrs = dict(zs.get_attrs())
        variables = zs.get_variables()
    finally:
        zs.close()
    committed = attrs.get("committed")
    if committed is None:
        if not attrs.get("static", False):
            raise StoreError(f"record store {url}: static group {group!r} was not completely written (no 'static' marker)")
        return xr.decode_cf(xr.Dataset(variables, attrs=attrs), decode_times=False, decode_timedelta=False)
    short = [name for name, var in variables.items() if var.sizes.get("step", 0) < committed]
    if short:
        raise _Moving(short)
    cut = {name: var.isel(step=slice(0, committed)) for name, var in variables.items()}
    return xr.decode_cf(xr.Dataset(cut, attrs=attrs), decode_times=False, decode_timedelta=False)


def store_summary(url: str | Path) -> dict[str, Any]:
    """Root attributes and, per group: committed records (None for static groups), variables, sizes.

    `record_bytes` is the uncompressed size of one record (every array's row, `step` included:
    the product of its shape after `step` times its item size); `disk_bytes` is what the group's
    files take (local stores only, else None), so `disk_bytes / committed` estimates the bytes a
    record costs on disk after compression.
    """
    root = _open_root(url)
    path = local_path(url)
    groups: dict[str, Any] = {}
    for name, group in root.groups():
        committed = group.attrs.get("committed")
        arrays = dict(group.arrays())
        row_bytes = [int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize
                     for a in arrays.values() if isinstance(a.dtype, np.dtype) and a.dtype.kind in "biuf"]
        groups[name] = {
            "committed": None if committed is None else int(committed),
            "variables": sorted(k for k in arrays if k != "step"),
            "record_bytes": None if committed is None else int(sum(row_bytes)),
            "disk_bytes": None if path is None else sum(f.stat().st_size for f in (path / name).rglob("*") if f.is_file()),
        }
    return {"attrs": dict(root.attrs), "groups": groups}


def _open_root(url: str | Path) -> zarr.Group:
    try:
        root = zarr.open_group(store=zarr_store_for(url, read_only=True), mode="r", zarr_format=3)
    except FileNotFoundError:
        raise StoreError(f"no record store at {url}; give the path of a run's records.zarr") from None
    check_schema_version(root.attrs.get("schema_version"), url)
    return root
