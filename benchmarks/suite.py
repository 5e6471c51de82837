"""The suite's registry and runner: each benchmark in its own process, results as a table and JSON.

A benchmark is a module with `NAME`, `SUMMARY`, `run(opts) -> list[Row]` and optionally
`unavailable() -> str | None` (a reason to skip, such as a missing browser). A benchmark whose part
of the project has not landed is reported as skipped with the reason, never estimated.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from benchmarks.common import Options, run_python_case

log = logging.getLogger(__name__)

# name -> module; the order is the order they run in.
REGISTRY: dict[str, str] = {
    "train": "benchmarks.train_throughput",
    "memory": "benchmarks.memory",
    "generate": "benchmarks.generation",
    "recorder": "benchmarks.recorder",
    "circuits": "benchmarks.circuits",
    "data": "benchmarks.data_prep",
    "dashboard": "benchmarks.dashboard",
}
TIMEOUT_S = {"quick": 300, "full": 900}


def run_benchmark(name: str, opts: Options) -> dict[str, Any]:
    """Run one benchmark in a fresh process; its rows, status, wall time and peak RSS (MiB)."""
    args = ["bench", name, *opts.case_args()]
    t0 = time.perf_counter()
    try:
        result, peak = run_python_case(args, timeout=TIMEOUT_S["quick" if opts.quick else "full"])
    except (RuntimeError, TimeoutError) as e:
        return {"status": "error", "message": str(e), "rows": [], "wall_s": time.perf_counter() - t0}
    result.update(wall_s=time.perf_counter() - t0, peak_rss_mb=peak)
    return result


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{x:.3g}"


def fmt_ratio(r: dict[str, Any]) -> str:
    """'1.02x', or '1.02x (IQR 0.98-1.05)' where the row carries the quartiles of its paired ratios."""
    if r["ratio"] is None:
        return "-"
    out = fmt(r["ratio"]) + "x"
    if r.get("ratio_q1") is not None and r.get("ratio_q3") is not None:
        out += f" (IQR {r['ratio_q1']:.2f}-{r['ratio_q3']:.2f})"
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one line per measured figure, then one per skipped or failed benchmark."""
    head = ("benchmark", "case", "metric", "ours", "ref", "ratio", "unit")
    lines = []
    for name, res in results.items():
        for r in res.get("rows", []):
            lines.append((name, r["case"], r["metric"], fmt(r["ours"]), fmt(r["ref"]), fmt_ratio(r), r["unit"]))
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(ln, widths)) for ln in lines]
    out.append("")
    out += [status_line(name, res, "{name}: {status} in {wall:.1f} s") for name, res in results.items()]
    return "\n".join(out)


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """The same figures as `table`, as a Markdown table with notes (for RESULTS.md)."""
    out = ["| benchmark | case | metric | ours | ref | ratio | unit | note |", "|---|---|---|---|---|---|---|---|"]
    for name, res in results.items():
        for r in res.get("rows", []):
            out.append(f"| {name} | {r['case']} | {r['metric']} | {fmt(r['ours'])} | {fmt(r['ref'])} | {fmt_ratio(r)} | "
                       f"{r['unit']} | {r['note']} |")
    out.append("")
    out += [status_line(name, res, "- `{name}`: {status} in {wall:.0f} s") for name, res in results.items()]
    return "\n".join(out)


def status_line(name: str, res: dict[str, Any], form: str) -> str:
    """One benchmark's outcome: `form` filled with name, status and wall seconds, then peak RSS and any message."""
    extra = f", peak RSS {res['peak_rss_mb']:.0f} MiB" if "peak_rss_mb" in res else ""
    msg = f": {res['message']}" if res.get("message") else ""
    return form.format(name=name, status=res["status"], wall=res.get("wall_s", 0)) + extra + msg
