"""`python -m dashboards`: start the dashboard on 127.0.0.1 with usage statistics off, from any directory.

    python -m dashboards                          # runs under ./runs, http://127.0.0.1:8501
    python -m dashboards --runs DIR --port 8600
    python -m dashboards --address 0.0.0.0 --expose   # deliberately reachable from other machines

The options are passed to `streamlit run` on its command line, which wins over any
.streamlit/config.toml in the working directory (see dashboards/guard.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dashboards.guard import EXPOSE_ENV, LOOPBACK, SAFE_OPTIONS

APP = Path(__file__).resolve().parent / "app.py"


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m dashboards", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs", metavar="DIR", help="a run directory, or a directory of runs (default: runs)")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only); anything else needs --expose")
    p.add_argument("--expose", action="store_true",
                   help="allow an --address other machines can reach: anyone who can reach it reads every run under --runs")
    return p


def streamlit_argv(args: argparse.Namespace) -> list[str]:
    """The `streamlit run` command line for `args` (options explicit, so no config file can change them)."""
    options = {**SAFE_OPTIONS, "server.address": args.address, "server.port": str(args.port)}
    flags = [f"--{k}={v}" for k, v in options.items()]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *flags, "--", "--runs", args.runs]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.address not in LOOPBACK and not args.expose:
        print(f"error: --address {args.address} lets other machines read your runs; add --expose to mean it",
              file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a port number (1..65535)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.pop(EXPOSE_ENV, None)
    if args.expose:
        env[EXPOSE_ENV] = "1"
    cmd = streamlit_argv(args)
    os.execve(cmd[0], cmd, env)  # replaces this process: Ctrl-C and exit status are streamlit's own
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
