"""Drawing an index from a probability vector: the one sampler of the library.

Simulation draws joint actions from policies and next states from transition
kernels; both go through :func:`draw`, inverse-CDF sampling with one uniform
number per draw (cheaper than Gumbel-max, which needs one per entry). The
uniforms are drawn in bulk from a PRNG key by the caller (one call per
episode), which is much cheaper than splitting a key for every draw.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float, Int


def draw(u: Float[Array, "*B"], probs: Float[Array, "*B K"]) -> Int[Array, "*B"]:
    """An index ``k`` with probability ``probs[.., k] / sum(probs[..])``.

    ``k`` is the number of cumulative sums ``c_j = sum_{l <= j} p_l`` with
    ``c_j <= u c_{K-1}`` for the given ``u ~ U[0, 1)``, capped at the last
    positive entry, so a zero-probability entry is never drawn (also when ``u``
    is ``0``, or so close to ``1`` that ``u c_{K-1}`` rounds up to ``c_{K-1}``).
    """
    cum = jnp.cumsum(probs, axis=-1)
    u = jnp.asarray(u, cum.dtype)
    k = jnp.sum(cum <= u[..., None] * cum[..., -1:], axis=-1)
    size = probs.shape[-1]
    last = size - 1 - jnp.argmax(jnp.flip(probs, axis=-1) > 0, axis=-1)
    return jnp.minimum(k, last).astype(jnp.int32)
