"""A checkpoint in TransformerLens: the transformers export booted as a TransformerBridge gives our logits.

transformer-lens is not in the dev extra (version 4.x pulls in about 25 packages, wandb and
OpenTelemetry among them), so this test runs where a user has installed it and skips otherwise.
"""

import pytest
import torch

from seedling import GPT, ModelConfig
from seedling.export import to_hf

bridge_module = pytest.importorskip("transformer_lens.model_bridge", reason="transformer-lens is not installed")


def test_transformer_bridge_on_the_export_gives_our_logits_and_hook_names(tmp_path):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layers=2, n_heads=4, d_model=32, n_ctx=24, d_vocab=100)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    to_hf(model, eot_id=0).save_pretrained(tmp_path)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path, local_files_only=True).eval()
    bridge = bridge_module.TransformerBridge.boot_transformers(str(tmp_path), hf_model=hf, device="cpu")
    tokens = torch.randint(0, 100, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(tokens)
        torch.testing.assert_close(logits, model(tokens), atol=1e-4, rtol=0)
    assert any(name.endswith("hook_pattern") for name in cache.keys())
