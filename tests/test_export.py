"""Export to transformers' GPT-2: same logits after a save/load round trip, tokenizer loads offline."""

import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

from seedling import GPT, ModelConfig
from seedling.export import save_hf_tokenizer, to_hf
from seedling.tokenizer import save_tokenizer, train_tokenizer


@pytest.mark.parametrize("init,bias,pad", [("seedling", True, 1), ("gpt2", True, 64), ("seedling", False, 1)])
def test_exported_model_matches_our_logits(tmp_path, init, bias, pad):
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=2, n_heads=4, d_model=32, n_ctx=24, d_vocab=100, init=init, bias=bias,
                      pad_vocab_multiple=pad, dropout=0.1, layer_norm_eps=1e-6)
    model = GPT(cfg).eval()
    with torch.no_grad():  # move every parameter off its init so a swapped or untransposed weight shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    to_hf(model, eot_id=0).save_pretrained(tmp_path)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path, local_files_only=True).eval()
    assert hf.config.activation_function == "gelu" and hf.config.vocab_size == cfg.d_vocab_padded
    assert hf.config.resid_pdrop == 0.1 and hf.config.layer_norm_epsilon == 1e-6
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()  # tied after loading
    tokens = torch.randint(0, 100, (3, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(hf(tokens).logits, model(tokens), atol=1e-5, rtol=0)


def test_exported_tokenizer_loads_offline_and_encodes_the_same(tmp_path):
    tok = train_tokenizer(["the cat sat on the mat", "a dog and a cat"] * 20, vocab_size=300)
    path = save_tokenizer(tok, tmp_path / "tokenizer.json")
    out = tmp_path / "hf"
    assert save_hf_tokenizer(path, out, model_max_length=64) == "<|endoftext|>"
    hf_tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "the dog sat<|endoftext|>a cat, naïve ☕"
    assert hf_tok(text)["input_ids"] == tok.encode(text).ids
    assert hf_tok.decode(tok.encode(text).ids) == text
    assert hf_tok.eos_token_id == tok.token_to_id("<|endoftext|>") == 0
    assert hf_tok.model_max_length == 64
