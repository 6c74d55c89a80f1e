"""Checks of concrete inputs shared by the constructors and the transitions.

Each raises a ``ValueError`` naming the argument, the index and the value; a
traced input (under ``jit``) cannot be inspected, so :func:`_concrete` returns
``None`` for it and the value checks are skipped.
"""

from __future__ import annotations

import jax
import numpy as np

PROB_TOL = 1e-6


def _concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` when it is a tracer."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _fmt(x) -> str:
    """A value as the user wrote it: ``nan``, ``-0.5``, ``1.0``."""
    return repr(np.asarray(x).tolist())


def _check_finite(name: str, x: np.ndarray) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        idx = _index(int(np.argmax(bad)), x.shape)
        raise ValueError(
            f"{name}{list(idx)} is {_fmt(x[idx])}; expected a finite number"
        )


def _check_distributions(name: str, p: np.ndarray) -> None:
    """Every slice ``p[..., :]`` is a probability vector (within ``PROB_TOL``)."""
    _check_finite(name, p)
    if p.shape[-1] == 0:
        raise ValueError(f"{name} has an empty last axis (shape {p.shape})")
    neg = p < -PROB_TOL
    if neg.any():
        idx = _index(int(np.argmax(neg)), p.shape)
        raise ValueError(
            f"{name}{list(idx)} is {_fmt(p[idx])}; probabilities must be >= 0"
        )
    sums = p.sum(-1)
    off = np.abs(sums - 1.0) > PROB_TOL
    if off.any():
        idx = _index(int(np.argmax(off)), sums.shape)
        raise ValueError(
            f"{name}{list(idx)} sums to {_fmt(sums[idx])}; "
            f"expected 1 (tolerance {PROB_TOL:g})"
        )


def _check_shape(name: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"{name} has shape {tuple(shape)}; expected {tuple(expected)} "
            "to agree with the rewards"
        )


def check_identical(rewards, name: str = "rewards") -> None:
    """Raise ``ValueError`` unless every player's table equals player 0's.

    ``rewards`` is ``(N, S, A_0, .., A_{N-1})`` (concrete; a tracer passes).
    The message names the first differing index ``[i, s, a_0, ..]`` and both
    values.
    """
    r = _concrete(rewards)
    if r is None:
        return
    diff = r != r[:1]
    if diff.any():
        idx = _index(int(np.argmax(diff)), r.shape)
        raise ValueError(
            f"{name}{list(idx)} is {_fmt(r[idx])} but {name}{[0, *idx[1:]]} is "
            f"{_fmt(r[(0, *idx[1:])])}; a cooperative game has one reward shared "
            "by every player"
        )
