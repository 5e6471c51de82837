"""Benchmark: the dashboard's page renders and step-slider moves, measured in headless Chromium.

Builds a synthetic run of N records at the seedling shape (8 layers x 8 heads by default), starts the
real server on it, and times in the browser: each page's first render (from navigation until its
charts are drawn and streamlit is idle, with a cold data cache) and moves of the Attention heads
page's step slider (from the key press until the grid shows the new step). As a reference measured
in the same session it also times a page that draws no chart (Generate), so results from a busy
machine can be read as ratios. Targets: first render < 2 s, slider move < 0.5 s.

Between pages it waits, untimed, until the browser has finished loading Plotly's bundle in the
background (dashboards/preload.py), as it does while someone reads a page, and records how long that
took. Last it opens the landing page, a Plotly page and the page without charts in new browser
contexts (an empty browser cache: someone's very first visit), which adds Streamlit's and the chart
libraries' own JavaScript; the page without charts shows how much of that is Streamlit's.

    python -m benchmarks.dashboard_render --records 2000 --out benchmarks/results/dashboard_render.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from benchmarks.common import write_json
from dashboards.harness import DEFAULT_PAGE, PAGES, browser, move_step_slider, open_page, page_errors, serve, settle


def build_run(run_dir: Path, n_records: int, n_layers: int, n_heads: int, seed: int = 0) -> str:
    """Write a synthetic run (records.zarr, metrics.jsonl matching its loss, config, a checkpoint sidecar,
    samples.jsonl)."""
    from tests.dashboard_run import write_run

    try:
        from recorders.synthetic_store import make_synthetic_store
    except ImportError:  # the store writer is not in this checkout: the tests' own writer
        write_run(run_dir, n_records=n_records, n_layers=n_layers, n_heads=n_heads, n_ctx=32, seed=seed)
        write_samples(run_dir, json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["step"], seed)
        return "tests.dashboard_run.write_run"
    write_run(run_dir, n_records=2, n_layers=1, n_heads=1, seed=seed)  # config, checkpoint sidecar
    shutil.rmtree(run_dir / "records.zarr")
    make_synthetic_store(run_dir / "records.zarr", n_records=n_records, n_layers=n_layers, n_heads=n_heads, seed=seed)
    loss = xr.open_zarr(run_dir / "records.zarr", group="loss", consolidated=False)
    lines = []
    for i, (step, value) in enumerate(zip(loss["step"].values, loss["train_loss"].values)):
        lines.append({"event": "step", "step": int(step), "loss": float(value), "lr": 3e-4, "tokens": int(step) * 4096})
        if i % 50 == 0:
            lines.append({"event": "eval", "step": int(step), "val_loss": float(value) + 0.05,
                          "val_ppl": float(np.exp(value + 0.05))})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    write_samples(run_dir, int(loss["step"].values[-1]), seed)
    return "recorders.synthetic_store.make_synthetic_store"


def write_samples(run_dir: Path, last_step: int, seed: int = 0) -> None:
    """samples.jsonl as training writes it (seedling.train.samples): 2 prompts x 2 decodings at checkpoints
    0, 1, 2, 4, ... and every tenth of the run, so that Overview's samples table is part of the measurement."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(500)]
    steps = sorted({0, *(2**k for k in range(max(1, last_step).bit_length())), *np.linspace(0, last_step, 11).astype(int)})
    prompts = [" ".join(rng.choice(words, 8)) for _ in range(2)]
    lines = []
    for step in steps:
        samples = [{"prompt": p, "completion": " " + " ".join(rng.choice(words, 24)), "decoding": d, "n_tokens": 24}
                   for p in prompts for d in ("greedy", "top_p=0.9")]
        lines.append({"step": int(step), "tokens": int(step) * 4096, "samples": samples,
                      "settings": {"n_prompts": 2, "prompt_tokens": 8, "max_new_tokens": 24, "top_p": 0.9,
                                   "temperature": 1.0, "seed": 0}})
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def settle_timed(page) -> dict:
    """Wait for the background load of Plotly's bundle; its outcome and the seconds waited (untimed in the renders)."""
    start = time.perf_counter()
    outcome = settle(page)
    return {"outcome": outcome, "seconds": time.perf_counter() - start}


