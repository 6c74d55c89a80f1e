"""Softmax gradient play and natural gradient play, with log barrier.

Zhang, Mei, Dai, Schuurmans and Li's decentralized dynamics for discounted
Markov (potential) games. Every player updates its logits ``theta_i``
simultaneously from ``theta^(t)``, with ``d`` the discounted visitation of
``initial`` and ``Abar_i`` the averaged advantage of the current policy
(:mod:`marlmeta.evaluation`):

- gradient play (their eq. 8), with log barrier ``lambda`` (eq. 15):
  ``theta_i += eta [d pi_i Abar_i / (1 - gamma) + lambda (1 - |A_i| pi_i)]``;
  the barrier ``lambda sum_{s, a} log pi_i(a|s)`` is not weighted by ``d``
  (eq. 14), so each player's step depends on its own policy only;
- natural gradient play (eq. 10) and its log-barrier form (eq. 17):
  ``w_i = eta [Abar_i / (1 - gamma) + lambda / (d pi_i) - lambda |A_i| / d]``,
  then ``theta_i += w_i - mean(w_i)``. Eq. (10) as printed drops ``eta``; this
  library keeps it, as the paper's proofs do.

**Clip (the paper's practical modification, §6).** The paper truncates each
entry of the log-barrier NGP step to ``[-1, 1]`` without saying which
exponent; the authors' scripts differ. With ``clip`` given, this library clips
``w_i`` above entrywise to ``[-clip, clip]`` before centring (the n-agent
scripts' form, the default); ``centred_clip=False`` clips instead the
un-centred exponent ``eta [Qbar_i / (1 - gamma) + lambda / (d pi_i)]`` (the
two-agent script's form, which the paper's Figure 1 shows). Without a clip
both forms are the same update.

Updating logits (not probabilities, as the authors' scripts do) means no
probability ever underflows to an exact zero and gets stuck there; the
mean-centring of natural gradient play is the Moore-Penrose step of their
Lemma 11 and keeps ``sum_a theta_i(s, a)`` fixed. ``lambda = 0`` gives the
unregularised methods. The inner loop of Mao et al.'s MAML (their eq. 44) is
gradient play with ``lambda = 0`` (:func:`gradient_step`).

References:
    Zhang, Mei, Dai, Schuurmans, Li. On the Global Convergence Rates of
    Decentralized Softmax Gradient Play in Markov Potential Games. NeurIPS 2022.

    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, eq. (44).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation import policy_gradient
from marlmeta.games import DiscountedMarkovGame
from marlmeta.policies import as_policy, logits, softmax, uniform
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter, hyperparameter

Logits = tuple[Float[Array, "S Ai"], ...]


def gradient_step(game: DiscountedMarkovGame, theta: Logits, step_size) -> Logits:
    """Mao et al. eq. (44): ``theta_i += alpha grad_{theta_i} V_i^rho(theta)``."""
    grad = policy_gradient(game, softmax(theta))
    return tuple(t + step_size * g for t, g in zip(theta, grad, strict=True))


class AbstractSoftmaxPlay(AbstractSolver):
    """Shared protocol: the state is the logits, the output their softmax."""

    step_size: eqx.AbstractVar[Float[Array, ""]]
    barrier: eqx.AbstractVar[Float[Array, ""]]

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)
        check_hyperparameter("barrier", self.barrier, allow_zero=True)

    def default_init(self, game: DiscountedMarkovGame, num_steps: int):
        del num_steps
        return uniform(game)

    def init(self, game: DiscountedMarkovGame, init_policy) -> Logits:
        game.require_discounted(type(self).__name__)
        dtype = game.rewards.dtype
        return logits(tuple(p.astype(dtype) for p in init_policy))

    def output(self, game: DiscountedMarkovGame, state: Logits):
        del game
        return softmax(state)

    def stats(self, game: DiscountedMarkovGame, state: Logits):
        return self.output(game, state)


class GradientPlay(AbstractSoftmaxPlay):
    """Softmax gradient play (Zhang et al. eq. 8) or its log-barrier form (eq. 15).

    Attributes:
        step_size: ``eta > 0``.
        barrier: ``lambda >= 0`` of the log barrier (``0``: plain gradient play).

    Example:
        >>> import marlmeta
        >>> from marlmeta.games import zoo
        >>> game = zoo.zhang2022_g2()
        >>> sol = marlmeta.solve(marlmeta.solvers.GradientPlay(5.0), game, 99)
        >>> round(float(marlmeta.evaluation.potential(game, sol.policy)), 6)
        0.157805
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    barrier: Float[Array, ""] = hyperparameter("barrier", default=0.0)

    def step(self, game: DiscountedMarkovGame, state: Logits) -> Logits:
        dtype = state[0].dtype
        eta, lam = self.step_size.astype(dtype), self.barrier.astype(dtype)
        pol = softmax(state)
        grad = policy_gradient(game, pol)
        # |A_i| counts the legal actions (illegal logits stay at -inf).
        counts = game.legal.counts(game.lead_shape, game.num_actions)
        return tuple(
            t + eta * (g + lam * (1 - k * p))
            for t, g, p, k in zip(state, grad, pol, counts, strict=True)
        )


class NaturalGradientPlay(AbstractSoftmaxPlay):
    """Softmax natural gradient play (Zhang et al. eq. 10) or log-barrier NGP
    (eq. 17).

    Attributes:
        step_size: ``eta > 0``.
        barrier: ``lambda >= 0`` of the log barrier (``0``: plain natural
            gradient).
        clip: static, ``> 0``; clip every entry of the exponent ``w_i`` to
            ``[-clip, clip]`` before centring (the paper uses ``1`` for LB-NGP),
            or ``None``.
        centred_clip: static; clip ``w_i`` as above (``True``, the authors'
            n-agent scripts) or the two-agent script's un-centred exponent
            (``False``, Zhang et al. Figure 1).
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")
    barrier: Float[Array, ""] = hyperparameter("barrier", default=0.0)
    clip: float | None = eqx.field(static=True, default=None)
    centred_clip: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_hyperparameter("clip", self.clip)

    def step(self, game: DiscountedMarkovGame, state: Logits) -> Logits:
        dtype = state[0].dtype
        eta, lam = self.step_size.astype(dtype), self.barrier.astype(dtype)
        pol = softmax(state)
        parts = game.policy_parts(
            as_policy(pol)
        )  # values, Qbar and d from one state kernel
        v, qbar, d = parts.values, parts.qbar, parts.visitation[:, None]
        # Illegal actions: no step (their logits stay -inf); |A_i| and the
        # centring count the legal actions only.
        masks = game.legal.masks(game.lead_shape, game.num_actions)
        out = []
        for i, (t, m) in enumerate(zip(state, masks, strict=True)):
            k = jnp.sum(m, axis=-1, keepdims=True)
            inv_p = jnp.exp(-jax.nn.log_softmax(t, axis=-1))
            if self.clip is None or self.centred_clip:
                a = qbar[i] - v[i][:, None]
                reg = lam / d * (inv_p - k)
            else:
                a, reg = qbar[i], lam / d * inv_p
            w = eta * (a / (1 - game.discount) + jnp.where(lam > 0, reg, 0))
            if self.clip is not None:
                w = jnp.clip(w, -self.clip, self.clip)
            w = jnp.where(m, w, 0)
            out.append(t + jnp.where(m, w - jnp.sum(w, -1, keepdims=True) / k, 0))
        return tuple(out)
