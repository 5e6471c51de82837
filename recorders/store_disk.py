"""Zarr side of the record store: open or create it, check its schema, append blocks, cut back, write static groups.

Everything here runs on one thread (the writer's background thread, or the caller's when
`background=False`) and is the only code that changes the store. The order of writes is the
commit protocol of docs/store.md:

- growing a group: resize every array, write the rows, then set the group attribute `committed`;
- shrinking a group: set `committed` first, then cut the arrays;
so at every moment each array holds at least `committed` complete rows, and a reader (or a
resumed writer) that reads only the first `committed` rows never sees a half-written record.
Local stores are written through zarr's LocalStore, which writes each file to a temporary name
and renames it into place, so a killed process leaves no torn chunk or metadata file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import zarr
import zarr.api.asynchronous
from zarr.core.array import AsyncArray
from zarr.core.group import AsyncGroup
from zarr.core.sync import sync as zarr_sync
from zarr.storage import LocalStore

from recorders.store_schema import SCHEMA_VERSION, Coord, StoreError, StoreSchemaError, VarMeta

log = logging.getLogger(__name__)

# Chunking along `step`. Small records (a norm: 4 bytes) would make 64-step chunks of a few hundred
# bytes, thousands of tiny files and slow reads, so chunks hold up to TARGET_CHUNK_BYTES, at most
# MAX_CHUNK_STEPS steps. Not more: each block rewrites the partly filled chunk it lands in (read,
# decompress, compress, write), so big chunks of mid-size records cost the writer more. A reader
# that wants one step of a large variable (an attention pattern) decompresses a whole chunk, so no
# chunk exceeds MAX_CHUNK_BYTES unless one record does.
TARGET_CHUNK_BYTES = 2**18
MAX_CHUNK_BYTES = 16 * 2**20
MAX_CHUNK_STEPS = 1024
_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")  # zarr LocalStore's temporary files


def zarr_store_for(url: str | Path, *, read_only: bool = False) -> Any:
    """What to hand `zarr.open_group` for `url`: a LocalStore for a path or file:// URL, else the URL itself.

    Local paths go through LocalStore because it writes atomically (temporary file + rename);
    other fsspec URLs (memory://, s3://, ...) are passed on for zarr to open with fsspec.
    """
    path = local_path(url)
    if path is None:
        return str(url)
    return LocalStore(path, read_only=read_only)


def local_path(url: str | Path) -> Path | None:
    """The filesystem path of a plain path or file:// URL; None for any other URL."""
    if isinstance(url, Path):
        return url
    if "://" not in url:
        return Path(url)
    parsed = urlparse(url)
    return Path(unquote(parsed.netloc + parsed.path)) if parsed.scheme == "file" else None


def fill_value_for(dtype: np.dtype) -> Any:
    """Fill value of a new array: NaN for floats (a missing row shows as NaN), else zero or ''."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "O":
        return ""
    return False if dtype.kind == "b" else 0


def chunk_steps(record_bytes: int, block_size: int) -> int:
    """Steps per chunk for records of `record_bytes`: about 256 KiB per chunk, within [block_size, 1024] steps.

    Records too large for block_size steps in 16 MiB get fewer (at least 1).

    >>> chunk_steps(4, 64), chunk_steps(2048, 64), chunk_steps(131072, 64), chunk_steps(2**20, 64)
    (1024, 128, 64, 16)
    """
    lower = max(1, min(block_size, MAX_CHUNK_BYTES // record_bytes))
    return max(lower, min(MAX_CHUNK_STEPS, TARGET_CHUNK_BYTES // record_bytes))


@dataclass
class GroupInfo:
    """What a recorded group already holds: variable shapes (without step) and dtypes, records, last step."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    committed: int
    last_step: int | None


def open_root(url: str | Path, root_attrs: Mapping[str, Any]) -> zarr.Group:
    """Open the store at `url` for writing, creating it if absent; check its schema; merge `root_attrs` in.

    Raises StoreSchemaError when the path holds something that is not a Seedling record store or
    one written with a newer schema version.
    """
    try:
        json.dumps(dict(root_attrs))
    except TypeError as err:
        raise StoreError(f"root_attrs must be JSON-serialisable (numbers, text, lists, dicts): {err}") from None
    path = local_path(url)
    if path is not None and path.exists():
        if not path.is_dir():
            raise StoreSchemaError(f"{path} is a file, not a record store; give a directory such as RUN_DIR/records.zarr")
        if any(path.iterdir()) and not (path / "zarr.json").exists():
            raise StoreSchemaError(f"{path} is a non-empty directory without zarr.json, so not a record store")
    root = zarr.open_group(store=zarr_store_for(url), mode="a", zarr_format=3)
    found = root.attrs.get("schema_version")
    if found is None and any(True for _ in root.keys()):
        raise StoreSchemaError(f"{url} is a Zarr store without a schema_version attribute, so not a Seedling record store")
    check_schema_version(found, url, allow_missing=True)
    root.attrs.update({**dict(root_attrs), "schema_version": SCHEMA_VERSION})
    return root


def check_schema_version(found: Any, url: str | Path, *, allow_missing: bool = False) -> None:
    """Raise StoreSchemaError unless `found` is the schema version this package reads and writes (SCHEMA_VERSION).

    Schema 1 (one variable per site) is refused, not converted: no store of it is kept by users.
    """
    if found is None and allow_missing:
        return
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise StoreSchemaError(f"{url}: schema_version {found!r} is not valid; expected the integer {SCHEMA_VERSION}")
    if found < SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{url} is a record store of schema_version {found}, older than {SCHEMA_VERSION} which this package reads "
            "(schema 1 named variables by site); retrain the run, or write to a new path"
        )
    if found > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{url} was written with store schema_version {found}, newer than {SCHEMA_VERSION} which this "
            "package reads; upgrade seedling-workbench, or write to a new path"
        )


