"""`synthetic:constructs`: a corpus with five planted latent constructs, and the item set written from it.

Why: the psychometric probes (recorders.psychometrics) ask when a model's representation of
questionnaire items acquires their construct structure. On a corpus where the structure is planted,
the answer is known, so the probes can be tested: the recovered factors must go from chance to the
planted five.

The generative model. Each document describes one person with a latent level on each construct,
theta_c in {+1, -1} (independent, equally likely). The document is a run of six-word sentences

    OPENER VERB W1 JOIN W2 .        e.g. "i am talkative and lively ."

with OPENER VERB one of ("i", "am"), ("i", "feel"), ("i", "seem"), ("i", "look") and JOIN "and"
or ",", all uniform and independent of the traits. Each sentence's first adjective is about a
construct c drawn uniformly; with probability `tie` the second is about the same construct, else
about another drawn uniformly and independently. Each adjective is drawn uniformly from the pole of
its construct that the person's theta selects: `POLES[c][0]` (the "high" adjectives) when
theta_c = +1, `POLES[c][1]` otherwise. With probability `noise` an adjective is replaced by one
drawn uniformly from all of them (so no inference is certain).

What a model can learn: within a tied sentence, the second adjective's construct and pole follow
from the first (a short-range cue, learned early); across the document, the person's pole on every
construct persists, so an earlier adjective of c tells which pole later adjectives of c come from
(an in-context cue that needs all five poles held at once). The adjectives of one pole are
exchangeable, and the two poles of a construct predict opposite continuations, so the learnable
structure is bipolar: one direction per construct, high pole at one end, low at the other (what a
keyed questionnaire assumes). Why both cues (tie = 50 percent by default): with every sentence tied
(tie=100) the model packs the five bipolar constructs into about three dimensions and the factors
blur into each other; with none tied (tie=0) the in-context cue alone had not been learned after
1,000 steps (measured: docs/data.md, "Planted constructs").

The planted item set (`planted_items`): for every construct, five positively keyed items
"i am W_a and W_b" from the high pole and five negatively keyed ones from the low pole (key -1: agreeing means a low level), 50 items for the default five constructs. The items
reuse the corpus's words and sentence frame, so an item is a sentence the model has seen the like of.

Constructs are named after the Big Five so that the tour reads easily; the corpus is synthetic and
says nothing about real personality.

Tokenizer: a `tokenizers` WordLevel model over the words (one token per word, EOT last).
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers

from seedling.tokenizer import EOT

__all__ = ["CONSTRUCTS", "DEFINITIONS", "POLES", "construct_tokenizer", "construct_words", "generate_constructs",
           "planted_items"]

CONSTRUCTS = ("extraversion", "agreeableness", "conscientiousness", "neuroticism", "openness")
# (high pole, low pole), eight adjectives each; every word occurs once in the whole table.
POLES = {
    "extraversion": (("talkative", "outgoing", "sociable", "lively", "bold", "energetic", "chatty", "loud"),
                     ("quiet", "reserved", "shy", "withdrawn", "silent", "timid", "aloof", "solitary")),
    "agreeableness": (("kind", "warm", "gentle", "helpful", "caring", "friendly", "polite", "generous"),
                      ("rude", "cold", "harsh", "selfish", "cruel", "hostile", "stingy", "unkind")),
    "conscientiousness": (("tidy", "careful", "organized", "punctual", "diligent", "thorough", "orderly", "prepared"),
                          ("messy", "careless", "sloppy", "lazy", "late", "chaotic", "forgetful", "disorderly")),
    "neuroticism": (("anxious", "tense", "nervous", "moody", "worried", "irritable", "fearful", "gloomy"),
                    ("calm", "relaxed", "steady", "serene", "secure", "composed", "unworried", "content")),
    "openness": (("curious", "creative", "imaginative", "inventive", "artistic", "original", "clever", "reflective"),
                 ("conventional", "dull", "plain", "routine", "narrow", "rigid", "uncurious", "literal")),
}
DEFINITIONS = {
    "extraversion": "i am talkative outgoing sociable and lively",
    "agreeableness": "i am kind warm gentle and helpful",
    "conscientiousness": "i am tidy careful organized and punctual",
    "neuroticism": "i am anxious tense nervous and moody",
    "openness": "i am curious creative imaginative and inventive",
}
OPENERS = (("i", "am"), ("i", "feel"), ("i", "seem"), ("i", "look"))
JOINS = ("and", ",")
SENTENCE = 6  # OPENER VERB W1 JOIN W2 .
# Word pairs of the five items of one pole: each adjective at least once, none twice in one item.
_ITEM_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (1, 4))


def construct_words(n_constructs: int = 5) -> list[str]:
    """The vocabulary, in token-id order: frame words, then each construct's high and low adjectives."""
    frame = ["i", "am", "feel", "seem", "look", "and", ",", "."]
    traits = [w for c in CONSTRUCTS[:n_constructs] for pole in POLES[c] for w in pole]
    return frame + traits


