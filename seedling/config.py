"""Run configuration: frozen dataclasses, presets, and overrides from TOML files and the command line.

One home for defaults: the field defaults below. Presets (`PRESETS`) change some fields on top of
them; a TOML file changes some on top of the preset; `key=value` overrides from the command line
come last. The resolved `RunConfig` is saved with every run (`config.json`), so a run can always be
rebuilt exactly.

>>> cfg = preset("tiny", ["model.n_layers=3", "train.lr=3e-4"])
>>> cfg.model.n_layers, cfg.train.lr
(3, 0.0003)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "PRESETS",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "config_diff",
    "preset",
]


class ConfigError(ValueError):
    """A configuration value or key that is not accepted; the message says what would be."""


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the GPT. Names follow TransformerLens (n_layers, d_model, n_ctx, d_vocab...)."""

    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 128
    n_ctx: int = 128
    d_vocab: int = 2048
    mlp_ratio: int = 4
    dropout: float = 0.0
    bias: bool = True
    layer_norm_eps: float = 1e-5
    # "seedling": N(0, 1/(fan_in+fan_out)) linears, N(0, 0.005^2) embeddings (the published run).
    # "gpt2": N(0, 0.02^2), residual projections scaled by 1/sqrt(2 n_layers) (Radford et al. 2019).
    init: str = "seedling"
    # Pad the embedding matrix to a multiple of this (64 gives the seedling's 50,048): faster
    # matmuls; the extra rows are never produced by the tokenizer.
    pad_vocab_multiple: int = 1

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def d_mlp(self) -> int:
        return self.mlp_ratio * self.d_model

    @property
    def d_vocab_padded(self) -> int:
        m = self.pad_vocab_multiple
        return -(-self.d_vocab // m) * m

    def validate(self) -> None:
        _positive(self, "n_layers", "n_heads", "d_model", "n_ctx", "d_vocab", "mlp_ratio", "pad_vocab_multiple")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}; "
                "choose n_heads that divides d_model"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout} is outside [0, 1)")
        if self.init not in ("seedling", "gpt2"):
            raise ConfigError(f"model.init={self.init!r} is not one of 'seedling', 'gpt2'")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping. Steps are optimizer steps (after gradient accumulation)."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (fp32 on CPU; bf16 or fp16 on CUDA) | fp32 | fp16 | bf16
    micro_batch_size: int = 16
    grad_accum: int = 1
    # The plan's length. max_steps wins; else max_tokens; else epochs over the training split.
    max_steps: int | None = 300
    max_tokens: int | None = None
    epochs: float | None = None
    lr: float = 1e-3
    min_lr: float = 1e-4  # the floor cosine decay ends at
    warmup_steps: int = 30
    schedule: str = "cosine"  # cosine | constant
    restarts: int = 0  # warm restarts: the cosine part split into restarts+1 cycles (SGDR)
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    decay_all: bool = True  # False: no weight decay on biases, LayerNorm and embeddings
    grad_clip: float = 1.0  # max global norm after unscaling; 0 disables
    eval_every: int = 100
    eval_batches: int = 8
    checkpoint_every: int = 100
    keep_last: int = 3
    log_checkpoints: bool = True  # also keep checkpoints at steps 1, 2, 4, 8, ... (dense early)
    bad_step_patience: int = 3  # consecutive non-finite steps before rolling back
    rollback_lr_factor: float = 0.5
    compile: bool = False

    def validate(self) -> None:
        _positive(self, "micro_batch_size", "grad_accum", "eval_every", "eval_batches", "checkpoint_every", "keep_last", "bad_step_patience")
        for name in ("max_steps", "max_tokens"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"train.{name}={v} must be a positive integer or unset")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"train.epochs={self.epochs} must be positive or unset")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ConfigError(f"need 0 <= train.min_lr <= train.lr and lr > 0; got lr={self.lr}, min_lr={self.min_lr}")
        if self.warmup_steps < 0 or self.restarts < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ConfigError("train.warmup_steps, train.restarts, train.grad_clip and train.weight_decay must be >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"train.beta1 and train.beta2 must be in [0, 1); got {self.beta1}, {self.beta2}")
        if not 0 < self.rollback_lr_factor <= 1:
            raise ConfigError(f"train.rollback_lr_factor={self.rollback_lr_factor} must be in (0, 1]")
        _choice(self, "precision", ("auto", "fp32", "fp16", "bf16"))
        _choice(self, "schedule", ("cosine", "constant"))
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"train.device={self.device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")

    @property
    def tokens_per_step(self) -> int:  # in sequences; multiply by n_ctx for tokens
        return self.micro_batch_size * self.grad_accum


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split. See seedling.data for the source syntax."""

    source: str = "builtin"  # builtin | PATH | hf:NAME[:CONFIG] | synthetic:KIND
    val_fraction: float = 0.05  # of documents, not paragraphs
    max_bytes: int | None = None  # byte budget for large corpora (the original used 10 GB)
    text_field: str = "text"  # JSONL / Hugging Face column holding the text
    split_seed: int = 1234

    def validate(self) -> None:
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"data.val_fraction={self.val_fraction} must be in (0, 0.5)")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ConfigError(f"data.max_bytes={self.max_bytes} must be positive or unset")
        if not self.source:
            raise ConfigError("data.source is empty; use 'builtin', a path, 'hf:NAME' or 'synthetic:KIND'")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run: model shape, training plan and data source."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    preset: str = "tiny"

    def validate(self) -> RunConfig:
        self.model.validate()
        self.train.validate()
        self.data.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; accepted: model, train, data, preset")
        cfg = cls(preset=d.get("preset", "custom"))
        flat = {f"{sec}.{k}": v for sec in ("model", "train", "data") for k, v in d.get(sec, {}).items()}
        return _apply(cfg, flat).validate()


PRESETS: dict[str, dict[str, Any]] = {
    # The built-in default: a falling loss on 2 CPU cores in about two minutes, and an induction
    # head within a few minutes on synthetic:induction.
    "tiny": {},
    # About one GPU-hour: a 6-layer model at context 512 on a 16k vocabulary.
    "small": {
        "model.n_layers": 6, "model.n_heads": 8, "model.d_model": 384, "model.n_ctx": 512,
        "model.d_vocab": 16384, "model.dropout": 0.05,
        "train.micro_batch_size": 16, "train.grad_accum": 4, "train.max_steps": 5000,
        "train.lr": 6e-4, "train.min_lr": 6e-5, "train.warmup_steps": 500, "train.grad_clip": 1.0,
        "train.eval_every": 250, "train.checkpoint_every": 500,
    },
    # The published Seedling run on one T4 (docs/data.md, README): ~51.3M parameters.
    "seedling": {
        "model.n_layers": 8, "model.n_heads": 8, "model.d_model": 512, "model.n_ctx": 1024,
        "model.d_vocab": 50000, "model.dropout": 0.05, "model.init": "seedling",
        "train.micro_batch_size": 8, "train.grad_accum": 32, "train.max_steps": 227900,
        "train.lr": 1e-4, "train.min_lr": 0.0, "train.warmup_steps": 5000,
        "train.weight_decay": 0.01, "train.beta1": 0.9, "train.beta2": 0.95, "train.eps": 1e-8,
        "train.grad_clip": 0.5, "train.precision": "auto",
        "train.eval_every": 1000, "train.eval_batches": 50, "train.checkpoint_every": 1000,
    },
}


def preset(name: str = "tiny", overrides: list[str] | dict[str, Any] | None = None, toml: str | Path | None = None) -> RunConfig:
    """The resolved config: field defaults, then the preset, then a TOML file, then overrides.

    `overrides` is a list of "section.key=value" strings (values parsed as TOML literals, bare
    words as strings) or a dict {"section.key": value}.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")
    cfg = _apply(RunConfig(preset=name), PRESETS[name])
    if toml is not None:
        cfg = _apply(cfg, _read_toml(Path(toml)))
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    return cfg.validate()


