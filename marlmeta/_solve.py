"""The drivers: ``solve`` (one game) and ``solve_batch`` (chunked, sharded batches).

``solve`` runs a solver in one ``lax.scan`` over checkpoint segments; each
segment is a loop of solver steps followed by one exact evaluation of the
output policy. Because the stage schedule is static, the trace at checkpoint
``t`` is the output of a run of length ``t``. How the loops are written, and so
whether reverse mode passes through them, is the ``adjoint`` strategy
(:mod:`marlmeta._adjoint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int, PyTree

from marlmeta._adjoint import AbstractAdjoint, ForwardOnly
from marlmeta._checks import numpy_to_jax
from marlmeta._placement import LocalPlacement, ProcessPlacement
from marlmeta.evaluation import report
from marlmeta.games import AbstractMarkovGame
from marlmeta.solvers import AbstractSolver


class Solution(eqx.Module):
    """What a run returns.

    Attributes:
        policy: the output policy after ``num_steps`` iterations.
        stats: the solver's meta-learning statistics (e.g. stage best responses).
        checkpoints: ``(C,)`` iteration counts of the trace.
        trace: the metric (default :func:`marlmeta.evaluation.report`) of the
            output policy at each checkpoint, stacked on a leading ``C`` axis.
        diagnostics: the solver's own diagnostics at each checkpoint (``None``
            for solvers without any).
        finite: ``True`` when the policy and the trace are finite everywhere.
    """

    policy: PyTree[Array]
    stats: PyTree[Array]
    checkpoints: Int[Array, " C"]
    trace: PyTree[Array]
    diagnostics: PyTree[Array] | None
    finite: Bool[Array, ""]


FORWARD_ONLY = ForwardOnly()

#: The fewest games a compiled chunk of :func:`solve_batch` holds (padded).
MIN_CHUNK_WIDTH = 2


def checkpoint_steps(
    num_steps: int, checkpoints: Sequence[int] | None
) -> tuple[int, ...]:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer):
        raise ValueError(f"num_steps is {num_steps!r}; expected a positive int")
    if num_steps < 1:
        raise ValueError(f"num_steps is {num_steps}; expected >= 1")
    if checkpoints is None:
        return (int(num_steps),)
    cps = tuple(int(c) for c in checkpoints)
    if not cps:
        raise ValueError("checkpoints is empty; expected at least one iteration count")
    for k, c in enumerate(cps):
        if not 1 <= c <= num_steps:
            raise ValueError(f"checkpoints[{k}] is {c}; expected 1 <= c <= {num_steps}")
        if k and c <= cps[k - 1]:
            raise ValueError(
                f"checkpoints[{k}] is {c}; checkpoints must increase strictly"
            )
    return cps


def _batch_size(games) -> int:
    """The batch size of ``games``, which must be a batch with one leading axis."""
    if len(games.batch_shape) != 1:
        raise ValueError(
            "solve_batch takes a batch of games with one leading axis; got "
            f"initial of shape {tuple(games.initial.shape)}"
            + ("" if games.batch_shape else ": one game, use solve")
        )
    return games.batch_shape[0]


def _check_batch_solver(solver, batch_size: int) -> None:
    """Every array leaf of a batched solver has one entry per game."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(solver):
        shape = tuple(getattr(leaf, "shape", ()))
        if not shape or shape[0] != batch_size:
            raise ValueError(
                f"solver{jax.tree_util.keystr(path)} has shape {shape}; with "
                f"batch_solver=True every array leaf needs a leading axis of "
                f"{batch_size}, one entry per game of the batch"
            )


def _as_init(init):
    """A user's initial-policy argument: a tuple or list of per-player arrays
    (NumPy, lists or JAX) becomes a tuple of JAX arrays."""
    if isinstance(init, tuple | list):
        return tuple(jnp.asarray(x) for x in init)
    return init


def iterate_solver(solver, game, state, num_steps, checkpoints, metric, adjoint):
    """The driver's pure loop from a solver state: the final state, and the
    metric and diagnostics at each checkpoint (shared with the meta-learners)."""
    if not isinstance(adjoint, AbstractAdjoint):
        raise ValueError(
            f"adjoint is {adjoint!r}; expected an adjoint strategy such as "
            "marlmeta.ForwardOnly() or marlmeta.RecursiveCheckpointAdjoint()"
        )

    # the loops close over the game and the solver: a NumPy leaf indexed by a
    # traced step count cannot be traced, and one closed over is a constant
    # folded into the loop (other last bits than a JAX game's run). Every
    # loop of solve, solve_batch, bytes_per_game and the meta-learners is here.
    solver, game = numpy_to_jax((solver, game))

    def observe(state):
        out = metric(game, solver.output(game, state))
        return out, solver.diagnostics(game, state)

    step = lambda s: solver.step(game, s)  # noqa: E731
    return adjoint.loop(step, observe, state, num_steps, checkpoints)