def remove_partial_files(url: str | Path) -> int:
    """Delete temporary files a killed writer left in a local store; returns how many. Other URLs: 0."""
    path = local_path(url)
    if path is None or not path.is_dir():
        return 0
    stale = [p for p in path.rglob("*.partial") if _PARTIAL.search(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


class ZarrSide:
    """The writes of one StoreWriter, in protocol order. Holds the open arrays of each recorded group.

    Works on zarr's asynchronous API so that the hundreds of arrays of a group (one per parameter
    site) are created, resized and written concurrently: one metadata or chunk file at a time
    costs milliseconds each, which added up to seconds per block.
    """

    def __init__(self, root: zarr.Group) -> None:
        self.root = _run(zarr.api.asynchronous.open_group(store=root.store, path=root.path, mode="r+", zarr_format=3))
        self._groups: dict[str, AsyncGroup] = {}
        self._arrays: dict[str, dict[str, AsyncArray]] = {}  # group -> name -> array ("step" included)
        self._length: dict[str, int] = {}

    # -- resume -------------------------------------------------------------------------------------

    def recover(self) -> dict[str, GroupInfo]:
        """Cut every recorded group back to its commit marker; drop groups that committed nothing.

        Returns what each surviving recorded group holds, so the writer can go on appending.
        Static groups that never finished (no `static` marker) are removed too; they are rewritten.
        """
        return _run(self._recover())

    async def _recover(self) -> dict[str, GroupInfo]:
        infos: dict[str, GroupInfo] = {}
        async for name, group in self.root.groups():
            if "committed" not in group.attrs:
                if not group.attrs.get("static", False):
                    log.warning("record store: removing static group %r left incomplete by an interrupted writer", name)
                    await self.root.delitem(name)
                continue
            committed = int(group.attrs["committed"])
            if committed == 0:
                await self.root.delitem(name)  # may be half-created; append() creates it again
                continue
            arrays = {var: arr async for var, arr in group.arrays() if _along_step(arr)}
            if "step" not in arrays:
                raise StoreSchemaError(f"record store group {name!r} has a commit marker but no step array; it is damaged")
            for var, arr in arrays.items():
                if arr.shape[0] < committed:
                    raise StoreSchemaError(
                        f"record store group {name!r}: {var} has {arr.shape[0]} rows but {committed} are committed; "
                        "the store is damaged"
                    )
            long = [arr for arr in arrays.values() if arr.shape[0] > committed]
            if long:
                log.info("record store: cutting %d arrays of %s back to %d committed rows", len(long), name, committed)
                await asyncio.gather(*(arr.resize((committed, *arr.shape[1:])) for arr in long))
            self._groups[name], self._arrays[name], self._length[name] = group, arrays, committed
            last = await arrays["step"].getitem(committed - 1)
            infos[name] = GroupInfo(
                shapes={v: tuple(a.shape[1:]) for v, a in arrays.items() if v != "step"},
                dtypes={v: _numpy_dtype(a) for v, a in arrays.items() if v != "step"},
                committed=committed,
                last_step=int(last),
            )
        return infos

    # -- recorded groups ----------------------------------------------------------------------------

    def create_group(
        self,
        name: str,
        specs: Mapping[str, tuple[tuple[int, ...], VarMeta]],
        block_size: int,
        attrs: Mapping[str, Any],
        coords: Mapping[str, Coord],
    ) -> None:
        """Create recorded group `name` with zero records: its `step` array, one array per variable, its coordinates.

        Coordinates are written whole, before the group's first commit; each variable's `coordinates`
        attribute lists the non-dimension coordinates along its dimensions (the CF convention xarray
        reads), so they open as coordinates, not data.
        """
        _run(self._create_group(name, specs, block_size, attrs, coords))

    async def _create_group(self, name, specs, block_size, attrs, coords) -> None:
        if await self.root.contains(name):
            raise StoreError(f"record store: group {name!r} already exists (a static group?); pick another name")
        group = await self.root.create_group(name, attributes={**dict(attrs), "committed": 0})
        step_attrs = {"long_name": "optimizer step", "units": "steps",
                      "reduction": "optimizer steps completed when the record was taken"}
        jobs = {"step": group.create_array("step", overwrite=True, shape=(0,), chunks=(chunk_steps(8, block_size),), dtype="int64", fill_value=0,
                                           dimension_names=["step"], attributes=step_attrs)}
        for var, (shape, meta) in specs.items():
            dtype = meta.numpy_dtype
            record_bytes = max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
            aux = [c for c, coord in coords.items() if c != coord.dim and coord.dim in meta.dims]
            jobs[var] = group.create_array(  # overwrite: leftovers of a group whose deletion was cut short
                var, overwrite=True, shape=(0, *shape), chunks=(chunk_steps(record_bytes, block_size), *(max(1, s) for s in shape)),
                dtype=_zarr_dtype(meta), fill_value=fill_value_for(dtype),
                dimension_names=["step", *meta.dims],
                attributes={**meta.array_attrs(), **({"coordinates": " ".join(aux)} if aux else {})},
            )
        arrays = await asyncio.gather(*jobs.values())
        await asyncio.gather(*(_write_whole(group, c, coord.values, coord.meta) for c, coord in coords.items()))
        self._groups[name], self._arrays[name], self._length[name] = group, dict(zip(jobs, arrays)), 0

    def write_block(self, name: str, steps: list[int], rows: Mapping[str, list[np.ndarray]]) -> int:
        """Append records to group `name`: resize all arrays, write the rows, then commit. Returns the new count."""
        data = {"step": np.asarray(steps, dtype=np.int64), **{v: np.stack(r) for v, r in rows.items()}}
        return _run(self._write_block(name, data))

    async def _write_block(self, name: str, data: Mapping[str, np.ndarray]) -> int:
        arrays = self._arrays[name]
        n, k = self._length[name], len(data["step"])
        # All resizes first, so the stretch in which arrays differ in length (and a plain
        # xarray.open_zarr would refuse the group) is as short as it can be.
        await asyncio.gather(*(arr.resize((n + k, *arr.shape[1:])) for arr in arrays.values()))
        await asyncio.gather(*(arr.setitem(slice(n, n + k), data[var]) for var, arr in arrays.items()))
        await self._set_committed(name, n + k)  # the commit marker, after the data
        return n + k

    async def _set_committed(self, name: str, n: int) -> None:
        self._groups[name] = await self._groups[name].update_attributes({"committed": n})
        self._length[name] = n

    def truncate_after(self, max_step: int) -> dict[str, tuple[int, int | None]]:
        """Cut every recorded group to its records with step <= max_step. Returns {group: (records, last step)}."""
        return _run(self._truncate_after(max_step))

    async def _truncate_after(self, max_step: int) -> dict[str, tuple[int, int | None]]:
        out: dict[str, tuple[int, int | None]] = {}
        for name, arrays in list(self._arrays.items()):
            n = self._length[name]
            steps = np.asarray(await arrays["step"].getitem(slice(0, n))) if n else np.zeros(0, dtype=np.int64)
            keep = int(np.searchsorted(steps, max_step, side="right"))
            if keep < n or keep == 0:
                await self._set_committed(name, keep)  # marker first when shrinking
                if keep == 0:
                    # Nothing left: remove the group, so the next record may bring other variables or
                    # shapes (a fresh run over an old store); append() creates it again.
                    await self.root.delitem(name)
                    del self._groups[name], self._arrays[name], self._length[name]
                else:
                    await asyncio.gather(*(arr.resize((keep, *arr.shape[1:])) for arr in arrays.values()))
                log.info("record store: cut %s from %d to %d records (steps <= %d)", name, n, keep, max_step)
            out[name] = (keep, int(steps[keep - 1]) if keep else None)
        if max_step < 0:  # the run starts over: its stimulus set is written afresh too
            async for name, group in self.root.groups():
                if "committed" not in group.attrs:
                    await self.root.delitem(name)
        return out

    # -- static groups --------------------------------------------------------------------------------

    def write_static(
        self, name: str, values: Mapping[str, np.ndarray], meta: Mapping[str, VarMeta], attrs: Mapping[str, Any]
    ) -> None:
        """Write a group without a step dimension, then mark it `static: true`. Identical rewrite: no-op."""
        _run(self._write_static(name, values, meta, attrs))

    async def _write_static(self, name, values, meta, attrs) -> None:
        if await self.root.contains(name):
            group = await self.root.getitem(name)
            if not isinstance(group, AsyncGroup) or "committed" in group.attrs:
                raise StoreError(f"record store: {name!r} is a recorded group (it has steps), not a static one")
            stored = {var: np.asarray(await arr.getitem(...)) async for var, arr in group.arrays()}
            _check_same_static(name, stored, values)
            return
        group = await self.root.create_group(name, attributes=dict(attrs))
        for var, value in values.items():
            await _write_whole(group, var, value, meta[var])
        await group.update_attributes({"static": True})  # written last: the static group's commit marker


async def _write_whole(group: AsyncGroup, var: str, value: Any, meta: VarMeta) -> None:
    """One array without a step dimension (a static variable or a coordinate), written whole in one chunk."""
    value = np.asarray(value, dtype=meta.numpy_dtype)
    arr = await group.create_array(
        var, overwrite=True, shape=value.shape, chunks=tuple(max(1, s) for s in value.shape), dtype=_zarr_dtype(meta),
        fill_value=fill_value_for(meta.numpy_dtype), dimension_names=list(meta.dims), attributes=meta.array_attrs(),
    )
    await arr.setitem(..., value)


def _along_step(arr: AsyncArray) -> bool:
    """True for the arrays that grow with records (first dimension `step`); False for coordinates."""
    names = getattr(arr.metadata, "dimension_names", None) or ()
    return bool(names) and names[0] == "step"


def _run(coro: Any) -> Any:
    """Run a coroutine on zarr's own event loop (the one its synchronous API uses), from any thread."""
    return zarr_sync(coro)


def _check_same_static(name: str, stored: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray]) -> None:
    if set(stored) != set(values):
        raise StoreError(
            f"record store: static group {name!r} holds {sorted(stored)} but this run writes {sorted(values)}; "
            "a resumed run must write the same stimulus set (or use a new store path)"
        )
    for var, value in values.items():
        old = stored[var]
        if old.shape != value.shape or not np.array_equal(np.asarray(old, dtype=value.dtype), value):
            raise StoreError(
                f"record store: static group {name!r} variable {var!r} differs from the stored one; "
                "a resumed run must write the same stimulus set (or use a new store path)"
            )


def _zarr_dtype(meta: VarMeta) -> Any:
    return str if meta.dtype == "str" else meta.dtype


def _numpy_dtype(arr: AsyncArray) -> np.dtype:
    dtype = arr.dtype
    if isinstance(dtype, np.dtype):
        return np.dtype(object) if dtype.kind in ("T", "U") else dtype
    return np.dtype(object)
