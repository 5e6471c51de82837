"""User-facing errors of the workbench: each says what was wrong and how to get what is missing."""

from __future__ import annotations


class WorkbenchError(ValueError):
    """Base class: a clear, one-line message for bad input (the command line prints it and exits 2)."""


class NotARunError(WorkbenchError):
    """The directory is not a Seedling run directory."""


class SchemaVersionError(WorkbenchError):
    """The store was written by a newer (or unknown) schema version than this workbench reads."""


class StoreDamageError(WorkbenchError):
    """The record store is damaged (records lost or out of order); the message names the group and the damage."""


class MissingMetricError(WorkbenchError):
    """A group or variable that an analysis needs was not recorded."""


class TooFewRecordsError(WorkbenchError):
    """An analysis needs more records (steps, seeds, probe items) than the data hold."""


def require_length(n: int, minimum: int, what: str, how: str = "record more often (python -m seedling.train ... --record every=N with a smaller N)") -> None:
    """Raise TooFewRecordsError unless ``n >= minimum``; ``what`` names the analysis."""
    if n < minimum:
        raise TooFewRecordsError(f"{what} needs at least {minimum} records but got {n}; {how}")
