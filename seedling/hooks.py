"""Hook points: named identity modules where activations can be observed, TransformerLens-style.

A `HookPoint` is an `nn.Identity` whose module path is its name (`blocks.3.attn.hook_pattern`),
so the place a tensor flows through and the string a user types are the same thing. Hooks are only
attached inside `HookedModule.hooks(...)`, a context manager that removes them on exit, even on an
exception: nothing can be left attached by accident.

    with model.hooks([("blocks.0.attn.hook_pattern", fn)]):
        model(tokens)          # fn(tensor, name) runs here
    model(tokens)              # and not here

A hook function receives `(tensor, name)` and returns None (observe) or a tensor (replace).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]
NameFilter = "str | Callable[[str], bool]"

__all__ = ["HookPoint", "HookedModule", "HookFn"]


class HookPoint(nn.Module):
    """Identity; a place to attach forward hooks. `name` is filled in by `HookedModule`."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""

    @property
    def active(self) -> bool:
        """True while a hook is attached (the attention layer checks this to pick its path)."""
        return bool(self._forward_hooks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class HookedModule(nn.Module):
    """A module whose `HookPoint` children can be hooked by name within a scope."""

    def setup_hook_names(self) -> None:
        """Give every HookPoint its module path as name. Call at the end of `__init__`."""
        for name, mod in self.named_modules():
            if isinstance(mod, HookPoint):
                mod.name = name

    @property
    def hook_points(self) -> dict[str, HookPoint]:
        return {n: m for n, m in self.named_modules() if isinstance(m, HookPoint)}

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[None]:
        """Attach `(name or name-filter, fn)` pairs for the duration of the `with` block."""
        points = self.hook_points
        handles = []
        try:
            for selector, fn in fwd_hooks:
                if callable(selector):
                    names = [n for n in points if selector(n)]
                else:
                    if selector not in points:
                        raise KeyError(
                            f"no hook point named {selector!r}; see model.hook_points for the "
                            f"{len(points)} names, e.g. {next(iter(points))!r}"
                        )
                    names = [selector]
                for n in names:
                    handles.append(points[n].register_forward_hook(_adapt(fn, n)))
            yield
        finally:
            for h in handles:
                h.remove()


def _adapt(fn: HookFn, name: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor):
        return fn(output, name)

    return hook
