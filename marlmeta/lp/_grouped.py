"""``grouped_linprog``: LPs over a product of simplices with a few coupling rows.

Solves, for ``n`` groups (players) of ``m`` variables each,

    min  sum_{i,a} c[i, a] p[i, a]
    s.t. p[i] is a distribution on {a : allowed[i, a]}   (one convexity row per group)
         sum_{i,a} A_ub[r, i, a] p[i, a] <= b_ub[r]       (k_ub coupling rows)
         sum_{i,a} A_eq[r, i, a] p[i, a] == b_eq[r]       (k_eq coupling rows)

by the primal simplex method with generalized upper bounding (Dantzig and Van
Slyke 1967, "Generalized upper bounding techniques"). A basis holds one *key*
variable per group and ``k = k_ub + k_eq`` further basic variables; the
convexity rows never enter a matrix, and only the ``k x k`` *working basis*

    W[:, l] = A[:, v_l] - A[:, key(group(v_l))]   (a slack or artificial: its column)

is factorised, from the original data at every pivot (no drift), by
:func:`marlmeta._linalg.lu_factor` in plain XLA operations (LAPACK's batched
kernels can deadlock XLA's CPU thread pool; see that module). With the
duals ``pi`` of ``pi W = c_W - c_key``, the reduced cost of variable ``(i, a)``
is ``(c[i, a] - c[i, key_i]) - pi . (A[:, i, a] - A[:, i, key_i])``. An
entering column ``j`` moves the working variables by ``-t W^{-1} a_j`` and the
key of group ``g`` by ``-t beta_g``, ``beta_g = [g = group(j)] - sum_{l in g}
(W^{-1} a_j)_l``; the ratio test runs over both. When a key leaves, either the
entering variable becomes its group's key (same group), or a working variable
of that group does and the entering variable takes its place.

A pivot costs ``O(n m k + k^3)`` instead of the ``O((n + k) n m)`` of a dense
tableau, so LPs with a thousand groups take milliseconds. Pivoting follows
Bland's rule (lowest-index entering variable; among ratio ties the basic
variable of lowest index leaves, over keys and working variables alike), so it
terminates on degenerate LPs; the loop is a ``lax.while_loop`` that stops when
every lane of a ``vmap`` has finished. Phase 1 puts an artificial variable on
every coupling row the initial keys violate (and on every equality row);
tolerances are those of :func:`marlmeta.lp.linprog`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from marlmeta._linalg import lu_factor, lu_solve
from marlmeta.lp._certificate import (
    certificate_tolerance,
    certified,
    check_budget,
    check_tolerance,
    power_of_two,
    primal_residual,
    relative,
)
from marlmeta.lp._linprog import LPResult, _as_array, _constraints, _result
from marlmeta.lp._simplex import Status, default_tolerance


def _solve(
    c: Float[Array, "n m"],
    allowed: Bool[Array, "n m"],
    a: Float[Array, "k n m"],
    b: Float[Array, " k"],
    num_ub: int,
    key: Int[Array, " n"],
    max_iterations: int,
    tol: float,
):
    """The GUB simplex on validated data ``a (k, n, m)``, ``b (k,)``."""
    k, n, m = a.shape
    nm = n * m
    dtype = c.dtype
    eps = jnp.finfo(dtype).eps
    big = jnp.iinfo(jnp.int32).max
    rows = jnp.arange(k)
    players = jnp.arange(n)
    residual = b - jnp.sum(a[:, players, key], 1)
    use_slack = (rows < num_ub) & (residual >= 0)
    sign = jnp.where(residual < 0, -1.0, 1.0).astype(dtype)
    nonkey = jnp.where(use_slack, nm + rows, nm + k + rows).astype(jnp.int32)
    feas_tol = tol * (1 + jnp.max(jnp.abs(b), initial=0.0))
    a_flat = a.reshape(k, nm)

    def column(v):
        """Column ``(k,)`` of variable ``v`` (the row part of the constraint matrix)."""
        unit = (rows == (v - nm) % k) * jnp.where(v >= nm + k, sign, 1)
        return jnp.where(v < nm, a_flat[:, jnp.minimum(v, nm - 1)], unit)

    def cost(v, phase):
        phase_two = jnp.where(v < nm, c.ravel()[jnp.minimum(v, nm - 1)], 0.0)
        return jnp.where(phase == 1, (v >= nm + k).astype(dtype), phase_two)

    def duals(lu, key, nonkey, group, phase):
        """The keys' costs and the duals ``pi W = c_W - c_key`` of a phase."""
        c_key = cost(players * m + key, phase)
        c_w = cost(nonkey, phase) - jnp.where(group < n, c_key[group % n], 0)
        return c_key, lu_solve(lu, c_w, trans=True)

    def state(key, nonkey, phase):
        """Factorised working basis, working values, key values and duals."""
        a_key = a[:, players, key]  # (k, n)
        group = jnp.where(nonkey < nm, nonkey // m, n)
        cols = jax.vmap(column, out_axes=1)(nonkey)
        key_col = jnp.where(group < n, a_key[:, jnp.minimum(group, n - 1)], 0)
        lu = lu_factor(cols - key_col)
        x_w = lu_solve(lu, b - jnp.sum(a_key, 1))
        c_key, pi = duals(lu, key, nonkey, group, phase)
        x_key = 1 - jax.ops.segment_sum(x_w, group, n + 1)[:n]
        return lu, group, a_key, c_key, x_w, x_key, pi

    def cond(carry):
        _, _, phase, _, _, passes = carry
        return (phase > 0) & (passes <= max_iterations + 1)

    def body(carry):
        key, nonkey, phase, status, iters, passes = carry
        lu, group, a_key, c_key, x_w, x_key, pi = state(key, nonkey, phase)
        is_art = nonkey >= nm + k
        c_p = jnp.where(phase == 1, 0.0, c)
        d_p = (c_p - c_key[:, None]) - jnp.einsum("k,kna->na", pi, a - a_key[..., None])
        basic = jnp.zeros(nm + k, bool).at[nonkey].set(True, mode="drop")
        basic = basic.at[players * m + key].set(True)
        enterable = jnp.concatenate([allowed.ravel(), rows < num_ub]) & ~basic
        d = jnp.concatenate([d_p.ravel(), -pi])
        cand = enterable & (d < -tol)
        has_enter = jnp.any(cand)
        # Phase 1 ends when nothing improves the sum of the artificials.
        p1_done = (phase == 1) & ~has_enter
        infeasible = p1_done & (jnp.sum(jnp.where(is_art, x_w, 0)) > feas_tol)
        j = jnp.argmax(cand).astype(jnp.int32)
        g_in = jnp.where(j < nm, j // m, n)
        col = column(j) - jnp.where(g_in < n, a_key[:, jnp.minimum(g_in, n - 1)], 0)
        alpha = lu_solve(lu, col)
        beta = (players == g_in) - jax.ops.segment_sum(alpha, group, n + 1)[:n]
        pos = alpha > tol
        drive = is_art & (phase == 2) & (jnp.abs(alpha) > tol)
        r_w = jnp.where(pos, x_w / jnp.where(pos, alpha, 1), jnp.inf)
        r_w = jnp.where(drive, -1.0, r_w)
        r_key = jnp.where(beta > tol, x_key / jnp.where(beta > tol, beta, 1), jnp.inf)
        ratio = jnp.concatenate([r_w, r_key])
        ids = jnp.concatenate([nonkey, players * m + key])
        rmin = jnp.min(ratio)
        tie = jnp.isfinite(ratio) & (ratio <= rmin + 16 * eps * (1 + jnp.abs(rmin)))
        leave = jnp.argmin(jnp.where(tie, ids, big))
        has_leave = jnp.any(jnp.isfinite(ratio))
        optimal = (phase == 2) & ~has_enter
        unbounded = has_enter & ~has_leave
        pivot = has_enter & has_leave & (iters < max_iterations)
        # The three updates: a working variable leaves; the key of the entering
        # group leaves (the entering variable becomes its key); another key
        # leaves (a working variable of its group replaces it as key).
        g_out = leave - k
        same = (leave >= k) & (g_out == g_in)
        slot = jnp.where(leave < k, leave, jnp.argmax(group == g_out))
        new_key = jnp.where(same, j % m, nonkey[slot] % m)
        key = jnp.where(pivot & (leave >= k), key.at[g_out % n].set(new_key), key)
        nonkey = jnp.where(pivot & ~same, nonkey.at[slot].set(j), nonkey)
        status = jnp.select([infeasible, optimal, unbounded], [1, 0, 2], status)
        phase = jnp.where(p1_done, jnp.where(infeasible, 0, 2), phase)
        phase = jnp.where(optimal | unbounded, 0, phase)
        return key, nonkey, phase, status, iters + pivot, passes + 1

    no_group = jnp.any(~jnp.any(allowed, 1))
    phase = jnp.where(no_group, 0, jnp.where(jnp.all(nonkey < nm + k), 2, 1))
    status = jnp.where(no_group, Status.INFEASIBLE, Status.ITERATION_LIMIT)
    init = (key, nonkey, phase, status, jnp.int32(0), jnp.int32(0))
    key, nonkey, _, status, iters, _ = jax.lax.while_loop(cond, body, init)
    lu, group, _, _, x_w, x_key, pi = state(key, nonkey, 2)
    # The phase-1 duals of the final basis: a Farkas multiplier if infeasible.
    farkas = jnp.where(no_group, 0, duals(lu, key, nonkey, group, 1)[1])
    # A row whose slack is basic has a zero multiplier (complementarity).
    slack = (nonkey >= nm) & (nonkey < nm + k)
    slack_basic = (
        jnp.zeros(k, bool).at[jnp.where(slack, nonkey - nm, k)].set(True, mode="drop")
    )
    pi = jnp.where(slack_basic, 0, pi)
    p = jnp.zeros((n + 1, m), dtype).at[players, key].set(x_key)
    p = p.at[group, nonkey % m].add(jnp.where(group < n, x_w, 0))[:n]
    return p, pi, farkas, status.astype(jnp.int32), iters


def _check_initial(key, allowed) -> None:
    if isinstance(key, jax.core.Tracer) or isinstance(allowed, jax.core.Tracer):
        return
    kk, ok = np.asarray(key), np.asarray(allowed)
    inside = (kk >= 0) & (kk < ok.shape[1])
    bad = ~inside | ~ok[np.arange(len(kk)), np.where(inside, kk, 0)]
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"initial[{i}] is {int(kk[i])}; expected an allowed action")


def grouped_linprog(
    c: ArrayLike,
    allowed: ArrayLike,
    A_ub: ArrayLike | None = None,
    b_ub: ArrayLike | None = None,
    A_eq: ArrayLike | None = None,
    b_eq: ArrayLike | None = None,
    *,
    initial: ArrayLike | None = None,
    max_iterations: int | None = None,
    tol: float | None = None,
) -> LPResult:
    """Minimise ``sum c p`` over a product of simplices with coupling rows.

    ``p[i]`` ranges over the distributions on ``{a : allowed[i, a]}`` (``n``
    groups, players for instance, of ``m`` variables), subject to ``k_ub``
    inequality and ``k_eq`` equality rows coupling the groups. The simplex
    method with generalized upper bounding (module docstring; Dantzig and Van
    Slyke 1967) factorises only a ``k x k`` matrix, so ``n`` may be in the
    thousands while ``k`` stays small. The solution is a vertex: at most
    ``k`` groups are not pure. One LP per call; batch with ``jax.vmap``.

    Args:
        c: ``(n, m)`` objective.
        allowed: ``(n, m)`` booleans, at least one per group.
        A_ub: ``(k_ub, n, m)``; with ``b_ub`` ``(k_ub,)``, or both ``None``.
        b_ub: ``(k_ub,)``.
        A_eq: ``(k_eq, n, m)``; with ``b_eq`` ``(k_eq,)``, or both ``None``.
        b_eq: ``(k_eq,)``.
        initial: ``(n,)`` allowed action of each group to start from (default
            the first allowed one); phase 1 starts at these pure choices.
        max_iterations: pivot budget (static, a non-negative int); default
            ``4 (n m + 2 k) + 20``.
        tol: pivot / reduced-cost tolerance in ``(0, 0.01]``; default
            :func:`marlmeta.lp.default_tolerance` of the dtype.

    Returns:
        An :class:`LPResult` whose ``x`` is ``(n, m)`` and whose ``dual``
        ``(k_ub + k_eq,)`` holds the coupling rows' multipliers (scipy's sign
        convention, as for :func:`linprog`). Not optimal: ``x`` and ``dual``
        are NaN and ``value`` is ``+inf`` (infeasible, also when a group has
        no allowed variable) or NaN (pivot budget, or
        :attr:`~marlmeta.lp.Status.NUMERICAL`).

    Certified answers: :attr:`~marlmeta.lp.Status.OPTIMAL` is reported only
    when the answer checks out on the original data, as for
    :func:`marlmeta.lp.linprog`: the coupling rows' primal residuals (with
    complementarity) relative to ``|b| + |A| p`` with each row scaled
    to a largest entry of about 1, the convexity rows to ``|sum_a p[i, a] -
    1|``, and the reduced costs ``c - pi A - u_i`` with the group multipliers
    ``u_i = min_a (c - pi A)[i, a]`` (zero on the support of ``p``) relative to
    ``|c| + |pi| |A| + |u_i|``; all at most ``10 tol`` (``certificate`` holds
    the largest). :attr:`~marlmeta.lp.Status.INFEASIBLE` is reported only with
    a Farkas multiplier checked on the original data: the phase-1 duals ``pi``
    of the coupling rows (``pi_ub <= 0``) and the group multipliers ``u_i =
    -max_{allowed a} (pi A)[i, a]``, so that ``pi A[:, i, a] + u_i <= 0``,
    with ``pi b + sum_i u_i > 10 tol (|pi| |b| + sum_i |u_i|)`` (then no ``p``
    is feasible; ``certificate`` holds the relative violation of the first
    condition, rounding only). ``10 tol`` is ``1e-8`` in float64 and ``1e-4``
    in float32 with the default ``tol``. The feasible set is bounded, so
    :attr:`~marlmeta.lp.Status.UNBOUNDED` is never reported. A claim that
    fails its check, and NaN or infinite data under ``jit``, give
    :attr:`~marlmeta.lp.Status.NUMERICAL` (not certified).

    Raises:
        ValueError: for inconsistent shapes, an invalid ``max_iterations`` or
            ``tol``, a NaN or infinite entry, a group with no allowed variable
            or an ``initial`` action that is not allowed (on concrete inputs),
            naming the argument and index or value.

    Example:
        >>> import jax.numpy as jnp
        >>> from marlmeta.lp import grouped_linprog
        >>> res = grouped_linprog(
        ...     [[0.0, -1.0], [0.0, -1.0]],  # two players prefer action 1
        ...     jnp.ones((2, 2), bool),
        ...     A_ub=[[[0.0, 1.0], [0.0, 1.0]]],  # ... but share one unit of it
        ...     b_ub=[1.0],
        ... )
        >>> print(res.value.item(), res.x.sum(1).tolist())
        -1.0 [1.0, 1.0]
    """
    c = _as_array("c", c, 2)
    n, m = c.shape
    if n * m == 0:
        raise ValueError(
            f"c has shape {c.shape}; expected at least one group and one variable"
        )
    dtype, A_ub, b_ub, A_eq, b_eq = _constraints(c, A_ub, b_ub, A_eq, b_eq)
    allowed = _as_array("allowed", allowed, 2).astype(bool)
    if allowed.shape != c.shape:
        raise ValueError(f"allowed has shape {allowed.shape}; expected {c.shape} (c)")
    if not isinstance(allowed, jax.core.Tracer):
        empty = ~np.asarray(allowed).any(1)
        if empty.any():
            i = int(np.argmax(empty))
            raise ValueError(f"allowed[{i}] is all False; expected an allowed variable")
    if initial is None:
        key = jnp.argmax(allowed, 1)
    else:
        key = _as_array("initial", initial, 1)
        if key.shape != (n,):
            raise ValueError(f"initial has shape {key.shape}; expected ({n},)")
        _check_initial(key, allowed)
    a = jnp.concatenate([A_ub, A_eq]).astype(dtype)
    b = jnp.concatenate([b_ub, b_eq]).astype(dtype)
    k = a.shape[0]
    if k == 0:  # the vacuous row 0 @ p <= 1 gives a 1 x 1 working basis
        a, b = jnp.zeros((1, n, m), dtype), jnp.ones((1,), dtype)
    if max_iterations is None:
        max_iterations = 4 * (n * m + 2 * k) + 20
    max_iterations = check_budget("max_iterations", max_iterations, 0)
    tol = check_tolerance("tol", tol, default_tolerance(dtype))
    c = c.astype(dtype)
    num_ub = max(A_ub.shape[0], 1 - k)
    p, pi, y, status, iters = _solve(
        c, allowed, a, b, num_ub, key.astype(jnp.int32), int(max_iterations), tol
    )
    pi = pi[:k]
    pi = jnp.where(jnp.arange(k) < A_ub.shape[0], jnp.minimum(pi, 0), pi)
    cert_tol = certificate_tolerance(tol)
    # A claim stands only with its certificate; the feasible set is bounded
    # (a product of simplices), so no ray proves an unboundedness claim.
    status, cert = certified(
        status,
        (
            _farkas_residual(allowed, a, b, num_ub, y, cert_tol),
            jnp.inf,
            _certificate(c, allowed, a[:k], b[:k], A_ub.shape[0], p, pi),
        ),
        cert_tol,
        (c, a, b),
    )
    return _result(c, p, pi, status, iters, cert, A_ub.shape[0])


def _farkas_residual(allowed, a, b, num_ub: int, pi, tol: float) -> Array:
    """How far the coupling multipliers ``pi`` are from proving the grouped LP
    infeasible, on the original data (``inf`` when they do not).

    With the group multipliers ``u_i = -max_{allowed a} (pi A)[i, a]`` (1
    for a group with no allowed variable), ``y = (pi, u)`` satisfies ``A^T y
    <= 0`` on every allowed variable by construction; it proves
    infeasibility when, with ``pi_ub <= 0``, ``b y = pi b + sum_i u_i > tol
    (|pi| |b| + sum_i |u_i|)``: for a feasible ``p``, ``b y <= y A p <= 0``.
    The residual is the relative violation of ``A^T y <= 0`` as in
    :func:`marlmeta.lp._certificate.farkas_residual` (rounding only).
    """
    pi = jnp.where(jnp.arange(a.shape[0]) < num_ub, jnp.minimum(pi, 0), pi)
    g = jnp.einsum("k,kna->na", pi, a)
    has = jnp.any(allowed, 1)
    u = jnp.where(has, -jnp.max(jnp.where(allowed, g, -jnp.inf), 1), 1)
    viol = jnp.where(allowed, jnp.maximum(g + u[:, None], 0), 0)
    scale = jnp.einsum("k,kna->na", jnp.abs(pi), jnp.abs(a)) + jnp.abs(u)[:, None]
    res = relative(viol, scale, 1.0)
    size = jnp.abs(pi) @ jnp.abs(b) + jnp.sum(jnp.abs(u))
    margin = (pi @ b + jnp.sum(u)) / jnp.maximum(size, jnp.finfo(b.dtype).tiny)
    ok = jnp.all(jnp.isfinite(jnp.concatenate([a.ravel(), b, pi]))) & (margin > tol)
    return jnp.where(ok, res, jnp.inf)


def _certificate(c, allowed, a, b, num_ub: int, p, pi) -> Array:
    """Relative optimality residual of ``(p, pi)`` on the original data: that
    of :func:`marlmeta.lp._certificate.optimality_residual` with the group
    multipliers ``u_i = min_{allowed a} (c - pi A)[i, a]`` (dual feasible by
    construction) and the convexity rows ``sum_a p[i, a] = 1``."""
    k = a.shape[0]
    p = jnp.where(allowed, jnp.maximum(p, 0), 0)
    row_weight = power_of_two(
        1 / jnp.max(jnp.abs(a).reshape(k, c.size), 1, initial=0.0)
    )
    coupling = primal_residual(
        a.reshape(k, c.size), b, num_ub, p.ravel(), row_weight, pi
    )
    convexity = jnp.max(jnp.abs(jnp.sum(p, 1) - 1))
    reduced = c - jnp.einsum("k,kna->na", pi, a)
    u = jnp.min(jnp.where(allowed, reduced, jnp.inf), 1)
    d = reduced - u[:, None]
    scale = jnp.abs(c) + jnp.einsum("k,kna->na", jnp.abs(pi), jnp.abs(a))
    scale = scale + jnp.abs(u)[:, None]
    dual = relative(jnp.where(allowed & (p > 0), jnp.abs(d), 0), scale, 1.0)
    worst = jnp.max(jnp.stack([coupling, convexity, dual]))
    finite = jnp.all(jnp.isfinite(jnp.concatenate([p.ravel(), pi])))
    return jnp.where(finite, worst, jnp.nan)