def apply_overrides(cfg: RunConfig, overrides: list[str] | dict[str, Any]) -> RunConfig:
    """Apply "section.key=value" strings (or a dict) on top of `cfg`, then validate."""
    if isinstance(overrides, dict):
        flat = dict(overrides)
    else:
        flat = {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"malformed override {item!r}; expected section.key=value, e.g. train.lr=3e-4")
            flat[key.strip()] = _parse_literal(raw.strip())
    return _apply(cfg, flat).validate()


def config_diff(a: RunConfig, b: RunConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """Fields that differ between two configs, as 'section.key: a -> b' lines."""
    out = []
    for sec in ("model", "train", "data"):
        da, db = dataclasses.asdict(getattr(a, sec)), dataclasses.asdict(getattr(b, sec))
        for k in da:
            key = f"{sec}.{k}"
            if key not in ignore and da[k] != db[k]:
                out.append(f"{key}: {da[k]!r} -> {db[k]!r}")
    return out


# --- helpers -------------------------------------------------------------------------------------

def _apply(cfg: RunConfig, flat: dict[str, Any]) -> RunConfig:
    sections: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        sec, dot, name = key.partition(".")
        if not dot or sec not in ("model", "train", "data"):
            raise ConfigError(f"unknown config key {key!r}; keys look like model.X, train.X or data.X")
        sections.setdefault(sec, {})[name] = value
    for sec, changes in sections.items():
        sub = getattr(cfg, sec)
        accepted = {f.name: f for f in fields(sub)}
        hints = typing.get_type_hints(type(sub))
        for name, value in changes.items():
            if name not in accepted:
                raise ConfigError(f"unknown config key '{sec}.{name}'; accepted: {', '.join(sorted(accepted))}")
            changes[name] = _coerce(f"{sec}.{name}", value, hints[name])
        cfg = replace(cfg, **{sec: replace(sub, **changes)})
    return cfg


def _coerce(key: str, value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None or (optional and value in ("none", "None", "null")):
        if optional:
            return None
        raise ConfigError(f"{key} cannot be unset")
    if base is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r} is not a boolean; use true or false")
    if base is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{key}={value!r} is not an integer")
        return int(value)
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r} is not a number")
        return float(value)
    if base is str:
        return str(value)
    return value


def _parse_literal(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word, e.g. data.source=builtin


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    flat = {}
    for sec, table in doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: top-level key {sec!r} must be a table [model], [train] or [data]")
        flat.update({f"{sec}.{k}": v for k, v in table.items()})
    return flat


def _positive(obj: Any, *names: str) -> None:
    sec = {ModelConfig: "model", TrainConfig: "train"}.get(type(obj), "?")
    for n in names:
        v = getattr(obj, n)
        if v <= 0:
            raise ConfigError(f"{sec}.{n}={v} must be a positive integer")


def _choice(obj: Any, name: str, accepted: tuple[str, ...]) -> None:
    v = getattr(obj, name)
    if v not in accepted:
        raise ConfigError(f"train.{name}={v!r} is not one of {', '.join(map(repr, accepted))}")
