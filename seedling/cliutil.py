"""Command-line plumbing shared by the `python -m seedling.*` entries: usage errors in one line."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["OneLineParser"]


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit status 2, not a usage dump.

    The full usage is one `--help` away; a nine-line dump buries the one line that says what was wrong.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
