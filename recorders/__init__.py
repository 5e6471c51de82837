"""Training-time recorders and the record store writer; names load lazily so `import recorders.store` needs no torch."""

from importlib import import_module

# public name -> module that defines it; imported on first access (PEP 562), so that reading a
# store never pulls in torch through the recorders that measure the model.
_LAZY = {
    "Recorder": "recorders.recorder",
    "RecordSpec": "recorders.spec",
    "parse_spec": "recorders.spec",
    "StoreWriter": "recorders.store",
    "VarMeta": "recorders.store",
    "Coord": "recorders.store",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recorders' has no attribute {name!r}")