def run_solver(
    solver,
    game,
    init,
    num_steps: int,
    checkpoints: tuple[int, ...],
    metric,
    adjoint: AbstractAdjoint = FORWARD_ONLY,
):
    """The pure body shared by ``solve`` and ``solve_batch``."""
    state = solver.init(game, init)
    state, (trace, diagnostics) = iterate_solver(
        solver, game, state, num_steps, checkpoints, metric, adjoint
    )
    policy = solver.output(game, state)
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves((policy, trace))])
    )
    return Solution(
        policy=policy,
        stats=solver.stats(game, state),
        checkpoints=jnp.asarray(checkpoints, jnp.int32),
        trace=trace,
        diagnostics=diagnostics,
        finite=finite,
    )


def solve(
    solver: AbstractSolver,
    game: AbstractMarkovGame,
    num_steps: int,
    *,
    init=None,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
    adjoint: AbstractAdjoint = FORWARD_ONLY,
) -> Solution:
    """Run ``solver`` on one game for ``num_steps`` iterations.

    Pure and traceable: call it under ``jit``/``vmap`` (it is also fine eagerly).

    The ``adjoint`` decides how the iterations loop and so how the run
    differentiates. The default :class:`marlmeta.ForwardOnly` loops with a
    trip count that is a traced number (one compiled body for any schedule):
    ``jax.jvp`` works, ``jax.grad`` does not. With
    :class:`marlmeta.RecursiveCheckpointAdjoint` every loop has a static length
    and reverse mode flows through all ``T`` iterations into the solver's array
    hyperparameters (e.g. the step size), ``init`` and the game, with
    checkpointing so that memory grows far slower than ``T``::

        def nash_conv(eta):
            sol = solve(ZeroSumOMD(eta), game, 20,
                        adjoint=RecursiveCheckpointAdjoint())
            return sol.trace.nash_conv[-1]

        jax.grad(nash_conv)(0.1)

    Both adjoints give the same forward numbers.

    Args:
        solver: the learning dynamic.
        game: one (unbatched) game.
        num_steps: ``T``.
        init: the solver's initial-policy argument (default: uniform play).
        checkpoints: increasing iteration counts in ``[1, T]`` at which to trace
            ``metric`` of the output policy (default: ``(T,)``).
        metric: ``metric(game, policy) -> pytree``; default exact values and
            gains (:func:`marlmeta.evaluation.report`).
        adjoint: how the loop runs and differentiates (default
            :class:`marlmeta.ForwardOnly`; for ``jax.grad``,
            :class:`marlmeta.RecursiveCheckpointAdjoint`).

    Returns:
        A :class:`Solution`.
    """
    cps = checkpoint_steps(num_steps, checkpoints)
    game.require_one_game("solve")
    init = solver.default_init(game, num_steps) if init is None else _as_init(init)
    return run_solver(solver, game, init, int(num_steps), cps, metric, adjoint)


@eqx.filter_jit
def _solve_chunk(
    solver, games, common, init, num_steps, checkpoints, metric, solver_axis, adjoint
):
    """One compiled chunk: ``games`` holds the leaves that differ between the
    games (a leading batch axis), ``common`` those every game shares (no batch
    axis, ``None`` elsewhere); ``vmap`` maps over the former only."""

    def one(s, g, i):
        game = eqx.combine(g, common)
        return run_solver(s, game, i, num_steps, checkpoints, metric, adjoint)

    return jax.vmap(one, in_axes=(solver_axis, 0, 0))(solver, games, init)


def _same_in_every_game(x) -> bool:
    """Whether a concrete batched leaf is structure (integers or booleans) and
    holds one array for every game."""
    shape, dtype = getattr(x, "shape", ()), getattr(x, "dtype", None)
    if isinstance(x, jax.core.Tracer) or not shape or shape[0] < 1:
        return False
    if dtype is None or jnp.dtype(dtype).kind not in "biu":
        return False
    return bool(jnp.all(x == x[:1]))


