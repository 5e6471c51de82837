"""Plain-language texts shown beside each chart: what it shows, its formula, how to read it."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "loss": (
        "**What:** the mean next-token cross-entropy on training batches (one point per optimizer step) and on "
        "held-out validation text. **Formula:** L = -(1/N) sum_i log p(x_i | x_<i), in nats per token. "
        "**Read it:** lower is better; a gap that widens between train and validation means overfitting."
    ),
    "ppl": (
        "**What:** perplexity, the loss on a more intuitive scale. **Formula:** PPL = exp(L). "
        "**Read it:** the model is as uncertain as if it chose uniformly among PPL tokens at each position."
    ),
    "lr": (
        "**What:** the learning rate the optimizer used at each step (warm-up, then cosine decay). "
        "**Formula:** set by the schedule in the config. **Read it:** changes in other curves that line up "
        "with changes here are caused by the schedule, not by learning."
    ),
    "weight_norm": (
        "**What:** the size of each parameter tensor over training. **Formula:** Frobenius norm "
        "||W||_F = sqrt(sum_ij W_ij^2) (unitless). **Read it:** steady growth is normal; a site that grows much "
        "faster than the others is where learning concentrates (implementation level)."
    ),
    "grad_norm": (
        "**What:** the size of each parameter's gradient, after accumulation and unscaling, before clipping. "
        "**Formula:** ||dL/dW||_F. **Read it:** spikes mark unstable steps; the colour scale is log10, so one "
        "colour step is a factor of ten."
    ),
    "update_ratio": (
        "**What:** how much each step changed each parameter, relative to its size. **Formula:** "
        "||W_after - W_before||_F / ||W_before||_F. **Read it:** around 1e-3 is the usual healthy range; "
        "much larger means the learning rate is too high for that site, much smaller that it barely learns."
    ),
    "spectral": (
        "**What:** singular-value statistics of each weight matrix. **Formula:** sigma_max = largest singular "
        "value; stable rank = ||W||_F^2 / sigma_max^2 (a soft count of the directions in use). **Read it:** a "
        "falling stable rank means the matrix concentrates on fewer directions (Martin & Mahoney 2021)."
    ),
    "entropy": (
        "**What:** how spread out each head's attention is, averaged over the probe batch and query positions. "
        "**Formula:** H = -sum_k p_k log p_k in nats (0 = attends to one token; log T = uniform over T tokens). "
        "**Read it:** a head whose entropy falls sharply has specialised (algorithmic level)."
    ),
    "head_scores": (
        "**What:** how much each head behaves like a known mechanism (Olsson et al. 2022). **Formula:** mean "
        "attention probability on the previous token (previous_token), on the first token (first_token), or on "
        "the token after the earlier copy of the current token in a repeated random sequence (induction). "
        "**Read it:** values near 1 mean the head does that job; above 0.3 the workbench names the head's role."
    ),
    "pattern": (
        "**What:** one head's attention at one recorded step on a probe sequence. **Formula:** "
        "softmax(q k^T / sqrt(d_head)) with the causal mask; each row sums to 1. **Read it:** a diagonal just "
        "below the main one is a previous-token head; in a repeated sequence, a stripe offset by the repeat "
        "length is an induction head."
    ),
    "trajectory": (
        "**What:** one head's entropy and scores over training. **Read it:** a sudden rise of the induction "
        "score together with a fall in entropy is the induction phase change (Olsson et al. 2022)."
    ),
    "act_stats": (
        "**What:** summary statistics of activations at each layer over training, on the fixed probe batch. "
        "**Formula:** rms = sqrt(mean x^2); kurtosis is excess (Fisher), 0 for a normal distribution. "
        "**Read it:** growing kurtosis signals outlier features; dead_fraction is the share of MLP neurons "
        "that never fire."
    ),
    "cka": (
        "**What:** how similar the residual-stream representations of different layers are at one step. "
        "**Formula:** linear CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), centred (Kornblith et al. 2019). "
        "**Read it:** 1 = same representation up to rotation and scale; blocks of high similarity are layers "
        "that do little to the stream."
    ),
    "pca": (
        "**What:** the residual stream of each probe item, projected on its two main directions of variation, "
        "followed over training. **Formula:** PCA by SVD of the centred (step x item, d_model) matrix. "
        "**Read it:** long jumps are fast representational change; colour runs from early (dark) to late (light)."
    ),
    "analysis": (
        "**What:** statistical summaries of the trajectories, computed by the workbench. Each table can be "
        "downloaded as CSV and each chart as interactive HTML."
    ),
    "constructs_trajectory": (
        "**What:** one statistic of the item representations at every recorded step (blue), the same pipeline with "
        "the items' construct labels shuffled (grey band: min..max over 10 shuffles) and with each item's embedding "
        "dimensions scrambled (dotted). **Formula:** DAAL_{f,d} = mean_{i in d} |loading_{i,f}|, a domain is "
        "recovered when exactly one factor wins it with DAAL >= 0.25; Tucker's phi = sum x y / sqrt(sum x^2 sum y^2) "
        "of rotated loadings and the keyed target; recovery = Pearson r of off-diagonal centred cosines with "
        "key_i key_j [same construct]. **Read it:** the target rotation fits any labels somewhat, so the grey band, "
        "not zero, is chance; structure is learned when the blue line leaves the band (red: onset, t_mid - 2w of a "
        "logistic fit). Phi >= .95 means equal factors, .85-.94 fair (Lorenzo-Seva & ten Berge 2006)."
    ),
    "constructs_similarity": (
        "**What:** cosine similarity of every pair of item embeddings at one step and layer, items grouped by "
        "construct (boxes), positively keyed (+) before reverse-keyed (-). **Formula:** centred: cos(x_i - m, x_j - m) "
        "with m the mean embedding of the item set (decoder vectors share a large common direction, so raw cosines "
        "sit near 1). Fixed colour scale from -1 (blue) to 1 (red). **Read it:** like a correlation matrix: red "
        "blocks on the diagonal, and blue between + and - items of one construct, are the keyed structure."
    ),
    "compare": (
        "**What:** the same statistic from two or more runs on one set of axes (seeds, learning rates). "
        "**Read it:** differences larger than the spread between seeds are effects of the setting."
    ),
    "samples": (
        "**What:** what the model wrote after the same beginnings (the first tokens of two validation documents) "
        "at each checkpoint, made during training. **How:** greedy always takes the most probable next token; "
        "top_p=0.9 draws from the smallest set of tokens holding 90% of the probability, with the same seed at "
        "every checkpoint; at most 24 new tokens, fewer when the model ended the document. **Read it:** like the "
        "same items given at every wave of a study: follow one prompt down the steps to see words, then "
        "grammar, then repetition of the context appear."
    ),
}


def text(key: str) -> str:
    """The explanation for a chart key; an empty string for an unknown key."""
    return TEXTS.get(key, "")
