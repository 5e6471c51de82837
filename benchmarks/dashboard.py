"""Dashboard render timings in the suite: runs the dashboards engineer's `benchmarks.dashboard_render`.

Each page's first render and the Attention heads step-slider moves, in headless Chromium against
the real Streamlit server on a synthetic store of the seedling shape. Ratio = time / the same
session's render of a page without charts (Generate), so a busy machine can still be read. Targets
(issue 6): first render < 2 s, slider move < 0.5 s. Also, for information, the landing page, a Plotly
page and Generate opened by a browser with an empty cache. Skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import Options, Row

NAME = "dashboard"
SUMMARY = "dashboard first render per page and step-slider move (headless Chromium), seedling-shaped store"

CHROMIUM = Path("/usr/bin/chromium")


def unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"needs Chromium at {CHROMIUM}, which this machine does not have"
    return None


def run(opts: Options) -> list[Row]:
    from benchmarks import dashboard_render

    records, moves = (200, 2) if opts.quick else (2000, opts.reps(5))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dashboard.json"
        status = dashboard_render.main(["--records", str(records), "--moves", str(moves), "--out", str(out)])
        if status != 0:
            raise RuntimeError(f"benchmarks.dashboard_render exited with status {status}")
        res = json.loads(out.read_text())
    ref = res["reference_s"]
    label = f"{res['records']} records, {res['layers']}x{res['heads']} heads"
    rows = [Row(label, f"first render: {page}", s, "s", ref=ref, ratio=s / ref, note="ref: Generate page (no charts); target < 2 s")
            for page, s in res["first_render_s"].items()]
    rows += [Row(label, f"warm render: {page}", s, "s", ref=ref, ratio=s / ref, note="second visit, warm data cache")
             for page, s in res.get("warm_render_s", {}).items()]
    rows += [Row(label, f"cold browser: {page}", s, "s", ref=ref, ratio=s / ref,
                 note="a first visit: empty browser cache (Streamlit's and the chart libraries' JavaScript), warm data cache")
             for page, s in res.get("cold_browser_s", {}).items()]
    rows.append(Row(label, "heads step-slider move (median)", res["slider_move_median_s"], "s", ref=ref,
                    ratio=res["slider_move_median_s"] / ref, note="target < 0.5 s", samples={"ours": res["slider_move_s"]}))
    return rows
