"""Command line of the workbench: ``workbench report|export|summary`` (also ``python -m workbench``)."""

from __future__ import annotations

import argparse
import logging
import sys

from workbench.errors import WorkbenchError


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line plus a pointer to --help, not a usage dump (exit status 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _checked(runs: list) -> list:
    """The runs, after their record stores pass `workbench.integrity.check_store` (else StoreDamageError)."""
    from workbench.integrity import check_store

    for run in runs:
        check_store(run.store_path)
    return runs


def _report(args: argparse.Namespace) -> int:
    from workbench.report import write_report
    from workbench.run import open_runs

    runs = _checked(open_runs(args.run_dirs))
    path = write_report(runs, args.out, bootstrap=not args.fast, spectra=not args.no_spectra)
    print(f"wrote {path} ({len(runs)} run(s))")
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.export import export_runs
    from workbench.run import open_runs

    paths = export_runs(_checked(open_runs(args.run_dirs)), args.format, args.out,
                        method="delta" if args.fast else "bootstrap")
    for p in paths:
        print(p)
    return 0


def _summary(args: argparse.Namespace) -> int:
    from workbench.findings import find
    from workbench.run import open_run
    from workbench.summary import summary_text

    run = _checked([open_run(args.run_dir)])[0]
    print(summary_text(run, find(run, method="delta" if args.fast else "bootstrap")))
    return 0


def _constructs(args: argparse.Namespace) -> int:
    from workbench.constructs import construct_onsets, construct_trajectories, recovered_step
    from workbench.run import open_run

    run = open_run(args.run_dir)
    traj = construct_trajectories(run, args.layer)
    wide = traj.pivot(index="step", columns="statistic", values="value")
    band = traj.pivot(index="step", columns="statistic", values="null_median")
    n = int(len(run.group("constructs").attrs["constructs"]))
    print(f"constructs of {run.name}, layer {int(traj['layer'].iloc[0])} ({n} constructs; null = median over shuffled labels)")
    print("step  DAAL  null  congruence  null  recovery  null")
    for step in wide.index:
        w, b = wide.loc[step], band.loc[step]
        print(f"{step:>5} {int(w['domains_recovered']):>3}/{n} {int(b['domains_recovered']):>3}/{n} {w['congruence']:>9.3f} "
              f"{b['congruence']:>6.3f} {w['recovery']:>8.3f} {b['recovery']:>6.3f}")
    step = recovered_step(traj, n)
    print(f"recovered ({n}/{n} domains, congruence >= 0.9, and stays): " + (f"step {step}" if step is not None else "not yet"))
    print(construct_onsets(run, args.layer, method="delta" if args.fast else "bootstrap").to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="workbench", description="Analyses of recorded Seedling training runs "
                                "(formulas and citations: docs/analyses.md).")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each analysis does (to stderr)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{report,export,summary,constructs}",
                           parser_class=_OneLineParser)

    r = sub.add_parser("report", help="write a self-contained HTML report of one or more runs",
                       description="Write a self-contained HTML report (Plotly figures, tables, methods with citations). "
                       "Several run directories (or a directory of seed0, seed1, ...) add reliability across seeds.")
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, or a directory holding seed runs")
    r.add_argument("--out", required=True, metavar="REPORT.html", help="path of the HTML file to write")
    r.add_argument("--fast", action="store_true", help="delta-method CIs instead of the (slower) block bootstrap")
    r.add_argument("--no-spectra", action="store_true", help="skip weight spectra (they read checkpoints with torch)")
    r.set_defaults(func=_report)

    e = sub.add_parser("export", help="write tidy long-format tables (csv or parquet)",
                       description="Write one tidy table per recorded group (columns run, seed, step, group, "
                       "statistic, site, layer, head, value, unit), the run-level constants (runs), the findings "
                       "(fits, onsets, icc, split_half) and a codebook, for R, lavaan, Mplus or any latent-growth "
                       "software (docs/export.md; docs/growth_model.R reads them).")
    e.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, or a directory holding seed runs")
    e.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default: csv)")
    e.add_argument("--out", required=True, metavar="DIR",
                   help="a new directory to write the tables into (refused if it already holds an export)")
    e.add_argument("--fast", action="store_true", help="delta-method onset CIs instead of the block bootstrap")
    e.set_defaults(func=_export)

    s = sub.add_parser("summary", help="print a plain-text summary of a run",
                       description="Steps recorded, final loss, loss fits, plateaus, head roles with emergence steps, "
                       "and the induction onset with its confidence interval.")
    s.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    s.add_argument("--fast", action="store_true", help="delta-method CI instead of the (slower) block bootstrap")
    s.set_defaults(func=_summary)

    c = sub.add_parser("constructs", help="print when the item representations acquired their construct structure",
                       description="Per record of the constructs group: domains recovered (DAAL), mean Tucker congruence and "
                       "structure recovery, each beside the shuffled-label control's maximum; the step the structure is "
                       "recovered; onsets with CIs (docs/analyses.md, Psychometric probes).")
    c.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with a constructs group")
    c.add_argument("--layer", type=int, default=None, help="layer to read (default: the last)")
    c.add_argument("--fast", action="store_true", help="delta-method CIs instead of the (slower) block bootstrap")
    c.set_defaults(func=_constructs)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``workbench`` and ``python -m workbench``; user errors: one line on stderr, exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (WorkbenchError, OSError) as e:
        print(f"workbench {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