def construct_tokenizer(n_constructs: int = 5) -> Tokenizer:
    """WordLevel tokenizer over `construct_words` (id = position), EOT = the last id; whitespace splits."""
    words = construct_words(n_constructs)
    vocab = {w: i for i, w in enumerate(words)} | {EOT: len(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=EOT))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([EOT])
    return tok


def generate_constructs(rng: np.random.Generator, n: int, n_ctx: int, n_constructs: int, noise: float,
                        tie: float) -> np.ndarray:
    """(n, n_ctx) token ids of `n` documents (see the module docstring); vectorised over documents and sentences."""
    words = construct_words(n_constructs)
    ids = {w: i for i, w in enumerate(words)}
    # poles[c, p, k]: token id of adjective k of pole p (0 high, 1 low) of construct c
    poles = np.array([[[ids[w] for w in POLES[c][p]] for p in (0, 1)] for c in CONSTRUCTS[:n_constructs]])
    all_traits = poles.reshape(-1)
    n_sent = -(-n_ctx // SENTENCE)
    theta_low = rng.random((n, n_constructs)) < 0.5  # True: the document's person is at the low pole
    about = rng.integers(0, n_constructs, size=(n, n_sent, 2))  # each adjective's construct, independent
    tied = rng.random((n, n_sent)) < tie  # sentences whose second adjective keeps the first one's construct
    about[..., 1] = np.where(tied, about[..., 0], about[..., 1])
    pole = np.take_along_axis(theta_low, about.reshape(n, -1), axis=1).reshape(about.shape).astype(np.int64)
    pick = rng.integers(0, poles.shape[2], size=(n, n_sent, 2))
    traits = poles[about, pole, pick]  # (n, n_sent, 2)
    noisy = rng.random((n, n_sent, 2)) < noise
    traits[noisy] = rng.choice(all_traits, size=int(noisy.sum()))
    opener = np.array([[ids[a], ids[b]] for a, b in OPENERS])[rng.integers(0, len(OPENERS), size=(n, n_sent))]
    join = np.array([ids[j] for j in JOINS])[rng.integers(0, len(JOINS), size=(n, n_sent))]
    seqs = np.stack([opener[..., 0], opener[..., 1], traits[..., 0], join, traits[..., 1],
                     np.full((n, n_sent), ids["."])], axis=2)  # (n, n_sent, SENTENCE)
    return seqs.reshape(n, -1)[:, :n_ctx].astype(np.uint16)


def planted_items(n_constructs: int = 5) -> list[dict[str, object]]:
    """The planted item set: per construct five +1 items from the high pole, five -1 items from the low pole.

    >>> planted_items()[0]
    {'item': 'extraversion_p1', 'text': 'i am talkative and outgoing', 'construct': 'extraversion', 'key': 1}
    """
    rows: list[dict[str, object]] = []
    for c in CONSTRUCTS[:n_constructs]:
        for p, (key, tag) in enumerate(((1, "p"), (-1, "n"))):
            for k, (a, b) in enumerate(_ITEM_PAIRS, 1):
                rows.append({"item": f"{c}_{tag}{k}", "text": f"i am {POLES[c][p][a]} and {POLES[c][p][b]}",
                             "construct": c, "key": key})
    return rows
