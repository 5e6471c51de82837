"""Parse the `--record` spec: which steps record, which groups, and how large the probe batch is.

Grammar: `key=value` items separated by spaces or `;`, or the single word `off`. Keys:

- `every=N` records at step 0 and every multiple of N; `every=log:N` records at step 0, at the
  powers of two 1, 2, 4, ... below N, then at every multiple of N (dense early, when most changes).
- `what=a,b,...` the groups to record (default: all but the costly causal ones, `OPT_IN`).
- `probe=N` probe items (sequences), `probe_len=T` tokens per probe item (default and most: the
  model's context; at least 4).
- `items=NAME|PATH` the item set the `constructs` group probes: a bundled set (`planted`, `ipip50`)
  or an items CSV (recorders.psychometrics.items); default `planted` on `synthetic:constructs`, else
  `ipip50`. `constructs` is recorded only when `what=` names it (an EFA per layer each record).
- `sample=N` probe tokens per item kept in `act_sample` (bounded so the store stays small).

>>> s = parse_spec("every=log:500 what=loss,head_scores")
>>> [k for k in range(1100) if s.is_record_step(k)][:12]
[0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000]
>>> parse_spec("off").enabled
False
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_GROUPS", "GROUPS", "OPTIONAL_GROUPS", "OPT_IN", "RecordSpec", "parse_spec"]

# Every group the recorders know, in the order they are measured and written.
GROUPS = (
    "loss", "optim", "weight_norm", "grad_norm", "update_ratio", "matrices", "attn_entropy", "attn_pattern",
    "head_scores", "act_stats", "act_sample", "composition", "logit_lens", "dla", "ablation", "constructs",
)
# What `what=` defaults to: every group that costs less than a few training steps. The causal groups
# run extra forwards on the probe (ablation: 2 x (1 + 2 x layers x heads) of them), so they are
# recorded when named in `what=`, or afterwards by `python -m recorders.replay RUN` (docs/recorders.md).
# The constructs group needs an item set of its own (items=), and one factor analysis per layer.
OPT_IN = ("logit_lens", "dla", "ablation", "constructs")
OPTIONAL_GROUPS = OPT_IN  # the groups `what=` must name
DEFAULT_GROUPS = tuple(g for g in GROUPS if g not in OPT_IN)
KEYS = ("every", "what", "probe", "probe_len", "sample", "seed", "items")
_HELP = (
    "accepted: 'off' or space/';'-separated key=value items with keys every=N|log:N, "
    f"what=GROUP[,GROUP...] (groups: {','.join(GROUPS)}; by default all but {','.join(OPT_IN)}), probe=N, probe_len=T, "
    "sample=N, seed=N, items=NAME|PATH"
)


@dataclass(frozen=True)
class RecordSpec:
    """A parsed record spec. `every` > 0; `log` makes the early schedule dense (powers of two)."""

    enabled: bool = True
    every: int = 100
    log: bool = False
    what: tuple[str, ...] = DEFAULT_GROUPS
    probe: int = 8  # probe items (sequences)
    probe_len: int | None = None  # None: the model's context length
    sample: int = 8  # probe positions per item kept in act_sample (bounds the store: see docs/recorders.md)
    seed: int = 0  # seeds the probe selection and the random-token induction sequence
    items: str | None = None  # item set of the constructs group (None: the default for the data source)

    def is_record_step(self, step: int) -> bool:
        """True when `step` (optimizer steps completed) is recorded: 0, multiples of every, and powers of 2 below every with log."""
        if not self.enabled or step < 0:
            return False
        if step % self.every == 0:
            return True
        return self.log and step < self.every and step & (step - 1) == 0

    def record_steps(self, last: int) -> list[int]:
        """All record steps from 0 to `last` inclusive (for documentation and tests)."""
        return [s for s in range(last + 1) if self.is_record_step(s)]


def _positive_int(key: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise ValueError(f"record spec: {key}={value!r} is not a positive integer; {_HELP}")
    return n


def parse_spec(text: str | None) -> RecordSpec:
    """Parse a spec string (see the module docstring). Raises ValueError with one line naming the bad item.

    An empty string or None gives the defaults (every=100, all groups).
    """
    text = (text or "").strip()
    if text.lower() == "off":
        return RecordSpec(enabled=False)
    fields: dict[str, object] = {}
    for item in text.replace(";", " ").split():
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS or not value:
            raise ValueError(f"record spec: cannot read {item!r}; {_HELP}")
        if key in fields or (key == "every" and "log" in fields):
            raise ValueError(f"record spec: {key} given twice; {_HELP}")
        if key == "every":
            log = value.startswith("log:")
            fields["every"] = _positive_int(key, value[4:] if log else value)
            fields["log"] = log
        elif key == "what":
            names = tuple(v for v in value.split(",") if v)
            unknown = [n for n in names if n not in GROUPS]
            if unknown or not names:
                raise ValueError(f"record spec: unknown group(s) {','.join(unknown) or value!r} in what=; {_HELP}")
            fields["what"] = tuple(g for g in GROUPS if g in names)  # canonical order
        elif key == "items":
            from recorders.psychometrics.items import ItemSetError, load_item_set

            try:  # a bad item set fails before training starts
                load_item_set(value)
            except ItemSetError as e:
                raise ValueError(f"record spec: items={value}: {e}") from None
            fields["items"] = value
        elif key == "seed":
            try:
                fields["seed"] = int(value)
            except ValueError:
                raise ValueError(f"record spec: seed={value!r} is not an integer; {_HELP}") from None
            if not 0 <= fields["seed"] < 2**32:  # numpy's seeds
                raise ValueError(f"record spec: seed={value} is outside 0..{2**32 - 1}; {_HELP}")
        else:
            fields[key] = _positive_int(key, value)
    if fields.get("probe_len", 4) < 4:  # the induction stimulus needs a span of 2 repeated twice
        raise ValueError(f"record spec: probe_len={fields['probe_len']} is too short (at least 4); {_HELP}")
    return RecordSpec(**fields)
