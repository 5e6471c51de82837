"""Numbers as text: estimates rounded to what their uncertainty supports (summary, report, dashboard tables)."""

from __future__ import annotations

import math


def decimals_for(uncertainty: float, sig: int = 1) -> int:
    """Decimal places that keep ``sig`` significant digits of ``uncertainty`` (negative: round to tens, hundreds).

    The reporting rule of thumb (e.g. APA; Taylor 1997, "An introduction to error analysis", ch. 2): the
    last digit of an estimate sits where its uncertainty's first significant digit sits.

    >>> decimals_for(9.5), decimals_for(95), decimals_for(0.012), decimals_for(12, sig=2)
    (0, -1, 2, 0)
    """
    if not math.isfinite(uncertainty) or uncertainty <= 0:
        return 4
    return sig - 1 - math.floor(math.log10(uncertainty))


def _round(v: float, d: int) -> str:
    if not math.isfinite(v):
        return str(v)
    r = round(v, d)
    return f"{r:.{max(d, 0)}f}" if abs(r) < 1e15 else f"{r:.3g}"


def fmt_ci(estimate: float, lo: float, hi: float) -> str:
    """``"649 [640, 659]"``: estimate and interval rounded to one significant digit of the half-width.

    >>> fmt_ci(649.27, 639.8, 658.9)
    '649 [640, 659]'
    >>> fmt_ci(837.4, 750.0, 940.0)
    '840 [750, 940]'
    """
    d = decimals_for((hi - lo) / 2)
    return f"{_round(estimate, d)} [{_round(lo, d)}, {_round(hi, d)}]"


def fmt_se(estimate: float, se: float) -> str:
    """``"0.25 (SE 0.013)"``: the estimate to the SE's second significant digit, the SE to two digits.

    >>> fmt_se(4.4e-20, 12.0)
    '0 (SE 12)'
    >>> fmt_se(0.2461, 0.0132)
    '0.246 (SE 0.013)'
    """
    d = decimals_for(se, sig=2)
    return f"{_round(estimate, d)} (SE {se:.2g})" if math.isfinite(se) else f"{estimate:.4g} (SE {se})"
