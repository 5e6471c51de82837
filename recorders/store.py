"""The record store writer: buffers records per group and appends them to Zarr in blocks on a background thread.

A training run calls `append(group, step, values, meta)` once per group at each record step; the
writer copies the values, and when `block_size` records of a group are buffered it hands them to
a writer thread, which appends them (data first, then the group's `committed` marker; see
`recorders.store_disk` and docs/store.md). The training thread never waits for disk unless it
calls `flush()` (as a checkpoint does) or the queue of pending blocks is full.

Places are coordinates (schema 2): a variable over parameters has a `site` dimension labelled by
a `Coord`, given with the group's first record.

>>> import numpy as np
>>> meta = {"norm": VarMeta(("site",), "Frobenius norm", "1", "sqrt of the sum of squares")}
>>> coords = {"site": Coord("site", ["wte.weight", "blocks.0.ln_1.weight"], "parameter"),
...           "layer": Coord("site", [-1, 0], "block index (-1: outside the blocks)")}
>>> with StoreWriter("memory://doctest/records.zarr", root_attrs={"package_version": "0"}) as w:
...     for step in (0, 10, 20):
...         w.append("weight_norm", step, {"norm": np.array([1.0, 2.0]) + step}, meta, coords=coords)
>>> from workbench.store import read_group
>>> read_group("memory://doctest/records.zarr", "weight_norm").norm.sel(site="wte.weight").values.tolist()
[1.0, 11.0, 21.0]
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recorders.store_checks import check_dim_sizes, check_dims, complete_coords, meta_for
from recorders.store_disk import GroupInfo, ZarrSide, open_root, remove_partial_files
from recorders.store_schema import (
    DIMENSIONS,
    SCHEMA_VERSION,
    Coord,
    StoreError,
    StoreSchemaError,
    StoreWriteError,
    VarMeta,
    check_name,
)

__all__ = [
    "DIMENSIONS",
    "SCHEMA_VERSION",
    "Coord",
    "StoreError",
    "StoreSchemaError",
    "StoreWriteError",
    "StoreWriter",
    "VarMeta",
]

log = logging.getLogger(__name__)


@dataclass
class _Group:
    """The training thread's view of one recorded group: its variables, last step and buffered records."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    last_step: int | None = None
    steps: list[int] = field(default_factory=list)
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: GroupInfo) -> _Group:
        return cls(shapes=dict(info.shapes), dtypes=dict(info.dtypes), last_step=info.last_step)

    def take(self) -> tuple[list[int], dict[str, list[np.ndarray]]]:
        """Hand over the buffered records and start an empty buffer."""
        steps, rows = self.steps, self.rows
        self.steps, self.rows = [], {}
        return steps, rows


@dataclass
class _Job:
    run: Callable[[], Any]
    done: threading.Event | None = None
    result: Any = None
    refused: StoreError | None = None  # a user error found on the writer thread; nothing was written


