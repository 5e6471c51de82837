"""The record store's vocabulary: schema version, dimension names, variable metadata and store errors.

Shared by the writer (`recorders.store`), its Zarr side (`recorders.store_disk`) and the one
reader (`workbench.store`). numpy only: nothing here imports torch, zarr or xarray.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DIMENSIONS",
    "DTYPES",
    "SCHEMA_VERSION",
    "StoreError",
    "StoreSchemaError",
    "StoreWriteError",
    "Coord",
    "VarMeta",
    "check_name",
]

# Bump when a reader of the previous version would misread a new store (docs/store.md, "Versions").
# 2: places (parameter and hook sites, matrices, statistics) are coordinates, not parts of names.
SCHEMA_VERSION = 2

# The one vocabulary of dimension names, in code and in the store alike. `step` is implied for
# every variable of a recorded group and is never listed in VarMeta.dims.
DIMENSIONS = (
    "step",
    "site",  # a parameter (named_parameters() name) or a hook point (its module path)
    "layer",  # transformer block index, 0..L-1
    "head_index",  # attention head within a layer, 0..H-1
    "matrix",  # a per-layer weight matrix: W_Q, W_K, W_V, W_O (attention), W_in, W_out (MLP)
    "batch",  # probe item
    "pos",  # token position
    "query_pos",
    "key_pos",
    "d_model",
    "d_mlp",
    "kind",  # composition kind: q, k, v
    "src_layer",  # layer of the earlier (writing) head of a composition pair
    "src_head",  # head_index of the earlier head
    "dst_layer",  # layer of the later (reading) head
    "dst_head",  # head_index of the later head
    "statistic",  # a summary of a distribution: mean, q95
    "item",  # a questionnaire item of the probed item set (constructs group)
    "item_b",  # the second item of an item x item matrix
    "construct",  # a construct (scale) of the item set
    "factor",  # a factor of the pseudo-factor analysis (factor f is rotated towards construct f)
    "factor_b",  # the second factor of a factor x factor matrix
    "condition",  # real labels or a negative control (shuffled labels k, scrambled dimensions)
    "option",  # a response option of the log-probability probe (e.g. a Likert category)
)

# Dimensions that get an integer coordinate 0..n-1 when a group gives none (positions and indices
# a reader selects by label); the wide feature axes stay without one.
INDEX_DIMENSIONS = ("layer", "head_index", "batch", "pos", "query_pos", "key_pos", "src_layer", "src_head", "dst_layer",
                    "dst_head")

# "str" is a variable-length UTF-8 string (Zarr v3 data type "string"), for static groups only.
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "str")

# Attribute names the writer sets itself on every array.
_OWN_ATTRS = ("long_name", "units", "reduction")


class StoreError(ValueError):
    """A user error about the record store: the message names the bad value and what is accepted."""


class StoreSchemaError(StoreError):
    """The path is not a Seedling record store, or one written by a newer schema version."""


class StoreWriteError(RuntimeError):
    """Writing to the store failed in the background writer thread (the cause is chained)."""


@dataclass(frozen=True)
class Coord:
    """Labels along one dimension of a recorded group, stored once (no `step`) beside its variables.

    The key it is stored under names it: the same name as `dim` makes a dimension coordinate (an
    index: `ds.sel(site="wte.weight")`), another name a non-dimension coordinate along `dim`
    (`layer` along `site`, so `ds.norm.groupby("layer")` works). Values are 1-D, one per position.

    >>> Coord("site", ["wte.weight", "blocks.0.ln_1.weight"], "parameter").values.dtype.kind
    'O'
    """

    dim: str
    values: Any
    long_name: str
    units: str = "1"

    def __post_init__(self) -> None:
        if self.dim not in DIMENSIONS or self.dim == "step":
            raise StoreError(f"Coord dim {self.dim!r} is not accepted; accepted: {', '.join(DIMENSIONS[1:])}")
        values = np.asarray(self.values)
        if values.ndim != 1:
            raise StoreError(f"Coord along {self.dim!r}: values must be 1-D, got shape {values.shape}")
        if values.dtype.kind in "USO":
            values = values.astype(object)
        elif values.dtype.kind not in "iub":
            raise StoreError(f"Coord along {self.dim!r}: values must be integers or text, got dtype {values.dtype}")
        else:
            values = values.astype(np.int64)
        object.__setattr__(self, "values", values)

    @property
    def meta(self) -> VarMeta:
        """How the coordinate is stored: an array over its one dimension."""
        return VarMeta((self.dim,), self.long_name, self.units, "none: labels", "str" if self.values.dtype == object else "int64")


def check_name(kind: str, name: str) -> str:
    """Return `name` if it can name a Zarr node (group or variable), else raise StoreError.

    Dots are fine (`blocks.0.attn.W_Q`); a slash would make a nested path, a leading `__` is
    reserved by Zarr, and `step` is the coordinate every recorded group owns.
    """
    if not isinstance(name, str) or not name or "/" in name or name.startswith("__") or name in (".", ".."):
        raise StoreError(
            f"{kind} name {name!r} is not accepted; use a non-empty name without '/' that does not start with '__'"
        )
    if kind == "variable" and name == "step":
        raise StoreError("variable name 'step' is reserved for the step coordinate the writer keeps itself")
    return name


@dataclass(frozen=True)
class VarMeta:
    """What a stored variable means: its dimensions after `step`, labels, reduction and storage type.

    `dims` come from DIMENSIONS (without `step`, which recorded groups add themselves); `long_name`
    and `units` label plots (xarray uses them for axis titles); `reduction` says in words how the
    number was reduced ("mean over batch and query positions"); `dtype` is the storage type
    (float32 by default, float16 for attention patterns and activation samples); `attrs` are extra
    JSON-serialisable attributes, e.g. which probe positions a score uses.

    >>> VarMeta(("layer", "head_index"), "attention entropy", "nats", "mean over batch and queries").dtype
    'float32'
    """

    dims: tuple[str, ...]
    long_name: str
    units: str
    reduction: str
    dtype: str = "float32"
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dims = (self.dims,) if isinstance(self.dims, str) else tuple(self.dims)
        object.__setattr__(self, "dims", dims)
        accepted = ", ".join(DIMENSIONS[1:])
        for d in dims:
            if d == "step":
                raise StoreError(f"VarMeta dims {dims}: leave out 'step', the writer adds it; accepted: {accepted}")
            if d not in DIMENSIONS:
                raise StoreError(f"VarMeta dims {dims}: unknown dimension name {d!r}; accepted: {accepted}")
        if len(set(dims)) != len(dims):
            raise StoreError(f"VarMeta dims {dims}: a dimension name appears twice; each axis needs its own name")
        if self.dtype not in DTYPES:
            raise StoreError(f"VarMeta dtype {self.dtype!r} is not accepted; accepted: {', '.join(DTYPES)}")
        for label in ("long_name", "units", "reduction"):
            if not isinstance(getattr(self, label), str):
                raise StoreError(f"VarMeta {label} must be text, got {getattr(self, label)!r}")
        clash = [k for k in self.attrs if k in _OWN_ATTRS]
        if clash:
            raise StoreError(f"VarMeta attrs {clash} clash with the fields of the same name; set them as fields")

    @property
    def numpy_dtype(self) -> np.dtype:
        """The numpy dtype values are cast to before writing (object for "str")."""
        return np.dtype(object) if self.dtype == "str" else np.dtype(self.dtype)

    def array_attrs(self) -> dict[str, Any]:
        """Attributes written on the Zarr array: long_name, units, reduction, then the extra attrs."""
        return {"long_name": self.long_name, "units": self.units, "reduction": self.reduction, **dict(self.attrs)}
