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
    "an_changepoints": (
        "**What:** where the trajectory shifts level (or slope), found by binary segmentation. **Formula:** a split "
        "is kept when the residual sum of squares of the segment fits falls by more than p sigma^2 ln n (BIC), sigma "
        "from the median absolute first difference (Killick et al. 2012). **Read it:** red dotted lines are change "
        "points; the orange band is the induction head's logistic onset with its CI, for reference."
    ),
    "an_fit": (
        "**What:** a parametric growth curve fitted by nonlinear least squares. **Formula:** as written above the "
        "chart; R^2 = 1 - RSS/TSS. **Read it:** a parameter flagged 'at a bound', 'SE > |estimate|' or outside the "
        "data's range is not determined by the data: do not report it. Bounded scores start on the logistic, "
        "losses on the power law. The SEs assume independent records, so they are too small."
    ),
    "an_onset": (
        "**What:** when the score rises. **Formula:** logistic fit; logistic onset = t_mid - 2w (12% of the rise), "
        "midpoint = t_mid (50%). **Read it:** the interval is this run's measurement precision. The spread between "
        "seeds is larger: train `--seeds 3` and the report gives the onset across seeds with a t interval. Not the "
        "same as the role emergence step (first of 3 records past 0.3) on the Attention heads page."
    ),
    "an_xcorr": (
        "**What:** whether changes in one trajectory come before changes in the other. **Formula:** r_k = "
        "corr(dx_t, dy_{t+k}) on first differences. **Read it:** a bar at positive k means x changes k records "
        "before y; at negative k, y changes first. Dashed lines: the 95% band of no correlation, Bonferroni-"
        "corrected for the number of lags tested (without the correction one lag in 21 crosses it by chance)."
    ),
    "an_seeds": (
        "**What:** the trajectory of each chosen run, their mean, and a 95% confidence band of the mean. "
        "**Formula:** mean +- t_{0.975, k-1} sd / sqrt(k) over k runs (the report uses the same band). "
        "**Read it:** over seeds of one configuration, the band is the uncertainty of the average run; over "
        "runs with different settings it is not a reliability and is labelled 'runs'."
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
    "ablation": (
        "**What:** how much the loss rises when one head is silenced: its output (hook_z) replaced by its mean over "
        "the probe items and positions (mean-ablation; Wang et al. 2022). **Formula:** loss(ablated) - loss(clean) "
        "in nats, on the natural probe or on the repeated half of the induction probe. The null: the same-sized "
        "push in a random direction of the residual stream. **Read it:** a head matters causally only where its "
        "effect is well above its null; an induction head's effect on the repeat appears at its onset."
    ),
    "composition": (
        "**What:** which later heads read what earlier heads write (Elhage et al. 2021). **Formula:** "
        "K-composition ||W_OV^A W_QK^B^T||_F / (||W_OV^A||_F ||W_QK^B||_F), row-vector convention, the ln1 gain "
        "folded in (Q: W_QK^B, V: W_OV^B). Edges are drawn only above the null band (95th percentile of the "
        "score between random Gaussian heads of the same shapes); wider = stronger. **Read it:** an induction "
        "circuit is a K-composition edge from a layer-0 previous-token head into a later induction head."
    ),
    "logit_lens": (
        "**What:** the loss if the model stopped after each layer and read out its residual stream through the "
        "final LayerNorm and the unembedding (nostalgebraist 2020). **Formula:** CE(ln_final(resid_post_l) W_U) "
        "in nats; KL(p_final || p_l) is stored too. **Read it:** the first layer whose line drops is where the "
        "prediction is formed; on the repeated half, the layer holding the induction head."
    ),
    "circuit": (
        "**What:** the induction circuit's trajectories on one time axis: the feeder's previous-token score, its "
        "K-composition into the induction head, the head's induction score, its ablation effect and direct logit "
        "attribution on the repeat, and the logit-lens loss drop at its layer. **Formula:** each rescaled to "
        "(x - first) / (peak - first); dotted lines: onsets (t_mid - 2w of a logistic fit, workbench "
        "onset_with_ci). **Read it:** the order of the onsets is the order in which the circuit forms; "
        "trajectories from replayed checkpoints have few points, so their onsets are interpolated."
    ),
    "samples": (
        "**What:** what the model wrote after the same beginnings (the first tokens of two validation documents, and "
        "the first of them followed by its first half again: a model with induction heads continues the repeat) "
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
