"""Faster CFR variants: predictive CFR+ and discounted CFR, in the CFR family
of :class:`~marlmeta.solvers.CFRPlus` (same counterfactual values, alternating
updates, own-reach-weighted averages; they differ in the regret update and
the averaging weight).

Predictive CFR+ (Farina, Kroer, Sandholm, "Faster Game Solving via Predictive
Blackwell Approachability: Connecting Regret Matching and Mirror Descent",
AAAI 2021) plays regret matching on the regrets plus a prediction of the next
instantaneous regret, the last one:

    R <- max(R + r, 0),   m <- r,   pi <- [R + m]^+ / sum_a [R + m]^+_a

with the average weighted by ``t^gamma`` (quadratic, ``gamma = 2``, in the
paper's experiments).

Discounted CFR (Brown, Sandholm, "Solving Imperfect-Information Games via
Discounted Regret Minimization", AAAI 2019) discounts the accumulated regrets
after adding iteration ``t``'s:

    R <- R + r;   R <- R t^alpha / (t^alpha + 1) where R > 0,
                  R <- R t^beta / (t^beta + 1) where R < 0

with regret matching on ``R`` and the average weighted by ``t^gamma``
(``alpha = 3/2, beta = 0, gamma = 2`` recommended; ``alpha = beta = gamma = 1``
is linear CFR).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.solvers._base import check_hyperparameter, hyperparameter
from marlmeta.solvers._cfr_plus import AbstractCFR


class PredictiveCFRPlus(AbstractCFR):
    """Predictive CFR+ (module text): regret-matching+ on the regrets plus the
    last instantaneous regret, alternating updates, average weighted by
    ``t^gamma``. No step size.

    Attributes:
        gamma: the power of the averaging weight ``t^gamma`` (``>= 0``;
            default 2, quadratic averaging).
    """

    gamma: Float[Array, ""] = hyperparameter("gamma", default=2.0)

    def __check_init__(self):
        check_hyperparameter("gamma", self.gamma, allow_zero=True)

    def update(self, t, regret, prediction, inst):
        del t, prediction
        return jnp.maximum(regret + inst, 0), inst

    def average_weight(self, t):
        return t ** self.gamma.astype(t.dtype)


class DiscountedCFR(AbstractCFR):
    """Discounted CFR (module text): positive regrets discounted by
    ``t^alpha / (t^alpha + 1)``, negative ones by ``t^beta / (t^beta + 1)``,
    regret matching, alternating updates, average weighted by ``t^gamma``.

    The iterates are those of OpenSpiel's ``DCFRSolver`` with the same
    ``alpha, beta, gamma``.

    Attributes:
        alpha: discount power of positive regrets (``>= 0``, default 1.5).
        beta: discount power of negative regrets (``>= 0``, default 0).
        gamma: the power of the averaging weight ``t^gamma`` (``>= 0``,
            default 2).
    """

    alpha: Float[Array, ""] = hyperparameter("alpha", default=1.5)
    beta: Float[Array, ""] = hyperparameter("beta", default=0.0)
    gamma: Float[Array, ""] = hyperparameter("gamma", default=2.0)

    def __check_init__(self):
        for name in ("alpha", "beta", "gamma"):
            check_hyperparameter(name, getattr(self, name), allow_zero=True)

    def update(self, t, regret, prediction, inst):
        new = regret + inst
        pa = t ** self.alpha.astype(t.dtype)
        pb = t ** self.beta.astype(t.dtype)
        return jnp.where(new > 0, new * pa / (pa + 1), new * pb / (pb + 1)), prediction

    def average_weight(self, t):
        return t ** self.gamma.astype(t.dtype)
