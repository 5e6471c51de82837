"""Byte-level BPE tokenizer: exact round trips, vocabulary bound, atomic save and identical reload."""

from __future__ import annotations

import random

import pytest

from seedling.tokenizer import EOT, TokenizerError, load_tokenizer, save_tokenizer, train_tokenizer

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Item response theory models the probability of a correct answer.",
    "def f(x):\n    return x ** 2  # a comment\n",
    "Ünïcödé text, emoji 🌱 and CJK 種子 appear rarely.",
] * 20


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=400)


def _random_unicode(rng: random.Random, n: int) -> str:
    # Mix ASCII, Latin-1, CJK, astral-plane emoji, combining marks, controls and whitespace runs.
    ranges = [(0x20, 0x7E), (0x00, 0x1F), (0xA0, 0xFF), (0x4E00, 0x4FFF), (0x1F300, 0x1F6FF), (0x0300, 0x036F)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
        if rng.random() < 0.1:
            out.append(rng.choice(["  ", "\n\n", "\t", " \r\n"]))
    return "".join(out)


def test_round_trip_exact_for_arbitrary_unicode(tok):
    rng = random.Random(0)
    samples = ["", " ", "  leading and trailing  ", "\n", "a\u200bb", "\x00\x01\x7f", "Ω≈ç√∫"]
    samples += [_random_unicode(rng, rng.randint(1, 200)) for _ in range(200)]
    for s in samples:
        assert tok.decode(tok.encode(s).ids, skip_special_tokens=False) == s, repr(s)


def test_eot_is_one_special_token_and_round_trips(tok):
    eot = tok.token_to_id(EOT)
    assert eot is not None
    ids = tok.encode(f"first doc{EOT}second doc").ids
    assert ids.count(eot) == 1
    assert tok.decode(ids, skip_special_tokens=False) == f"first doc{EOT}second doc"


def test_vocab_bounded_and_has_all_bytes(tok):
    assert 257 <= tok.get_vocab_size() <= 400
    # every single byte has a token: a string of all 256 byte values (as latin-1) needs no unknowns
    s = bytes(range(256)).decode("latin-1")
    assert tok.decode(tok.encode(s).ids) == s
    assert train_tokenizer(CORPUS, vocab_size=300).get_vocab_size() <= 300


def test_merges_compress_training_text(tok):
    text = CORPUS[0]
    assert len(tok.encode(text).ids) < len(text.encode("utf-8")) / 2


def test_too_small_vocab_is_an_error():
    with pytest.raises(TokenizerError, match="vocab_size=100.*at least 257"):
        train_tokenizer(CORPUS, vocab_size=100)


def test_save_load_identical(tok, tmp_path):
    path = save_tokenizer(tok, tmp_path / "sub" / "tokenizer.json")
    again = load_tokenizer(path)
    assert again.to_str() == tok.to_str()
    s = _random_unicode(random.Random(1), 300)
    assert again.encode(s).ids == tok.encode(s).ids
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]  # no temp file left behind


def test_save_replaces_atomically_and_keeps_old_file_on_failure(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    save_tokenizer(tok, path)
    before = path.read_text()

    class Broken:
        def to_str(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_tokenizer(Broken(), path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]


def test_load_missing_or_corrupt_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="does not exist"):
        load_tokenizer(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.0", "model": ')
    with pytest.raises(TokenizerError, match="not a valid tokenizers JSON"):
        load_tokenizer(bad)
