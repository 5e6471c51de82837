"""Is the record store whole? A check of every recorded group before a command reads it.

A store damaged outside the writer's control (a deleted or truncated chunk file, a lost group
attribute) must not turn into published numbers or tracebacks. Per recorded group this checks:

- the `committed` marker is a record count and every array holds at least that many rows;
- the committed steps increase strictly (a lost `step` chunk reads back as zeros: [0, 0, 0, 20]);
- every chunk of the committed rows decodes (the whole store when it is under `full_bytes`,
  else each array's first and last chunk, which is where writes and kills land).

`StoreDamageError` names the group and the damage in one line; the command line prints it and
exits 2. `check_steps` is the step rule alone, for a reader that already holds the steps.
numpy and zarr only (no torch).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError

__all__ = ["StoreDamageError", "check_steps", "check_store"]

FULL_CHECK_BYTES = 256 * 2**20  # decode every chunk of stores up to this size (uncompressed)


class StoreDamageError(WorkbenchError):
    """A recorded group that cannot be read back as written."""


def check_steps(group: str, steps: np.ndarray) -> None:
    """StoreDamageError unless `steps` increase strictly.

    >>> check_steps("loss", np.array([0, 1, 2]))
    >>> check_steps("loss", np.array([0, 0, 20]))
    Traceback (most recent call last):
    ...
    workbench.integrity.StoreDamageError: group 'loss' is damaged: its steps do not increase at records 0..1 (0, 0); a chunk of its step array was lost or overwritten
    """
    steps = np.asarray(steps)
    bad = np.flatnonzero(np.diff(steps) <= 0)
    if bad.size:
        i = int(bad[0])
        raise StoreDamageError(f"group {group!r} is damaged: its steps do not increase at records {i}..{i + 1} "
                               f"({int(steps[i])}, {int(steps[i + 1])}); a chunk of its step array was lost or overwritten")


def check_store(store_path: str | Path, full_bytes: int = FULL_CHECK_BYTES) -> int:
    """Check every recorded group of the store (module docstring); returns the groups checked.

    A path without a store is not damage (0 groups): commands that need records say so themselves."""
    import zarr

    path = Path(store_path)
    if not (path / "zarr.json").is_file():
        return 0
    try:
        root = zarr.open_group(str(path), mode="r", zarr_format=3)
        groups = list(root.groups())
    except Exception as err:  # noqa: BLE001 - unreadable metadata, whatever the parser raised
        raise StoreDamageError(f"record store {path} is damaged: its metadata cannot be read ({err})") from None
    checked = 0
    for name, group in groups:
        marker = group.attrs.get("committed")
        if marker is None:
            continue  # a static group (the probe set)
        if isinstance(marker, bool) or not isinstance(marker, int) or marker < 0:
            raise StoreDamageError(f"group {name!r} is damaged: its 'committed' marker {marker!r} is not a record count")
        arrays = _arrays(name, group)
        if marker == 0:
            continue
        if "step" not in arrays:
            raise StoreDamageError(f"group {name!r} is damaged: it has {marker} committed records but no step array")
        short = sorted(v for v, a in arrays.items() if a.shape[0] < marker)
        if short:
            raise StoreDamageError(f"group {name!r} is damaged: {', '.join(short)} hold fewer than its {marker} "
                                   "committed records")
        check_steps(name, _read(name, "step", arrays["step"], 0, marker))
        total = sum(math.prod(a.shape[1:]) * marker * getattr(a.dtype, "itemsize", 8) for a in arrays.values())
        for var, arr in arrays.items():
            for start in _chunk_starts(arr.chunks[0], marker, every=total <= full_bytes):
                _read(name, var, arr, start, min(start + arr.chunks[0], marker))
        checked += 1
    return checked


def _arrays(name: str, group) -> dict:
    """The arrays that grow with records (first dimension `step`); coordinates are written whole."""
    try:
        return {k: a for k, a in group.arrays() if tuple(getattr(a.metadata, "dimension_names", None) or ())[:1] == ("step",)}
    except Exception as err:  # noqa: BLE001
        raise StoreDamageError(f"group {name!r} is damaged: its arrays' metadata cannot be read ({err})") from None


def _chunk_starts(chunk: int, n: int, every: bool) -> list[int]:
    starts = list(range(0, n, chunk))
    return starts if every else sorted({starts[0], starts[-1]})


def _read(name: str, var: str, arr, start: int, stop: int) -> np.ndarray:
    try:
        return np.asarray(arr[start:stop])
    except Exception as err:  # noqa: BLE001 - codecs raise many kinds for a torn or garbage chunk
        raise StoreDamageError(f"group {name!r} is damaged: {var} records {start}..{stop - 1} cannot be read "
                               f"({type(err).__name__}: {err})") from None
