"""Training-time recorders and the record store: `Recorder`, `parse_spec`, `StoreWriter`, `VarMeta`.

Imports are lazy so that `import recorders.store` (the workbench's reader side) never pulls torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Recorder", "parse_spec", "RecordSpec"]

_LAZY = {"Recorder": "recorders.recorder", "parse_spec": "recorders.spec", "RecordSpec": "recorders.spec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recorders' has no attribute {name!r}")
