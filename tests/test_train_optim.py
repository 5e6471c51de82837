"""The learning-rate plan and AdamW's parameter groups."""

import math

import pytest
import torch

from seedling import GPT, preset
from seedling.train.optim import Schedule, build_optimizer, lr_at, param_groups


def test_warmup_then_cosine_to_floor():
    s = Schedule(lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110)
    assert lr_at(1, s) == pytest.approx(0.1)
    assert lr_at(10, s) == pytest.approx(1.0)
    assert lr_at(60, s) == pytest.approx(0.55)  # halfway through the cosine: mean of lr and floor
    assert lr_at(110, s) == pytest.approx(0.1)
    assert lr_at(500, s) == pytest.approx(0.1)
    lrs = [lr_at(k, s) for k in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # monotone decay after warmup


def test_warm_restarts_return_to_peak():
    s = Schedule(lr=1.0, min_lr=0.0, warmup_steps=0, total_steps=100, restarts=1)
    assert lr_at(0, s) == pytest.approx(1.0)
    assert lr_at(49, s) < 0.01  # end of the first cycle
    assert lr_at(50, s) == pytest.approx(1.0)  # restart
    assert lr_at(75, s) == pytest.approx(0.5)


def test_scale_and_constant():
    s = Schedule(lr=2.0, min_lr=0.0, warmup_steps=0, total_steps=10, kind="constant", scale=0.25)
    assert lr_at(7, s) == pytest.approx(0.5)


def test_no_decay_groups_exempt_biases_norms_embeddings():
    model = GPT(preset("tiny", ["model.n_layers=1", "model.d_model=32"]).model)
    decay, no_decay = param_groups(model, 0.01, decay_all=False)
    names = {id(p): n for n, p in model.named_parameters()}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert {"wte.weight", "wpe.weight", "blocks.0.ln1.weight", "blocks.0.attn.qkv.bias"} <= exempt
    assert all(names[id(p)].endswith("weight") and p.dim() == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_seedling_optimizer_hyperparameters():
    cfg = preset("seedling", ["model.n_layers=1", "model.d_model=32", "model.n_heads=2", "model.d_vocab=64"])
    opt = build_optimizer(GPT(cfg.model), cfg.train)
    assert isinstance(opt, torch.optim.AdamW)
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"]) == (1e-4, (0.9, 0.95), 1e-8, 0.01)
    assert cfg.train.grad_clip == 0.5
    assert not math.isnan(lr_at(1, Schedule.from_config(cfg.train, cfg.train.max_steps)))