def split_shared(games) -> tuple[PyTree, PyTree]:
    """``(varying, common)``: a batch of games split into the structure every
    game shares (integer and boolean leaves equal in all games: successor
    indices, observation maps, legal masks; one copy, without the batch axis)
    and the rest (the numbers, and any structure that differs; still batched),
    ``None`` in each where the other holds the leaf;
    ``eqx.combine(varying_k, common)`` is game ``k``.

    A family of one game's variants (e.g. :func:`marlmeta.games.perturb_rewards`)
    shares its structure: mapped once instead of once per game, its gathers
    and scatter-adds do not become batched gathers through per-game copies of
    the index tables. Numbers stay batched even where they are equal (a shared
    vector met by a batched one in a dot would turn a batch of matrix-vector
    products into one matrix product, whose sums may round differently), so
    every game's run does the arithmetic of its run alone (equal bit for bit
    on Kuhn poker; on larger games XLA may order a batched program's sums
    differently, as for any ``vmap``: Leduc poker's NashConv after 100
    iterations of ``PredictiveCFRPlus`` is that of ``jax.vmap`` over every
    leaf bit for bit, and within 1e-11 of one game's run).
    """
    shared = jax.tree.map(_same_in_every_game, games)
    varying, common = eqx.partition(games, jax.tree.map(lambda s: not s, shared))
    return varying, jax.tree.map(lambda x: x[0], common)


def _bytes_per_game(solver, game, init, num_steps, checkpoints, metric) -> int:
    shapes = jax.eval_shape(
        lambda: run_solver(solver, game, init, num_steps, checkpoints, metric)
    )
    state = jax.eval_shape(lambda: solver.init(game, init))
    leaves = jax.tree.leaves((shapes, state, game))
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in leaves)


def _first(tree):
    return jax.tree.map(lambda x: x[0], tree)


def _batch_init(solver, games, init, num_steps: int):
    if init is None:
        init = jax.vmap(lambda g: solver.default_init(g, num_steps))(games)
    return _as_init(init)


def _batch_args(solver, games, num_steps, init, checkpoints, batch_solver: bool):
    """The checked arguments of a batched run: ``(checkpoints, num_steps,
    batch size, batched init)``, shared by :func:`solve_batch` and
    :func:`bytes_per_game`."""
    cps, num_steps = checkpoint_steps(num_steps, checkpoints), int(num_steps)
    size = _batch_size(games)
    if batch_solver:
        _check_batch_solver(solver, size)
    return cps, num_steps, size, _batch_init(solver, games, init, num_steps)


def _working_set(solver, games, init, num_steps, cps, metric, batch_solver) -> int:
    """Four times the bytes of the first game's run (see :func:`bytes_per_game`)."""
    solver_one = _first(solver) if batch_solver else solver
    return 4 * _bytes_per_game(
        solver_one, _first(games), _first(init), num_steps, cps, metric
    )


def bytes_per_game(
    solver: AbstractSolver,
    games: AbstractMarkovGame,
    num_steps: int,
    *,
    init=None,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
    batch_solver: bool = False,
) -> int:
    """The working set :func:`solve_batch` budgets for one game of ``games``.

    Four times the bytes of one game's solver state, output (policy, trace)
    and the game itself, from shapes alone (nothing is computed). Arguments as
    in :func:`solve_batch`.
    """
    cps, num_steps, _, init = _batch_args(
        solver, games, num_steps, init, checkpoints, batch_solver
    )
    return _working_set(solver, games, init, num_steps, cps, metric, batch_solver)


