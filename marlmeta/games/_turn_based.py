"""Turn-based games stored as a tree per step: no dummy actions, no padding.

A turn-based game with chance and information sets (an extensive-form game
with perfect recall, Kuhn, "Extensive Games and the Problem of Information",
1953) is stored one step at a time; step ``h`` holds the ``S_h`` decision nodes
after ``h`` decisions (chance folded into the initial distribution and the
edges' probabilities), and only the acting player's actions:

- ``player[s]``: who acts at node ``s``; ``infoset[s]``: its information set
  (one global numbering over all players' information sets; every information
  set belongs to one player and one step);
- ``legal[s, a]``: the legal actions (``A`` = the game's largest action count);
- ``child[s, a, k]``, ``prob[s, a, k]``: after action ``a``, chance leads to
  node ``child`` of step ``h + 1`` with probability ``prob`` (``K`` the most
  chance outcomes of one edge; a terminal outcome or unused slot has
  ``child = S_{h+1}``, a sink);
- ``reward[s, a, i]``: player ``i``'s expected reward of the edge (terminal
  payoffs included).

Memory is ``O(sum_h S_h A K)``, not ``O(H max_h S_h A^N)``. A policy is one
table ``(I, A)``: row ``I`` is the distribution of information set ``I``'s
player there (illegal actions must have probability ``0``).

Exact evaluation: ``V`` by backward induction under the policy; player
``i``'s best response over behavioural strategies by the counterfactual
backward induction (Zinkevich, Johanson, Bowling, Piccione, "Regret
Minimization in Games with Incomplete Information", NeurIPS 2007): at an
information set ``I`` of ``i``, ``a*(I) = argmax_{a legal} sum_{s in I}
c_{-i}(s) Q^B_i(s, a)`` with ``c_{-i}`` the reach of chance and the other
players, computed by one forward pass. NashConv is ``sum_i (B_i - V_i)``
(Lanctot, Lockhart, Lespiau et al., "OpenSpiel: A Framework for
Reinforcement Learning in Games"). Steps have different sizes, so the loops
over steps are unrolled (``H`` is small for these games).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


class TurnStep(eqx.Module):
    """One step of a :class:`TurnBasedGame` (see the module text).

    Attributes:
        player: ``(S_h,)`` acting player.
        infoset: ``(S_h,)`` global information-set index.
        legal: ``(S_h, A)`` legal actions.
        child: ``(S_h, A, K)`` next-step node (``S_{h+1}``: none).
        prob: ``(S_h, A, K)`` chance probability of each outcome.
        reward: ``(S_h, A, N)`` expected rewards of each edge.
    """

    player: Int[Array, " S"]
    infoset: Int[Array, " S"]
    legal: Bool[Array, "S A"]
    child: Int[Array, "S A K"]
    prob: Float[Array, "S A K"]
    reward: Float[Array, "S A N"]


class TurnBasedGame(eqx.Module):
    """A turn-based game with chance and information sets, one tree level a step.

    Attributes:
        steps: one :class:`TurnStep` per step.
        initial: ``(S_0,)`` chance distribution over the first decision nodes.
        infoset_player: ``(I,)`` the player of each information set.
        parents: derived at construction, per step ``h >= 1`` the edge
            ``(s, a, k)`` of step ``h - 1`` that leads to each node, ``(S_h, 3)``
            (forward passes gather instead of scattering).
        local: derived, per step the index of each node's information set
            among the step's, and one node of each of the step's information
            sets.
        num_players: ``N`` (static).
        num_infosets: ``I`` (static).
    """

    steps: tuple[TurnStep, ...]
    initial: Float[Array, " S0"]
    infoset_player: Int[Array, " I"]
    parents: tuple[Int[Array, "S 3"], ...]
    local: tuple[tuple[Int[Array, " S"], Int[Array, " L"]], ...]
    num_players: int = eqx.field(static=True)
    num_infosets: int = eqx.field(static=True)

    def __init__(self, steps, initial, infoset_player, num_players, num_infosets):
        """Checks the links (concrete arrays): every child index in range and
        every node of steps ``1..`` reached by exactly one edge (a tree)."""
        self.steps = tuple(steps)
        self.initial = jnp.asarray(initial)
        self.infoset_player = jnp.asarray(infoset_player)
        self.num_players = int(num_players)
        self.num_infosets = int(num_infosets)
        if not self.steps:
            raise ValueError("steps is empty; a game needs one decision step")
        sizes = [st.player.shape[0] for st in self.steps]
        parents = []
        for h, st in enumerate(self.steps):
            size = sizes[h + 1] if h + 1 < len(sizes) else 0
            c = np.asarray(st.child)
            if c.size and (c.min() < 0 or c.max() > size):
                raise ValueError(
                    f"steps[{h}].child has entries in [{c.min()}, {c.max()}]; "
                    f"expected [0, {size}] (the next step has {size} nodes, "
                    f"{size} is the sink)"
                )
            if h + 1 == len(sizes):
                break
            live = (c < size) & (np.asarray(st.prob) > 0)
            hits = np.bincount(c[live], minlength=size)
            if (hits != 1).any():
                t = int(np.argmax(hits != 1))
                raise ValueError(
                    f"node {t} of step {h + 1} is reached by {int(hits[t])} edges; "
                    "expected exactly one (a TurnBasedGame is a tree)"
                )
            edge = np.argwhere(live)  # (s, a, k), one per node
            order = np.empty(size, np.int64)
            order[c[live]] = np.arange(size)
            parents.append(jnp.asarray(edge[order], jnp.int32))
        self.parents = tuple(parents)
        local, seen = [], {}
        for h, st in enumerate(self.steps):
            ids, first, inverse = np.unique(
                np.asarray(st.infoset), return_index=True, return_inverse=True
            )
            for i in ids.tolist():
                if seen.setdefault(i, h) != h:
                    raise ValueError(
                        f"information set {i} has nodes at steps {seen[i]} and {h}; "
                        "expected each information set at one step"
                    )
            local.append((jnp.asarray(inverse, jnp.int32), jnp.asarray(first)))
        self.local = tuple(local)

    @property
    def horizon(self) -> int:
        """``H``, the number of steps."""
        return len(self.steps)

    @property
    def num_actions(self) -> int:
        """``A``, the largest action count."""
        return self.steps[0].legal.shape[-1]

    @property
    def node_counts(self) -> tuple[int, ...]:
        """``(S_0, .., S_{H-1})``."""
        return tuple(st.player.shape[0] for st in self.steps)

    def infoset_legal(self) -> Bool[Array, "I A"]:
        """The legal actions of every information set."""
        out = jnp.zeros((self.num_infosets, self.num_actions), bool)
        for st in self.steps:
            out = out.at[st.infoset].set(st.legal)
        return out

    def uniform(self, dtype=None) -> Float[Array, "I A"]:
        """The uniform policy over each information set's legal actions."""
        m = self.infoset_legal().astype(dtype or self.steps[0].prob.dtype)
        return m / jnp.sum(m, axis=-1, keepdims=True)

    def _reach(self, policy) -> list[Array]:
        """Per step ``(S_h, N)``: each player's own reach probability (the
        product of its action probabilities on the path); chance is kept apart
        (:meth:`_chance`)."""
        n = self.num_players
        r = jnp.ones((self.node_counts[0], n), policy.dtype)
        out = [r]
        for st, up in zip(self.steps[:-1], self.parents, strict=True):
            pi = policy[st.infoset]  # (S, A)
            own = jax.nn.one_hot(st.player, n, dtype=pi.dtype)  # (S, N)
            s, a = up[:, 0], up[:, 1]
            # The actor's factor is pi(a); the others' reach is unchanged.
            r = r[s] * (1 + own[s] * (pi[s, a][:, None] - 1))
            out.append(r)
        return out

    def _chance(self) -> list[Array]:
        """Per step ``(S_h,)``: the chance reach of each node."""
        c = self.initial
        out = [c]
        for st, up in zip(self.steps[:-1], self.parents, strict=True):
            c = c[up[:, 0]] * st.prob[up[:, 0], up[:, 1], up[:, 2]]
            out.append(c)
        return out

    def evaluate(self, policy: Float[Array, "I A"]) -> tuple[Array, Array]:
        """Values and best-response values of ``policy``.

        Returns:
            ``(V, B)``: each ``(N,)``, the expected return of every player under
            ``policy`` and of its best response over behavioural strategies
            (legal actions only).
        """
        v, b, _ = self._evaluate(policy)
        return v, b

    def best_responses(self, policy: Float[Array, "I A"]) -> Float[Array, "I A"]:
        """The deterministic best responses, one-hot ``(I, A)``: at each
        information set, the legal action its player's best response plays
        (lowest index on ties); each player's rows against the others'
        ``policy``."""
        return self._evaluate(policy)[2]

    def _evaluate(self, policy):
        n = self.num_players
        table = jnp.zeros((self.num_infosets, self.num_actions), policy.dtype)
        reach = self._reach(policy)
        chance = self._chance()
        dtype = policy.dtype
        v_next = b_next = None
        for h in reversed(range(self.horizon)):
            st = self.steps[h]
            pi = policy[st.infoset]
            if v_next is None:
                ev = eb = 0.0
            else:
                pad = jnp.zeros((1, n), dtype)
                vn, bn = (jnp.concatenate([x, pad]) for x in (v_next, b_next))
                ev = jnp.sum(st.prob[..., None] * vn[st.child], axis=2)  # (S,A,N)
                eb = jnp.sum(st.prob[..., None] * bn[st.child], axis=2)
            q = st.reward + ev
            qb = st.reward + eb
            v = jnp.sum(pi[..., None] * q, axis=1)  # (S, N)
            expect_b = jnp.sum(pi[..., None] * qb, axis=1)  # (S, N)
            own = jax.nn.one_hot(st.player, n, dtype=dtype)  # (S, N)
            # Counterfactual weight: chance times the other players' reach.
            others = jnp.prod(jnp.where(own > 0, 1, reach[h]), axis=1)
            w = chance[h] * others
            q_actor = jnp.sum(qb * own[:, None, :], axis=2)  # (S, A)
            ids, rep = self.local[h]  # the step's information sets
            u = jax.ops.segment_sum(
                w[:, None] * q_actor, ids, num_segments=rep.shape[0]
            )
            best = jnp.argmax(jnp.where(st.legal[rep], u, -jnp.inf), axis=1)
            table = table.at[st.infoset[rep]].set(
                jax.nn.one_hot(best, self.num_actions, dtype=policy.dtype)
            )
            chosen = jnp.take_along_axis(q_actor, best[ids][:, None], axis=1)
            b = jnp.where(own > 0, chosen, expect_b)
            v_next, b_next = v, b
        return self.initial @ v_next, self.initial @ b_next, table

    def gains(self, policy: Float[Array, "I A"]) -> Float[Array, " N"]:
        """``B_i - V_i`` per player (what a best response gains)."""
        v, b = self.evaluate(policy)
        return b - v

    def nash_conv(self, policy: Float[Array, "I A"]) -> Float[Array, ""]:
        """``sum_i (B_i - V_i)``: OpenSpiel's ``nash_conv``."""
        return jnp.sum(self.gains(policy))

    def exploitability(self, policy: Float[Array, "I A"]) -> Float[Array, ""]:
        """``nash_conv / N``: OpenSpiel's ``exploitability``."""
        return self.nash_conv(policy) / self.num_players

    def initial_values(self, policy, *, best: bool, caller: str):
        """``(V, B or None, best responses or None)`` of a checked ``(I, A)``
        policy: what :func:`marlmeta.evaluation.values`, ``gains``,
        ``nash_conv`` and ``best_responses`` read (the best responses are one
        ``(I, A)`` one-hot table, see :meth:`best_responses`)."""
        v, b, br = self._evaluate(self.check_policy(policy, caller))
        return v, (b if best else None), (br if best else None)

    def check_policy(self, policy, name: str = "policy") -> Array:
        """``policy`` (any array-like) as an array, checked: shape ``(I, A)``,
        finite, non-negative, probability ``0`` on illegal actions and rows on
        the simplex (``ValueError`` naming the row, the action and the value;
        under ``jit``/``vmap`` the value checks are a run-time
        ``eqx.error_if`` error)."""
        want = (self.num_infosets, self.num_actions)
        if tuple(jnp.shape(policy)) != want:
            raise ValueError(
                f"{name} has shape {tuple(jnp.shape(policy))}; expected {want}"
            )
        if isinstance(policy, jax.core.Tracer):
            legal = self.infoset_legal()
            bad = (
                ~jnp.isfinite(policy)
                | (policy < 0)
                | (~legal & (policy != 0))
                | (jnp.abs(jnp.sum(policy, -1, keepdims=True) - 1) > 1e-6)
            )
            return eqx.error_if(
                policy,
                jnp.any(bad),
                f"{name} is not a policy of this game: a negative or non-finite "
                "entry, probability on an illegal action or a row off the simplex",
            )
        p = np.asarray(policy)
        legal = np.asarray(self.infoset_legal())
        bad = ~np.isfinite(p) | (p < 0)
        if bad.any():
            i, a = (int(k) for k in np.unravel_index(np.argmax(bad), p.shape))
            raise ValueError(
                f"{name}[{i}, {a}] is {p[i, a].item()!r}; expected a probability"
            )
        bad = ~legal & (p != 0)
        if bad.any():
            i, a = (int(k) for k in np.unravel_index(np.argmax(bad), p.shape))
            raise ValueError(
                f"{name}[{i}, {a}] is {p[i, a].item()!r}; action {a} is illegal at "
                f"information set {i} (expected probability 0)"
            )
        off = np.abs(p.sum(-1) - 1) > 1e-6
        if off.any():
            i = int(np.argmax(off))
            raise ValueError(f"{name}[{i}] sums to {p[i].sum().item()!r}; expected 1")
        return jnp.asarray(policy)
