"""Checks of inputs shared by the constructors, the game Modules and the families.

Each raises a ``ValueError`` naming the argument, the index and the value.
Shapes and dtypes are static, so their checks also run under ``jit``; the
checks of values (finite, in range, rows on the simplex) need concrete arrays:
:func:`concrete` returns ``None`` for a tracer and those checks are skipped
(validation of values is eager only; a game built under ``jit`` from valid
arrays equals the eager one).
"""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np

#: Tolerance on ``|sum(row) - 1|`` for probability vectors, by dtype: float64
#: kernels are often float32 data cast up, so their tolerance is float32's
#: rounding of short rows, not float64's.
PROB_TOLS = {8: 1e-6, 4: 1e-5, 2: 1e-2}


def prob_tol(dtype) -> float:
    """Tolerance of the row-sum check for ``dtype``: ``1e-6`` for float64,
    ``1e-5`` for float32, ``1e-2`` for 16-bit floats."""
    return PROB_TOLS.get(np.dtype(dtype).itemsize, 1e-6)


def concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array, or ``None`` when it is a tracer."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def numpy_to_jax(tree):
    """``tree`` with its NumPy leaves as JAX arrays of the same dtype.

    For the entry points whose loops close over a game or a solver: a NumPy
    leaf indexed by a traced iteration count (an eager ``lax.scan`` over the
    stages, say) cannot be traced.
    """
    as_jax = lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x  # noqa: E731
    return jax.tree.map(as_jax, tree)


def unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def indexed_name(name: str, idx: tuple[int, ...]) -> str:
    """``name[i, j]``, or ``name`` for the one entry of a scalar."""
    return f"{name}{list(idx)}" if idx else name


def fmt_value(x) -> str:
    """A value as the user wrote it: ``nan``, ``-0.5``, ``1.0``."""
    return repr(np.asarray(x).tolist())


def check_index_range(name: str, x: np.ndarray, upper: int, what: str) -> None:
    """Every entry of the concrete index array ``x`` lies in ``[0, upper)``;
    else a ``ValueError`` naming the first entry outside, by index and value
    (``what``: the kind of index, e.g. ``"a state"``)."""
    out = (x < 0) | (x >= upper)
    if out.any():
        idx = unravel(int(np.argmax(out)), x.shape)
        raise ValueError(
            f"{indexed_name(name, idx)} is {fmt_value(x[idx])}; expected {what} "
            f"in [0, {upper})"
        )


def array_dtype(name: str, x):
    """The dtype ``x`` has or would get as an array; a ``ValueError`` for
    input that is not an array of numbers (a string, ragged lists)."""
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{name} is {x!r}; expected a number, not a string")
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    try:
        return np.asarray(x).dtype
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} is not an array of numbers: {err}") from None


def real_array(name: str, x, dtype=None) -> jax.Array:
    """``x`` as a real floating JAX array (integers become the default float).

    Args:
        name: the argument's name, for messages.
        x: array-like (NumPy, JAX, nested lists, a number).
        dtype: the floating dtype to cast to (default: keep a floating dtype).

    Raises:
        ValueError: ``x`` holds strings, booleans, complex numbers or objects;
            the message names ``name``, the first such index and its value.
    """
    kind = array_dtype(name, x).kind
    if kind not in "iuf":
        what = {"c": "complex", "b": "boolean"}.get(kind, "non-numeric")
        a = concrete(x)
        if a is None or a.size == 0:
            raise ValueError(f"{name} has {what} dtype; expected real numbers")
        idx = unravel(0, a.shape) if a.ndim else ()
        if kind == "c":
            bad = a.imag != 0
            idx = unravel(int(np.argmax(bad)), a.shape) if a.ndim else ()
        raise ValueError(
            f"{indexed_name(name, idx)} is {fmt_value(a[idx])} ({what} dtype "
            f"{a.dtype}); expected real numbers"
        )
    if dtype is None and kind != "f":
        dtype = jnp.result_type(float)
    return jnp.asarray(x, dtype)


def count(name: str, value, minimum: int = 1) -> int:
    """``value`` as a Python ``int``, or a ``ValueError`` unless it is an integer
    (``int``, NumPy or JAX integer; not ``bool``, a float or a string) that is at
    least ``minimum``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} is {value!r}; expected an integer >= {minimum}")
    try:
        v = operator.index(value)
    except TypeError:
        raise ValueError(
            f"{name} is {value!r}; expected an integer >= {minimum}"
        ) from None
    if v < minimum:
        raise ValueError(f"{name} is {v}; expected an integer >= {minimum}")
    return v


def counts(name: str, values, minimum: int = 1) -> tuple[int, ...]:
    """A non-empty sequence of :func:`count`, each named ``name[i]``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} is {values!r}; expected a sequence of integers")
    if len(values) == 0:
        raise ValueError(f"{name} is {values!r}; expected at least one entry")
    return tuple(count(f"{name}[{i}]", v, minimum) for i, v in enumerate(values))