def cold_open(page, url: str, path: str) -> float:
    """Open `path` in a new browser context (nothing cached: someone's first visit); return the seconds it took."""
    context = page.context.browser.new_context(viewport=page.viewport_size)
    try:
        return open_page(context.new_page(), url, path)
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="records in the synthetic store (default 2000)")
    parser.add_argument("--layers", type=int, default=8, help="layers (default 8, the seedling shape)")
    parser.add_argument("--heads", type=int, default=8, help="heads per layer (default 8)")
    parser.add_argument("--seeds", type=int, default=2, help="synthetic runs (seeds) to write, for Compare (default 2)")
    parser.add_argument("--moves", type=int, default=5, help="step-slider moves to time (default 5)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="keep the synthetic runs in this folder and reuse them when it already holds them "
                             "(default: a temporary folder, deleted afterwards)")
    parser.add_argument("--out", type=Path, default=None, help="write the timings as JSON to this file")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a PNG of each page into this folder")
    args = parser.parse_args(argv)
    if args.records < 2 or min(args.layers, args.heads, args.moves, args.seeds) < 1:
        print("error: --records must be >= 2 and --layers, --heads, --moves, --seeds >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        run = args.dir or Path(tmp) / "synthetic"
        if (run / "seed0" / "records.zarr").is_dir():
            writer = f"existing runs in {run}"
            for seed_dir in sorted(run.glob("seed*")):  # runs written before Overview showed samples
                if not (seed_dir / "samples.jsonl").exists():
                    last = json.loads((seed_dir / "metrics.jsonl").read_text().splitlines()[-1])["step"]
                    write_samples(seed_dir, int(last))
        else:
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                writer = build_run(run / f"seed{seed}", args.records, args.layers, args.heads, seed)
            print(f"wrote {args.seeds} runs of {args.records} records ({args.layers}x{args.heads}) with {writer} in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        results = {"records": args.records, "layers": args.layers, "heads": args.heads, "writer": writer}
        with serve(run, log_path=Path(tmp) / "server.log") as url, browser() as page:
            results["server_warmup_s"] = open_page(page, url, "generate")  # imports streamlit, plotly, xarray
            results["reference_s"] = open_page(page, url, "generate")
            # First pass: cold data cache (and the first page pays the server's one-time imports of
            # plotly and the figure modules). Second pass: a new browser session on a warm cache.
            results["preload"] = settle_timed(page)  # the warm-up page's background load of Plotly
            results["preload_after_first_render_s"] = {}
            for key in ("first_render_s", "warm_render_s"):
                results[key] = {}
                for path in PAGES:
                    seconds = open_page(page, url, path)
                    errors = page_errors(page)
                    if errors:
                        print(f"error: page {path} shows an exception: {errors[0][:300]}", file=sys.stderr)
                        return 1
                    results[key][path] = seconds
                    preload = settle_timed(page)
                    if key == "first_render_s":
                        results["preload_after_first_render_s"][path] = preload["seconds"]
                    print(f"{path:12s} {key[:-2].replace('_', ' '):13s} {seconds:6.2f} s   (then Plotly preload "
                          f"{preload['outcome']} in {preload['seconds']:.2f} s)", flush=True)
                    if args.screenshots and key == "warm_render_s":
                        args.screenshots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(args.screenshots / f"{path}.png"), type="png")
            open_page(page, url, "heads")
            moves = [move_step_slider(page) for _ in range(args.moves)]
            results["slider_move_s"] = moves
            results["cold_browser_s"] = {}
            for path in (DEFAULT_PAGE, "parameters", "generate"):
                results["cold_browser_s"][path] = seconds = cold_open(page, url, path)
                print(f"{path:12s} cold browser  {seconds:6.2f} s   (empty browser cache, warm data cache)", flush=True)
    results["slider_move_median_s"] = statistics.median(moves)
    results["first_render_max_s"] = max(results["first_render_s"].values())
    print(f"slider move   median {results['slider_move_median_s']:.3f} s (of {args.moves}: "
          + ", ".join(f"{m:.3f}" for m in moves) + ")")
    print(f"reference (page without charts) {results['reference_s']:.2f} s; slowest first render "
          f"{results['first_render_max_s']:.2f} s = {results['first_render_max_s'] / results['reference_s']:.1f} x reference")
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
