"""The one error type of the data pipeline: a user-facing, one-line message."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A data source, corpus or tokenizer that cannot be used; the message says what would be accepted.

    The command line prints the message as one line on stderr and exits with status 2.
    """
