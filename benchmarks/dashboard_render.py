"""Benchmark: the dashboard's page renders and step-slider moves, measured in headless Chromium.

Builds a synthetic run of N records at the seedling shape (8 layers x 8 heads by default), starts the
real server on it, and times in the browser: each page's first render (from navigation until its
charts are drawn and streamlit is idle, with a cold data cache) and moves of the Attention heads
page's step slider (from the key press until the grid shows the new step). As a reference measured
in the same session it also times a page that draws no chart (Generate), so results from a busy
machine can be read as ratios. Targets: first render < 2 s, slider move < 0.5 s.

    python -m benchmarks.dashboard_render --records 2000 --out benchmarks/results/dashboard_render.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dashboards.harness import PAGES, browser, move_step_slider, open_page, page_errors, serve


def build_run(run_dir: Path, n_records: int, n_layers: int, n_heads: int) -> str:
    """Write the synthetic run; returns which writer made it."""
    try:
        from recorders.synthetic_store import make_synthetic_store
    except ImportError:
        make_synthetic_store = None
    from tests.dashboard_run import write_run

    if make_synthetic_store is None:
        write_run(run_dir, n_records=n_records, n_layers=n_layers, n_heads=n_heads, n_ctx=32)
        return "tests.dashboard_run.write_run"
    write_run(run_dir, n_records=2, n_layers=n_layers, n_heads=n_heads)  # config, metrics, checkpoint sidecar
    import shutil

    shutil.rmtree(run_dir / "records.zarr")
    make_synthetic_store(run_dir / "records.zarr", n_records=n_records, n_layers=n_layers, n_heads=n_heads)
    return "recorders.synthetic_store.make_synthetic_store"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="records in the synthetic store (default 2000)")
    parser.add_argument("--layers", type=int, default=8, help="layers (default 8, the seedling shape)")
    parser.add_argument("--heads", type=int, default=8, help="heads per layer (default 8)")
    parser.add_argument("--moves", type=int, default=5, help="step-slider moves to time (default 5)")
    parser.add_argument("--run", type=Path, default=None,
                        help="time an existing run directory instead of writing a synthetic one")
    parser.add_argument("--out", type=Path, default=None, help="write the timings as JSON to this file")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a PNG of each page into this folder")
    args = parser.parse_args(argv)
    if args.records < 2 or args.layers < 1 or args.heads < 1 or args.moves < 1:
        print("error: --records must be >= 2 and --layers, --heads, --moves >= 1", file=sys.stderr)
        return 2
    if args.run is not None and not (args.run / "records.zarr").is_dir():
        print(f"error: --run {str(args.run)!r} has no records.zarr; pass a run directory made by training", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if args.run is None:
            run = Path(tmp) / "synthetic"
            t0 = time.perf_counter()
            writer = build_run(run, args.records, args.layers, args.heads)
            print(f"wrote {args.records} records ({args.layers}x{args.heads}) with {writer} in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        else:
            run, writer = args.run, f"existing run {args.run}"
        results = {"records": args.records, "layers": args.layers, "heads": args.heads, "writer": writer}
        with serve(run, log_path=Path(tmp) / "server.log") as url, browser() as page:
            results["server_warmup_s"] = open_page(page, url, "generate")  # imports streamlit, plotly, xarray
            results["reference_s"] = open_page(page, url, "generate")
            results["first_render_s"] = {}
            for path in PAGES:
                seconds = open_page(page, url, path)
                errors = page_errors(page)
                if errors:
                    print(f"error: page {path} shows an exception: {errors[0][:300]}", file=sys.stderr)
                    return 1
                results["first_render_s"][path] = seconds
                print(f"{path:12s} first render {seconds:6.2f} s", flush=True)
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshots / f"{path}.png"))
            open_page(page, url, "heads")
            moves = [move_step_slider(page) for _ in range(args.moves)]
            results["slider_move_s"] = moves
    results["slider_move_median_s"] = statistics.median(moves)
    results["first_render_max_s"] = max(results["first_render_s"].values())
    print(f"slider move   median {results['slider_move_median_s']:.3f} s (of {args.moves}: "
          + ", ".join(f"{m:.3f}" for m in moves) + ")")
    print(f"reference (page without charts) {results['reference_s']:.2f} s; slowest first render "
          f"{results['first_render_max_s']:.2f} s = {results['first_render_max_s'] / results['reference_s']:.1f} x reference")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
