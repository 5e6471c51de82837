"""Checks the store writer makes on a group's first record: a VarMeta per variable, dims that match shapes,
one size per dimension name, and coordinates that label the group's dimensions (index ones filled in).

Each raises StoreError naming the group, the variable and what would be accepted; nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recorders.store_schema import INDEX_DIMENSIONS, Coord, StoreError, VarMeta, check_name

__all__ = ["check_dim_sizes", "check_dims", "complete_coords", "meta_for"]


def meta_for(group: str, var: str, meta: Mapping[str, VarMeta]) -> VarMeta:
    m = meta.get(var)
    if not isinstance(m, VarMeta):
        raise StoreError(f"{group}/{var}: meta has no VarMeta for this variable (got {m!r}); give one per variable")
    return m


def check_dims(group: str, var: str, shape: tuple[int, ...], meta: VarMeta) -> None:
    if len(shape) != len(meta.dims):
        raise StoreError(
            f"{group}/{var}: value has shape {shape} ({len(shape)} axes) but VarMeta dims {meta.dims} name {len(meta.dims)}"
        )


def check_dim_sizes(group: str, specs: Mapping[str, tuple[tuple[int, ...], VarMeta]]) -> None:
    """Within a group each dimension name has one size, or xarray could not open the group."""
    seen: dict[str, tuple[int, str]] = {}
    for var, (shape, meta) in specs.items():
        for dim, size in zip(meta.dims, shape):
            if dim in seen and seen[dim][0] != size:
                raise StoreError(
                    f"group {group!r}: dimension {dim!r} has size {size} in {var} but {seen[dim][0]} in {seen[dim][1]}; "
                    "use one size per dimension name within a group"
                )
            seen.setdefault(dim, (size, var))


def complete_coords(
    group: str, specs: Mapping[str, tuple[tuple[int, ...], VarMeta]], coords: Mapping[str, Coord]
) -> dict[str, Coord]:
    """Check `coords` against the group's dimensions and add 0..n-1 for index dimensions left without one."""
    sizes = {dim: size for shape, m in specs.values() for dim, size in zip(m.dims, shape)}
    out: dict[str, Coord] = {}
    for name, coord in coords.items():
        check_name("coordinate", name)
        if not isinstance(coord, Coord):
            raise StoreError(f"group {group!r}: coordinate {name!r} must be a Coord, got {type(coord).__name__}")
        if name in specs:
            raise StoreError(f"group {group!r}: {name!r} is both a variable and a coordinate; rename one")
        if name in sizes and name != coord.dim:  # xarray could not index that dimension
            raise StoreError(f"group {group!r}: coordinate {name!r} runs along {coord.dim!r}, but {name!r} is also a "
                             "dimension of the group; a coordinate named like one of the group's dimensions must label it")
        if coord.dim not in sizes:
            raise StoreError(f"group {group!r}: coordinate {name!r} labels {coord.dim!r}, which no variable has; "
                             f"dimensions of the group: {', '.join(sizes) or 'none'}")
        if len(coord.values) != sizes[coord.dim]:
            raise StoreError(f"group {group!r}: coordinate {name!r} has {len(coord.values)} values but dimension "
                             f"{coord.dim!r} has size {sizes[coord.dim]}")
        out[name] = coord
    for dim in INDEX_DIMENSIONS:
        if dim in sizes and dim not in out:
            out[dim] = Coord(dim, np.arange(sizes[dim]), f"{dim.replace('_', ' ')} index")
    return out
