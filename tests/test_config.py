"""Configs: presets, overrides from TOML and the command line, and clear errors."""

import json

import pytest

from seedling.config import ConfigError, RunConfig, apply_overrides, config_diff, preset


def test_presets_resolve():
    tiny, seedling = preset("tiny"), preset("seedling")
    assert tiny.preset == "tiny" and tiny.model.n_layers == 2
    m, t = seedling.model, seedling.train
    assert (m.n_layers, m.n_heads, m.d_model, m.n_ctx, m.d_vocab, m.dropout) == (8, 8, 512, 1024, 50000, 0.05)
    assert (t.lr, t.weight_decay, t.beta1, t.beta2, t.eps, t.grad_clip) == (1e-4, 0.01, 0.9, 0.95, 1e-8, 0.5)
    assert (t.micro_batch_size, t.grad_accum, t.warmup_steps) == (8, 32, 5000)
    assert preset("small").model.n_layers == 6


def test_overrides_parse_types():
    cfg = preset("tiny", ["model.n_layers=3", "train.lr=3e-4", "data.source=synthetic:induction",
                          "train.max_steps=none", "train.compile=true", "train.min_lr=0"])
    assert cfg.model.n_layers == 3 and cfg.train.lr == 3e-4 and cfg.train.min_lr == 0.0
    assert cfg.data.source == "synthetic:induction"
    assert cfg.train.max_steps is None and cfg.train.compile is True


def test_toml_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\nn_layers = 4\n[train]\nlr = 2e-4\n')
    cfg = preset("tiny", ["train.lr=5e-4"], toml=path)
    assert cfg.model.n_layers == 4 and cfg.train.lr == 5e-4


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.n_layer=3", "unknown config key 'model.n_layer'; accepted: "),
        ("optim.lr=1", "unknown config key 'optim.lr'"),
        ("train.lr", "malformed override 'train.lr'"),
        ("model.n_layers=two", "model.n_layers='two' is not an integer"),
        ("model.n_heads=5", "not divisible by model.n_heads=5"),
        ("train.precision=fp8", "train.precision='fp8' is not one of"),
        ("model.init=xavier", "model.init='xavier' is not one of 'seedling', 'gpt2'"),
        ("train.compile=yes", "is not a boolean"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preset("tiny", [override])


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'huge'; accepted: tiny, small, seedling"):
        preset("huge")


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        preset("tiny", toml=path)
    with pytest.raises(ConfigError, match="does not exist"):
        preset("tiny", toml=tmp_path / "missing.toml")


def test_json_round_trip_and_diff():
    cfg = preset("seedling", ["train.lr=2e-4"])
    back = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert back == cfg
    other = apply_overrides(cfg, ["model.n_layers=4"])
    assert config_diff(cfg, other) == ["model.n_layers: 8 -> 4"]


def test_configs_are_frozen():
    cfg = preset("tiny")
    with pytest.raises(AttributeError):
        cfg.model.n_layers = 5  # type: ignore[misc]
