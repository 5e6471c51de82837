"""Command line of the benchmark suite: `python -m benchmarks [NAME ...]` prints a table and writes JSON.

`python -m benchmarks torture [--kills N]` runs the reliability torture script instead (benchmarks/torture/).

Every figure is a ratio of ours to a reference measured side by side in one process, the median of
several interleaved repetitions; each benchmark runs in a fresh process so its peak memory is its
own. The machine's description is saved with the results. See benchmarks/RESULTS.md.

`python -m benchmarks gpu [--out DIR] [--dry-run]` is a separate command: the CUDA training path
measured in one process (benchmarks/gpu/; `python -m benchmarks gpu --help`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from benchmarks.common import Options, machine_info
from benchmarks.suite import REGISTRY, markdown, run_benchmark, table


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gpu"]:  # its own command line: one process, no per-benchmark subprocesses
        from benchmarks.gpu.cli import main as gpu_main

        return gpu_main(argv[1:])
    if argv[:1] == ["torture"]:  # not a ratio benchmark: the reliability torture script (issue #12)
        from benchmarks.torture.__main__ import main as torture

        return torture(argv[1:])
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0],
                                epilog="Two commands of their own: python -m benchmarks gpu --help, "
                                       "python -m benchmarks torture --help")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"benchmarks to run (default: all): {', '.join(REGISTRY)}")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions per case, each a median sample (default: each benchmark's own, 3-7)")
    p.add_argument("--json", default="benchmarks/results/latest.json", metavar="OUT",
                   help="where to write the JSON results (default: benchmarks/results/latest.json)")
    p.add_argument("--quick", action="store_true", help="a ~1-minute smoke run: small cases, 2 repetitions")
    p.add_argument("--compile", action="store_true", help="also time torch.compile(ours) in the train benchmark")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads in every case (default: torch's own, the cores available); "
                        "1 steadies timings on a machine shared with other jobs")
    p.add_argument("--markdown", action="store_true", help="also print the results as a Markdown table")
    p.add_argument("--from-json", default=None, metavar="IN",
                   help="run nothing: print the table (and --markdown) of an earlier JSON results file")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    a = p.parse_args(argv)
    if a.list:
        for name, mod in REGISTRY.items():
            print(f"{name:10s} {mod}")
        return 0
    if a.from_json:
        try:
            doc = json.loads(Path(a.from_json).read_text())
        except (OSError, ValueError) as e:
            print(f"error: --from-json {a.from_json!r} is not a readable results file: {e}", file=sys.stderr)
            return 2
        print(table(doc["benchmarks"]))
        if a.markdown:
            print("\n" + markdown(doc["benchmarks"]))
        return 0
    unknown = [n for n in a.names if n not in REGISTRY]
    if unknown:
        print(f"error: unknown benchmark {unknown[0]!r}; accepted: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    if a.repeat is not None and a.repeat < 1:
        print(f"error: --repeat={a.repeat} must be a positive integer", file=sys.stderr)
        return 2
    if a.threads is not None and a.threads < 1:
        print(f"error: --threads={a.threads} must be a positive integer", file=sys.stderr)
        return 2
    out = Path(a.json)
    opts = Options(quick=a.quick, repeat=a.repeat, compile=a.compile, threads=a.threads)
    doc = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "argv": sys.argv[1:], "options": vars(a), "machine": machine_info(), "benchmarks": {}}
    if a.threads is not None:
        doc["machine"]["torch_threads"] = a.threads
    t0 = time.perf_counter()
    for name in a.names or list(REGISTRY):
        print(f"[{time.perf_counter() - t0:6.1f} s] {name} ...", flush=True)
        doc["benchmarks"][name] = run_benchmark(name, opts)
        print(f"[{time.perf_counter() - t0:6.1f} s] {name}: {doc['benchmarks'][name]['status']}", flush=True)
        doc["wall_s"] = time.perf_counter() - t0
        doc["machine"]["loadavg_1m_end"] = machine_info()["loadavg_1m"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2))  # after each benchmark: an interrupted suite keeps what it measured
    print()
    print(table(doc["benchmarks"]))
    if a.markdown:
        print("\n" + markdown(doc["benchmarks"]))
    print(f"\ntotal {doc['wall_s']:.0f} s; JSON written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
