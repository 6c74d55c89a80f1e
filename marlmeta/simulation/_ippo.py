"""An IPPO baseline: independent actor-critic PPO trained through the environment view.

Independent PPO (de Witt et al., "Is Independent Learning All You Need in the
StarCraft Multi-Agent Challenge?", 2020) as JaxMARL writes it (Rutherford et
al., NeurIPS 2024): ``num_envs`` copies of :class:`MarkovGameEnv` stepped in
parallel for ``num_steps`` steps per update, generalised advantage estimates
``A_t = sum_l (gamma lambda)^l delta_{t+l}`` with ``delta_t = r_t + gamma
V(o_{t+1}) (1 - done_t) - V(o_t)``, then ``update_epochs`` passes of
``num_minibatches`` minibatches on the clipped objective
``-min(rho A, clip(rho, 1 - eps, 1 + eps) A) + c_v (V - R)^2 - c_e H(pi)``
(``rho`` the probability ratio), Adam with global-norm clipping. Every agent
has its own actor and critic (one hidden ``tanh`` layer each) on its own
observation vector; nothing is shared. ``gamma`` is the game's discount (``1``
for a finite horizon, whose observations carry the step).

Only the environment's public interface (``reset``, ``step``, spaces) is used,
so the run is what a JaxMARL script would do; :meth:`IPPO.policy_fns` gives
the actors as functions for :func:`marlmeta.simulation.tabulate`. ``train`` is
pure: ``jax.vmap`` it over a batch of environments (a family of games) and
keys.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta._checks import count
from marlmeta.simulation._env import MarkovGameEnv

Params = dict[str, Array]


def _dense(key, n_in: int, n_out: int, scale: float, dtype) -> Params:
    w = jax.nn.initializers.orthogonal(scale)(key, (n_in, n_out), dtype)
    return {"w": w, "b": jnp.zeros(n_out, dtype)}


def _actor_probs(actor, v):
    return jax.nn.softmax(_mlp(actor, v))


def _mlp(params: tuple[Params, Params], x):
    hidden, out = params
    return jnp.tanh(x @ hidden["w"] + hidden["b"]) @ out["w"] + out["b"]


class IPPORun(eqx.Module):
    """What :meth:`IPPO.train` returns.

    Attributes:
        params: per agent ``{"actor": .., "critic": ..}`` after the last update.
        history: the same pytree stacked over updates (after each update).
        mean_reward: the mean reward per agent and step of each update's
            roll-outs, ``(num_updates, N)``.
        env_steps: environment steps used after each update, ``(num_updates,)``.
    """

    params: tuple
    history: tuple
    mean_reward: Float[Array, "U N"]
    env_steps: Array


class IPPO(eqx.Module):
    """Hyperparameters of independent PPO (JaxMARL's IPPO defaults, scaled down).

    Attributes:
        num_updates: PPO updates.
        num_envs: parallel environments.
        num_steps: roll-out steps per environment and update.
        update_epochs: passes over each roll-out.
        num_minibatches: minibatches per pass.
        learning_rate: Adam's step.
        gae_lambda: ``lambda`` of the advantage estimates.
        clip_eps: ``eps`` of the ratio clip.
        ent_coef: ``c_e``.
        vf_coef: ``c_v``.
        max_grad_norm: global gradient-norm clip.
        hidden: width of the hidden layer.
    """

    num_updates: int = eqx.field(static=True, default=100)
    num_envs: int = eqx.field(static=True, default=16)
    num_steps: int = eqx.field(static=True, default=32)
    update_epochs: int = eqx.field(static=True, default=4)
    num_minibatches: int = eqx.field(static=True, default=4)
    learning_rate: float = eqx.field(static=True, default=3e-3)
    gae_lambda: float = eqx.field(static=True, default=0.95)
    clip_eps: float = eqx.field(static=True, default=0.2)
    ent_coef: float = eqx.field(static=True, default=0.01)
    vf_coef: float = eqx.field(static=True, default=0.5)
    max_grad_norm: float = eqx.field(static=True, default=0.5)
    hidden: int = eqx.field(static=True, default=32)

    def __check_init__(self):
        count("num_updates", self.num_updates)
        count("num_envs", self.num_envs)
        count("num_steps", self.num_steps)
        count("update_epochs", self.update_epochs)
        batch = self.num_envs * self.num_steps
        if self.num_minibatches < 1 or batch % self.num_minibatches:
            raise ValueError(
                f"num_minibatches is {self.num_minibatches!r}; expected a divisor "
                f"of num_envs * num_steps = {batch}"
            )

    @property
    def env_steps_per_update(self) -> int:
        """Environment steps per update (``num_envs * num_steps``)."""
        return self.num_envs * self.num_steps

    def init(self, env: MarkovGameEnv, key: PRNGKeyArray) -> tuple:
        """Per agent an actor and a critic (orthogonal weights, as JaxMARL)."""
        dtype = env.game.initial.dtype
        out = []
        for agent, k in zip(env.agents, jr.split(key, env.num_agents), strict=True):
            d = env.observation_space(agent).shape[0]
            a = env.action_space(agent).n
            k1, k2, k3, k4 = jr.split(k, 4)
            actor = (
                _dense(k1, d, self.hidden, math.sqrt(2), dtype),
                _dense(k2, self.hidden, a, 0.01, dtype),
            )
            critic = (
                _dense(k3, d, self.hidden, math.sqrt(2), dtype),
                _dense(k4, self.hidden, 1, 1.0, dtype),
            )
            out.append({"actor": actor, "critic": critic})
        return tuple(out)

    def policy_fns(self, params: tuple) -> tuple:
        """Per agent the function ``observation vector -> action probabilities``."""
        return tuple(functools.partial(_actor_probs, p["actor"]) for p in params)

    def train(self, env: MarkovGameEnv, key: PRNGKeyArray) -> IPPORun:
        """Run ``num_updates`` PPO updates on ``env`` (pure; vmap over envs)."""
        k_init, k_reset, key = jr.split(key, 3)
        params = self.init(env, k_init)
        opt = optax.chain(
            optax.clip_by_global_norm(self.max_grad_norm),
            optax.adam(self.learning_rate),
        )
        opt_state = opt.init(params)
        obs, state = jax.vmap(env.reset)(jr.split(k_reset, self.num_envs))
        gamma = env.game.step_discount
        agents = env.agents

        def env_step(carry, k):
            params, state, obs = carry
            k_act, k_env = jr.split(k)
            acts, logps, values = {}, [], []
            for p, a, ka in zip(
                params, agents, jr.split(k_act, len(agents)), strict=True
            ):
                logits = _mlp(p["actor"], obs[a])
                act = jr.categorical(ka, logits, axis=-1)
                acts[a] = act
                logps.append(
                    jnp.take_along_axis(
                        jax.nn.log_softmax(logits), act[:, None], axis=-1
                    )[:, 0]
                )
                values.append(_mlp(p["critic"], obs[a])[:, 0])
            keys = jr.split(k_env, self.num_envs)
            nxt, state, rew, dones, _ = jax.vmap(env.step)(keys, state, acts)
            step = (
                obs,
                acts,
                jnp.stack(logps, -1),
                jnp.stack(values, -1),
                jnp.stack([rew[a] for a in agents], -1),
                dones["__all__"],
            )
            return (params, state, nxt), step

        def gae(values, rewards, dones, last):
            def back(carry, x):
                adv, nxt_v = carry
                v, r, d = x
                keep = 1.0 - d[:, None].astype(v.dtype)
                delta = r + gamma * nxt_v * keep - v
                adv = delta + gamma * self.gae_lambda * keep * adv
                return (adv, v), adv

            init = (jnp.zeros_like(last), last)
            _, adv = jax.lax.scan(back, init, (values, rewards, dones), reverse=True)
            return adv, adv + values

        def loss(params, batch):
            obs, acts, logp_old, adv, target = batch
            total = 0.0
            for i, (p, a) in enumerate(zip(params, agents, strict=True)):
                logits = _mlp(p["actor"], obs[a])
                logp_all = jax.nn.log_softmax(logits)
                logp = jnp.take_along_axis(logp_all, acts[a][:, None], axis=-1)[:, 0]
                ratio = jnp.exp(logp - logp_old[:, i])
                adv_i = adv[:, i]
                adv_i = (adv_i - adv_i.mean()) / (adv_i.std() + 1e-8)
                clipped = jnp.clip(ratio, 1 - self.clip_eps, 1 + self.clip_eps)
                actor = -jnp.mean(jnp.minimum(ratio * adv_i, clipped * adv_i))
                value = _mlp(p["critic"], obs[a])[:, 0]
                critic = jnp.mean((value - target[:, i]) ** 2)
                entropy = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, -1))
                total = total + actor + self.vf_coef * critic - self.ent_coef * entropy
            return total

        def update(carry, k):
            params, opt_state, state, obs = carry
            k_roll, k_perm = jr.split(k)
            (params, state, obs), traj = jax.lax.scan(
                env_step, (params, state, obs), jr.split(k_roll, self.num_steps)
            )
            t_obs, t_acts, t_logp, t_val, t_rew, t_done = traj
            last = jnp.stack(
                [
                    _mlp(p["critic"], obs[a])[:, 0]
                    for p, a in zip(params, agents, strict=True)
                ],
                -1,
            )
            adv, target = gae(t_val, t_rew, t_done, last)
            flat = jax.tree.map(
                lambda x: x.reshape(-1, *x.shape[2:]),
                (t_obs, t_acts, t_logp, adv, target),
            )
            size = self.env_steps_per_update // self.num_minibatches

            def epoch(carry, k):
                params, opt_state = carry
                perm = jr.permutation(k, self.env_steps_per_update)
                shuffled = jax.tree.map(lambda x: x[perm], flat)
                mini = jax.tree.map(
                    lambda x: x.reshape(self.num_minibatches, size, *x.shape[1:]),
                    shuffled,
                )

                def minibatch(carry, batch):
                    params, opt_state = carry
                    grads = jax.grad(loss)(params, batch)
                    upd, opt_state = opt.update(grads, opt_state, params)
                    return (optax.apply_updates(params, upd), opt_state), None

                return jax.lax.scan(minibatch, (params, opt_state), mini)[0], None

            (params, opt_state), _ = jax.lax.scan(
                epoch, (params, opt_state), jr.split(k_perm, self.update_epochs)
            )
            out = (params, jnp.mean(t_rew, axis=(0, 1)))
            return (params, opt_state, state, obs), out

        carry = (params, opt_state, state, obs)
        carry, (history, reward) = jax.lax.scan(
            update, carry, jr.split(key, self.num_updates)
        )
        steps = self.env_steps_per_update * jnp.arange(1, self.num_updates + 1)
        return IPPORun(carry[0], history, reward, steps)