class StoreWriter:
    """Write a record store (Zarr v3) at a local path or fsspec URL; resume one that exists.

    Opening an existing store checks its `schema_version` (a newer one raises StoreSchemaError)
    and cuts every group back to its commit marker, removing the rows a killed writer left half
    written. `background=False` writes on the calling thread (simpler to debug, same protocol).
    `max_pending` bounds the blocks waiting for the writer thread; when that many wait, `append`
    waits too, so a slow disk slows training rather than filling memory.
    `only` names the groups this writer owns: it recovers, cuts back and writes those alone and
    leaves every other group (and its temporary files) untouched, so a second writer (a replay)
    can add groups to a store a training run is still writing. Each group has one writer.
    """

    def __init__(
        self,
        url: str | Path,
        *,
        root_attrs: Mapping[str, Any],
        block_size: int = 64,
        background: bool = True,
        max_pending: int = 16,
        only: Collection[str] | None = None,
    ) -> None:
        if not isinstance(block_size, int) or isinstance(block_size, bool) or not 1 <= block_size <= 4096:
            raise StoreError(f"block_size={block_size!r} is not accepted; give an integer from 1 to 4096 (64 to 1024 is usual)")
        if "schema_version" in root_attrs and root_attrs["schema_version"] != SCHEMA_VERSION:
            raise StoreSchemaError(
                f"root_attrs schema_version={root_attrs['schema_version']!r}: this writer writes version {SCHEMA_VERSION}"
            )
        self.url = str(url)
        self.block_size = block_size
        self.only = None if only is None else frozenset(only)
        removed = remove_partial_files(url, self.only)
        if removed:
            log.info("record store %s: removed %d temporary files left by an interrupted writer", url, removed)
        self._disk = ZarrSide(open_root(url, root_attrs))
        self._groups = {name: _Group.from_info(info) for name, info in self._disk.recover(self.only).items()}
        self._error: BaseException | None = None
        self._closed = False
        self._queue: queue.Queue[_Job | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=max_pending)
            self._thread = threading.Thread(target=self._work, name="record-store-writer", daemon=True)
            self._thread.start()

    # -- public API -----------------------------------------------------------------------------------

    def append(
        self,
        group: str,
        step: int,
        values: Mapping[str, Any],
        meta: Mapping[str, VarMeta],
        *,
        attrs: Mapping[str, Any] | None = None,
        coords: Mapping[str, Coord] | None = None,
    ) -> None:
        """Buffer one record of `group` at `step`; write a block when `block_size` records are buffered.

        `values` maps variable name to an array (or scalar) shaped as its VarMeta.dims; the first
        record of a group fixes its variables and their shapes (and creates the arrays, with the
        group attributes `attrs` and the coordinates `coords`; index dimensions without one get
        0..n-1). Steps must increase strictly within a group.
        """
        self._check_open()
        check_name("group", group)
        self._check_owned(group)
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise StoreError(f"append({group!r}): step {step!r} is not accepted; give a non-negative integer")
        step = int(step)
        state = self._groups.get(group)
        if state is None:
            state = self._new_group(group, values, meta, attrs or {}, coords or {})
        if state.last_step is not None and step <= state.last_step:
            raise StoreError(
                f"append({group!r}): step {step} is not after the group's last step {state.last_step}; "
                "steps must increase strictly (on resume, call truncate_after(checkpoint step) first)"
            )
        rows = self._conform(group, state, values)
        state.steps.append(step)
        for var, row in rows.items():
            state.rows.setdefault(var, []).append(row)
        state.last_step = step
        if len(state.steps) >= self.block_size:
            self._submit_block(group, state)

    def last_step(self, group: str) -> int | None:
        """The last step of recorded `group` (buffered or on disk); None when the group has no records."""
        state = self._groups.get(group)
        return None if state is None else state.last_step

    def flush(self, wait: bool = True) -> None:
        """Write every buffered record; with `wait`, return only when they are committed on disk."""
        self._check_open()
        for group, state in self._groups.items():
            if state.steps:
                self._submit_block(group, state)
        if wait:
            self._call(lambda: None)

    def truncate_after(self, step: int) -> dict[str, int]:
        """Cut every recorded group back to its records with step <= `step`; returns {group: records kept}.

        Used when a run resumes from the checkpoint of step S: records after S are recorded again,
        so each step ends up in the store exactly once. A group left without records is removed
        (its next record may bring other variables); `step` < 0 (a fresh run over an old store)
        removes the static groups too.
        """
        self.flush(wait=True)
        kept = self._call(lambda: self._disk.truncate_after(int(step)))
        for group, (n, last) in kept.items():
            if n == 0:
                del self._groups[group]  # removed from the store; the next record creates it anew
            else:
                self._groups[group].last_step = last
        return {group: n for group, (n, _last) in kept.items()}

    def write_static(
        self,
        group: str,
        values: Mapping[str, Any],
        meta: Mapping[str, VarMeta],
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Write a group without a step dimension (the probe stimulus set), once; waits until written.

        On resume the same values may be written again (a no-op); different values raise StoreError.
        """
        self._check_open()
        check_name("group", group)
        self._check_owned(group)
        if group in self._groups:
            raise StoreError(f"write_static({group!r}): {group!r} is a recorded group with steps; pick another name")
        arrays: dict[str, np.ndarray] = {}
        for var, value in values.items():
            check_name("variable", var)
            m = meta_for(group, var, meta)
            arr = np.array(value, dtype=m.numpy_dtype)
            check_dims(group, var, arr.shape, m)
            arrays[var] = arr
        check_dim_sizes(group, {v: (a.shape, meta[v]) for v, a in arrays.items()})
        self._call(lambda: self._disk.write_static(group, arrays, meta, attrs or {}))

    def close(self) -> None:
        """Write what is buffered and stop the writer thread. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._error is None:
                self.flush(wait=True)
        finally:
            self._closed = True
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
        self._raise_if_failed()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StoreWriter({self.url!r}, groups={sorted(self._groups)}, block_size={self.block_size})"

    # -- validation -----------------------------------------------------------------------------------

    def _new_group(
        self, group: str, values: Mapping[str, Any], meta: Mapping[str, VarMeta], attrs: Mapping, coords: Mapping[str, Coord]
    ) -> _Group:
        if not values:
            raise StoreError(f"append({group!r}): values is empty; a record needs at least one variable")
        specs: dict[str, tuple[tuple[int, ...], VarMeta]] = {}
        for var, value in values.items():
            check_name("variable", var)
            m = meta_for(group, var, meta)
            if m.dtype == "str":
                raise StoreError(f"append({group!r}): {var} has dtype 'str', which only static groups accept")
            shape = np.shape(value)
            check_dims(group, var, shape, m)
            specs[var] = (shape, m)
        check_dim_sizes(group, specs)
        coords = complete_coords(group, specs, coords)
        state = _Group(shapes={v: s for v, (s, _m) in specs.items()}, dtypes={v: m.numpy_dtype for v, (_s, m) in specs.items()})
        self._groups[group] = state
        block = self.block_size
        self._call(lambda: self._disk.create_group(group, specs, block, attrs, coords), wait=False)
        return state

    def _conform(self, group: str, state: _Group, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Copy `values` into fresh arrays of the stored dtypes, checking names and shapes against the group."""
        if values.keys() != state.shapes.keys():
            missing = sorted(set(state.shapes) - set(values))
            extra = sorted(set(values) - set(state.shapes))
            raise StoreError(
                f"append({group!r}): variables differ from the group's first record (missing {missing}, new {extra}); "
                "every record of a group must hold the same variables"
            )
        rows = {}
        for var, value in values.items():
            # A copy: the caller may reuse its buffers before the writer thread gets to them.
            row = np.array(value, dtype=state.dtypes[var], copy=True)
            if row.shape != state.shapes[var]:
                raise StoreError(
                    f"append({group!r}): {var} has shape {row.shape} but the group stores {state.shapes[var]}; "
                    "a variable's shape must stay the same across records"
                )
            rows[var] = row
        return rows

    # -- the writer thread ------------------------------------------------------------------------------

    def _submit_block(self, group: str, state: _Group) -> None:
        steps, rows = state.take()
        self._call(lambda: self._disk.write_block(group, steps, rows), wait=False)

    def _call(self, run: Callable[[], Any], wait: bool = True) -> Any:
        """Run `run` on the writer thread (or here when not in the background); with `wait`, return its result."""
        self._raise_if_failed()
        if self._queue is None:
            try:
                return run()
            except StoreError:
                raise
            except BaseException as err:
                self._error = err
                raise StoreWriteError(f"record store {self.url}: write failed: {err}") from err
        job = _Job(run, threading.Event() if wait else None)
        self._queue.put(job)
        if not wait:
            return None
        job.done.wait()
        self._raise_if_failed()
        if job.refused is not None:
            raise job.refused
        return job.result

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if self._error is None:  # after a failure nothing more is written: it would leave gaps
                    job.result = job.run()
            except StoreError as err:
                if job.done is None:  # nobody waits for this job: treat it as a failed write
                    self._error = err
                job.refused = err
            except BaseException as err:  # surfaces on the training thread's next call
                log.error("record store %s: background write failed: %s", self.url, err)
                self._error = err
            finally:
                if job.done is not None:
                    job.done.set()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StoreWriteError(f"record store {self.url}: an earlier write failed: {self._error}") from self._error

    def _check_owned(self, group: str) -> None:
        if self.only is not None and group not in self.only:
            raise StoreError(f"group {group!r} is not one this writer owns ({', '.join(sorted(self.only))}); "
                             "open a StoreWriter with only= naming it")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"record store {self.url}: the writer is closed; open a new StoreWriter to write more")
        self._raise_if_failed()
