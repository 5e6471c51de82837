"""Pure decisions behind the pages' widgets: which runs and fit to start with, when to warn, how to keep state valid.

No Streamlit here (the pages call these and draw the result), so each rule is a plain function with a test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

SEED_DIR = re.compile(r"^seed\d+$")
# Config keys that differ between seeds of one `--seeds` group without making the runs different experiments.
SEED_KEYS = ("train.seed", "train.seeds", "out", "run_dir", "resume", "seeds")


def seed_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Runs named `GROUP/seedN` (what `--seeds` writes), by group; groups of two or more only.

    Bare `seedN` names (the app started on the group's directory itself) form the group ".".

    >>> seed_groups(["demo", "indseeds/seed0", "indseeds/seed1", "x/seed0"])
    {'indseeds': ['indseeds/seed0', 'indseeds/seed1']}
    >>> seed_groups(["seed0", "seed1"])
    {'.': ['seed0', 'seed1']}
    """
    groups: dict[str, list[str]] = {}
    for n in names:
        parent, _, leaf = n.rpartition("/")
        parent = parent or "."
        if SEED_DIR.match(leaf):
            groups.setdefault(parent, []).append(n)
    return {g: sorted(m, key=lambda s: int(s.rpartition("seed")[2])) for g, m in groups.items() if len(m) >= 2}


def default_runs(names: Sequence[str]) -> list[str]:
    """What a multi-run page (Analyses, Compare) selects at first: the seeds of the first `--seeds` group, else
    only the first run. Never two unrelated runs: the first two alphabetically (a demo on text and a tour on
    induction data) would be drawn as if they were replications.

    >>> default_runs(["demo", "induction"]), default_runs(["demo", "s/seed1", "s/seed0"])
    (['demo'], ['s/seed0', 's/seed1'])
    """
    groups = seed_groups(names)
    if groups:
        return groups[sorted(groups)[0]]
    return list(names[:1])


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(configs: dict[str, dict], ignore: Sequence[str] = SEED_KEYS) -> list[str]:
    """Config keys (dotted) whose values differ between runs, leaving out what seeds of one group differ in.

    >>> config_differences({"a": {"data": {"name": "text"}, "train": {"seed": 0}},
    ...                     "b": {"data": {"name": "synthetic:induction"}, "train": {"seed": 1}}})
    ['data.name']
    """
    flats = [_flat(c) for c in configs.values()]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if k not in ignore
            and len({repr(f.get(k)) for f in flats}) > 1]


def comparison_warning(names: Sequence[str], configs: dict[str, dict]) -> str | None:
    """The warning a page shows over runs that are not seeds of one configuration; None when they are.

    Runs of different data or settings are not "seeds": a band over them is the spread between
    experiments, not between replications.
    """
    if len(names) < 2:
        return None
    diff = config_differences(configs)
    same_group = len(seed_groups(names)) == 1 and len(next(iter(seed_groups(names).values()))) == len(names)
    if not diff and same_group:
        return None
    shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
    why = f"their configurations differ in {shown}" if diff else "they are not the seeds of one --seeds group"
    return (f"These runs are not seeds of one configuration: {why}. Differences between them are differences "
            "between settings, not the spread between replications; the band is labelled 'runs', not 'seeds'.")


def are_seeds(names: Sequence[str], configs: dict[str, dict]) -> bool:
    return len(names) >= 2 and comparison_warning(names, configs) is None


def default_fit(name: str, values) -> str:
    """The model the Analyses page fits first: a logistic for bounded scores (probabilities, normalised
    entropies: an S-shaped rise between two levels, which a power law would draw flat), a power law for losses.

    >>> default_fit("head_scores/induction L1H3", [0.02, 0.5, 0.7]), default_fit("loss/train_loss", [4.1, 3.0])
    ('logistic', 'power law')
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    bounded = v.size > 0 and v.min() >= 0 and v.max() <= 1
    if "loss" in name or not bounded:
        return "power law" if "loss" in name else "exponential"
    return "logistic"


def stale(value, options: Sequence) -> bool:
    """True when a remembered widget value is no longer one of `options`.

    A step slider keeps its value in the session when the user switches to a run with fewer records (step
    1500 on a run that ends at 300); such a value must be dropped before the widget is drawn, so the widget
    starts again from its default inside the new run's range.

    >>> stale(1500, [0, 10, 20]), stale(10, [0, 10, 20]), stale("a", [])
    (True, False, True)
    """
    return value not in list(options)


def out_of_vocabulary(ids: Sequence[int], unk_id: int | None, vocab_size: int) -> int:
    """How many of a prompt's token ids the run's model has never seen: unknown-token ids or ids past its vocabulary.

    >>> out_of_vocabulary([1, 0, 70], unk_id=0, vocab_size=64)
    2
    """
    return sum(1 for i in ids if (unk_id is not None and i == unk_id) or i >= vocab_size)
