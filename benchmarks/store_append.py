"""Benchmark the record store writer: append N records of a realistic group, count files, time the read-back.

    python -m benchmarks.store_append --records 10000 --group attn_entropy
    python -m benchmarks.store_append --records 2000 --group weight_norm --naive 500
    python -m benchmarks.store_append --records 2000 --group weight_norm_by_name   # schema 1's layout, for reference

Reported: seconds the training thread spent in `append` (what training pays), seconds until
everything is on disk (`close`), files created, and seconds to read the group back with
`workbench.store.read_group(...).load()`. The reference in the same run is one bulk write of the same
data as a single array per variable (the least zarr can do); `--naive N` also times N records
appended one at a time with one-record chunks (what docs/store.md warns against).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from recorders.store import Coord, StoreWriter, VarMeta
from workbench.store import read_group as committed_dataset

GROUPS = ("attn_entropy", "weight_norm", "weight_norm_by_name")


def param_sites(n_layers: int) -> list[str]:
    """The GPT's parameter names (seedling.model), without importing torch."""
    per_layer = ("ln1.weight", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.out.weight", "attn.out.bias",
                 "ln2.weight", "ln2.bias", "mlp.fc_in.weight", "mlp.fc_in.bias", "mlp.fc_out.weight", "mlp.fc_out.bias")
    return ["wte.weight", "wpe.weight", *(f"blocks.{i}.{p}" for i in range(n_layers) for p in per_layer),
            "ln_final.weight", "ln_final.bias"]


def group_coords(group: str, n_layers: int = 8) -> dict[str, Coord]:
    """The coordinates a group carries (schema 2's `site`); none for the others."""
    return {"site": Coord("site", param_sites(n_layers), "parameter")} if group == "weight_norm" else {}


def group_spec(group: str, n_layers: int = 8, n_heads: int = 8, batch: int = 8) -> dict[str, tuple[tuple[int, ...], VarMeta]]:
    """Variables of a realistic group: shape (without step) and VarMeta."""
    if group == "attn_entropy":
        head = VarMeta(("layer", "head_index"), "entropy", "nats", "mean")
        item = VarMeta(("batch", "layer", "head_index"), "entropy", "nats", "mean over queries")
        return {"entropy": ((n_layers, n_heads), head), "entropy_normalized": ((n_layers, n_heads), head),
                "entropy_by_item": ((batch, n_layers, n_heads), item),
                "entropy_normalized_by_item": ((batch, n_layers, n_heads), item)}
    if group == "weight_norm":  # schema 2: one (step, site) array
        return {"norm": ((len(param_sites(n_layers)),), VarMeta(("site",), "norm", "1", "Frobenius"))}
    if group == "weight_norm_by_name":  # schema 1's layout: one array per parameter site, per-head slices, spectra
        heads = [f"blocks.{i}.attn.{w}" for i in range(n_layers) for w in ("W_Q", "W_K", "W_V", "W_O")]
        mlp = [f"blocks.{i}.mlp.fc_{k}.weight" for i in range(n_layers) for k in ("in", "out")]
        out = {s: ((), VarMeta((), "norm", "1", "Frobenius")) for s in param_sites(n_layers)}
        out |= {s: ((n_heads,), VarMeta(("head_index",), "norm", "1", "Frobenius")) for s in heads}
        out |= {f"{s}.{k}": ((), VarMeta((), k, "1", "whole matrix")) for s in heads + mlp
                for k in ("sigma_max", "stable_rank")}
        return out
    raise SystemExit(f"unknown --group {group!r}; accepted: {', '.join(GROUPS)}")


def count_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="records to append (default 10000)")
    parser.add_argument("--group", default="attn_entropy", help="attn_entropy (4 arrays), weight_norm (1 array over site) or weight_norm_by_name (schema 1: 228 arrays)")
    parser.add_argument("--block", type=int, default=64, help="writer block size (default 64)")
    parser.add_argument("--naive", type=int, default=0, help="also append this many records one by one, one-record chunks")
    parser.add_argument("--dir", default=None, help="directory for the stores (default: a temporary one)")
    args = parser.parse_args()
    spec = group_spec(args.group)
    meta = {v: m for v, (_s, m) in spec.items()}
    rng = np.random.default_rng(0)
    values = {v: rng.random((args.records, *s), dtype=np.float32) for v, (s, _m) in spec.items()}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "records.zarr"
        in_append = 0.0
        t0 = time.perf_counter()
        w = StoreWriter(path, root_attrs={"package_version": "bench"}, block_size=args.block)
        for r in range(args.records):
            t = time.perf_counter()
            w.append(args.group, r * 100, {v: a[r] for v, a in values.items()}, meta, coords=group_coords(args.group))
            in_append += time.perf_counter() - t
        w.close()
        total = time.perf_counter() - t0
        files = count_files(path)
        t = time.perf_counter()
        ds = committed_dataset(path, args.group).load()
        read = time.perf_counter() - t
        assert ds.sizes["step"] == args.records
        print(f"{args.group}: {len(spec)} arrays, {args.records} records, block {args.block}")
        print(f"  training thread in append: {in_append:.2f} s ({1e6 * in_append / args.records:.0f} us per record)")
        print(f"  until on disk (close):     {total:.2f} s")
        print(f"  files:                     {files}")
        print(f"  read back (load all):      {read:.2f} s")

        ref = Path(tmp) / "bulk.zarr"
        t = time.perf_counter()
        g = zarr.open_group(str(ref), mode="w").create_group(args.group)
        for v, a in values.items():
            g.create_array(v, data=a, chunks=(args.block, *a.shape[1:]))
        bulk = time.perf_counter() - t
        print(f"  reference, one bulk write: {bulk:.2f} s; writer / bulk = {total / bulk:.1f}")

        if args.naive:
            naive = Path(tmp) / "naive.zarr"
            g = zarr.open_group(str(naive), mode="w").create_group(args.group)
            arrs = {v: g.create_array(v, shape=(0, *a.shape[1:]), chunks=(1, *a.shape[1:]), dtype="float32")
                    for v, a in values.items()}
            t = time.perf_counter()
            for r in range(args.naive):
                for v, arr in arrs.items():
                    arr.append(values[v][r : r + 1])
            naive_s = time.perf_counter() - t
            print(f"  naive, {args.naive} records one by one: {naive_s:.2f} s, {count_files(naive)} files; "
                  f"per record naive / writer = {(naive_s / args.naive) / (total / args.records):.1f}")


if __name__ == "__main__":
    main()