def float_dtype(dtype) -> jnp.dtype:
    """``dtype`` as a floating NumPy dtype, or a ``ValueError`` naming it."""
    try:
        d = jnp.dtype(dtype)
    except TypeError:
        d = None
    if d is None or not jnp.issubdtype(d, jnp.floating):
        raise ValueError(f"dtype is {dtype!r}; expected a floating dtype")
    return d


def real_scalar(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    high_open: bool = False,
):
    """Check that ``value`` is a finite real number in ``[low, high]`` (or
    ``[low, high)``); return it unchanged. A traced value is checked for its
    dtype and shape only."""
    kind = array_dtype(name, value).kind
    close = ")" if high_open or math.isinf(high) else "]"
    interval = f"{'(' if math.isinf(low) else '['}{low:g}, {high:g}{close}"
    if kind not in "iuf":
        raise ValueError(f"{name} is {value!r}; expected a real number in {interval}")
    if np.ndim(value) != 0:
        raise ValueError(
            f"{name} has shape {np.shape(value)}; expected one number in {interval}"
        )
    v = concrete(value)
    if v is None:
        return value
    x = float(v)
    ok = math.isfinite(x) and low <= x and (x < high if high_open else x <= high)
    if not ok:
        raise ValueError(
            f"{name} is {fmt_value(v)}; expected a finite number in {interval}"
        )
    return value


def check_finite(name: str, x: np.ndarray) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        idx = unravel(int(np.argmax(bad)), x.shape)
        raise ValueError(
            f"{name}{list(idx)} is {fmt_value(x[idx])}; expected a finite number"
        )


def _check_concrete(name: str, x, check) -> None:
    """A real dtype always; ``check(name, values)`` when ``x`` is concrete."""
    real_array(name, x, getattr(x, "dtype", None))
    c = concrete(x)
    if c is not None:
        check(name, c)


def check_values(name: str, x) -> None:
    """A real dtype always; finite entries when ``x`` is concrete."""
    _check_concrete(name, x, check_finite)


def check_simplex_rows(name: str, p: np.ndarray) -> None:
    """Every slice ``p[..., :]`` is a probability vector (within
    :func:`prob_tol` of its dtype)."""
    check_finite(name, p)
    if p.shape[-1] == 0:
        raise ValueError(f"{name} has an empty last axis (shape {p.shape})")
    tol = prob_tol(p.dtype)
    neg = p < -tol
    if neg.any():
        idx = unravel(int(np.argmax(neg)), p.shape)
        raise ValueError(
            f"{name}{list(idx)} is {fmt_value(p[idx])}; probabilities must be >= 0 "
            f"(tolerance {tol:g} for {p.dtype})"
        )
    sums = p.sum(-1)
    off = np.abs(sums - 1.0) > tol
    if off.any():
        idx = unravel(int(np.argmax(off)), sums.shape)
        raise ValueError(
            f"{name}{list(idx)} sums to {fmt_value(sums[idx])}; "
            f"expected 1 (tolerance {tol:g} for {p.dtype})"
        )


def check_distributions(name: str, p) -> None:
    """A real dtype always; rows on the simplex when ``p`` is concrete."""
    _check_concrete(name, p, check_simplex_rows)


def _check_shape(name: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"{name} has shape {tuple(shape)}; expected {tuple(expected)} "
            "to agree with the rewards"
        )


def check_trailing(
    name: str, shape: tuple[int, ...], expected: tuple[int, ...], what: str
) -> None:
    """``shape`` ends with ``expected`` (any leading axes are a batch)."""
    shape, expected = tuple(shape), tuple(expected)
    if len(shape) < len(expected) or shape[len(shape) - len(expected) :] != expected:
        raise ValueError(
            f"{name} has shape {shape}; expected {expected} (after any batch "
            f"axes) to agree with {what}"
        )


def check_identical(rewards, name: str = "rewards") -> None:
    """Raise ``ValueError`` unless every player's table equals player 0's.

    ``rewards`` is ``(N, S, A_0, .., A_{N-1})`` (concrete; a tracer passes).
    The message names the first differing index ``[i, s, a_0, ..]`` and both
    values.
    """
    r = concrete(rewards)
    if r is None:
        return
    diff = r != r[:1]
    if diff.any():
        idx = unravel(int(np.argmax(diff)), r.shape)
        raise ValueError(
            f"{name}{list(idx)} is {fmt_value(r[idx])} but {name}{[0, *idx[1:]]} is "
            f"{fmt_value(r[(0, *idx[1:])])}; a cooperative game has one reward shared "
            "by every player"
        )