def solve_batch(
    solver: AbstractSolver,
    games: AbstractMarkovGame,
    num_steps: int,
    *,
    init=None,
    checkpoints: Sequence[int] | None = None,
    metric: Callable = report,
    batch_solver: bool = False,
    memory_budget: int = 2**30,
    chunk_size: int | None = None,
    process_local: bool = False,
    adjoint: AbstractAdjoint = FORWARD_ONLY,
) -> Solution:
    """Run ``solver`` on a batch of games (and optionally of hyperparameters).

    The batch is split into chunks that fit ``memory_budget`` bytes (a working
    set of about four times the state, trace and game of each element), each
    chunk is one compiled call, and when ``jax.devices()`` has several devices
    every chunk is sharded across them along the batch axis. The structure
    every game shares (integer and boolean leaves equal in all games, e.g. a
    perturbed family's successor indices, observation maps and legal masks;
    :func:`split_shared`) is passed once, not mapped per game.

    Args:
        solver: the learning dynamic; with ``batch_solver=True`` its array
            leaves carry the same leading batch axis as ``games`` (e.g. one step
            size per game: ``ZeroSumOMD(jnp.array([...]))``).
        games: a batch of games (leading axis ``B`` on every leaf).
        num_steps: ``T``.
        init: batched initial-policy argument, or ``None`` for uniform play.
        checkpoints: as in :func:`solve`.
        metric: as in :func:`solve`.
        batch_solver: whether ``solver`` is batched alongside ``games``; then
            every array leaf of ``solver`` has a leading axis of ``B`` (a
            ``ValueError`` naming the leaf otherwise).
        memory_budget: bytes a chunk may use (default 1 GiB); the chunk size is
            ``memory_budget // bytes_per_game(...)`` games. Games are
            independent under ``vmap``, and every compiled chunk holds at
            least :data:`MIN_CHUNK_WIDTH` games (a chunk of one is padded by
            repetition, since XLA compiles a batch of one to different
            reductions), so chunking changes no number (checked bit for bit
            in float32 for chunk sizes 1 to the whole batch).
        chunk_size: overrides the chunk size computed from the budget.
        process_local: under ``jax.distributed`` (one process per host),
            ``games`` (and a batched ``init`` and ``solver``) are this process's
            slice of the batch; each chunk runs as one global array over all
            processes' devices and the output is gathered, so every process
            returns the whole batch in process order (slices may differ in
            size). Every process must make the call.
        adjoint: as in :func:`solve`. With
            :class:`marlmeta.RecursiveCheckpointAdjoint`, ``jax.grad`` flows
            through every chunk (e.g. into a batch of step sizes); the memory
            budget counts the forward working set only.

    Raises:
        ValueError: when one game's working set (:func:`bytes_per_game`)
            exceeds ``memory_budget`` (and ``chunk_size`` is not given).

    Returns:
        A :class:`Solution` whose leaves have a leading batch axis ``B``.
    """
    cps, num_steps, local_size, init = _batch_args(
        solver, games, num_steps, init, checkpoints, batch_solver
    )
    place = (
        ProcessPlacement.gather_sizes(local_size) if process_local else LocalPlacement()
    )
    size = place.batch_size(local_size)
    ndev = place.num_devices()
    if chunk_size is None:
        per_game = _working_set(
            solver, games, init, num_steps, cps, metric, batch_solver
        )
        if per_game > memory_budget:
            raise ValueError(
                f"memory_budget is {memory_budget} bytes; one game needs about "
                f"{per_game} bytes (bytes_per_game), so no chunk fits: raise "
                "memory_budget, or pass chunk_size=1 to run one game per call"
            )
        chunk_size = max(1, memory_budget // max(per_game, 1))
    elif int(chunk_size) < 1:
        raise ValueError(f"chunk_size is {chunk_size}; expected >= 1")
    # Balanced chunks, each a multiple of the device count; only the last one
    # is padded (by repetition), by fewer than ``num_chunks * ndev`` elements.
    num_chunks = math.ceil(size / max(1, min(chunk_size, size)))
    chunk_size = ndev * math.ceil(math.ceil(size / num_chunks) / ndev)
    # A compiled chunk holds at least two games: XLA drops a batch axis of
    # length 1, which changes the order of float32 reductions (by ~1e-6), so a
    # chunk of one would not give the numbers of a larger batch.
    width = max(chunk_size, MIN_CHUNK_WIDTH)
    solver_axis = 0 if batch_solver else None
    # What every game shares is mapped once (each process decides alike only
    # on its own slice, so under jax.distributed every leaf stays batched).
    varying, common = (
        eqx.partition(games, True) if process_local else split_shared(games)
    )
    outs = []
    for start in range(0, size, chunk_size):
        idx = np.arange(start, start + width)
        idx = np.minimum(idx, local_size - 1)  # pad by repetition
        take = lambda x, idx=idx: x[idx]  # noqa: E731
        args = (
            jax.tree.map(take, solver) if batch_solver else solver,
            jax.tree.map(take, varying),
            common,
            jax.tree.map(take, init),
        )
        args = place.place(args, (batch_solver, True, False, True))
        out = _solve_chunk(*args, num_steps, cps, metric, solver_axis, adjoint)
        outs.append(place.fetch(out, min(chunk_size, size - start)))
    return place.join(outs)
