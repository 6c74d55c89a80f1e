"""Where ``solve_batch`` puts its chunks: one process, or one per host.

- :class:`LocalPlacement`: the whole batch is in this process; a chunk is
  sharded along the batch axis across ``jax.devices()`` when there are several.
- :class:`ProcessPlacement`: one process per host (``jax.distributed``), each
  holding its own slice of the batch. A chunk of every process's slice becomes
  one global array sharded over all devices of all processes
  (``jax.make_array_from_process_local_data``), the compiled chunk runs on all
  of them at once, and its output is gathered (``process_allgather``): every
  process returns the whole batch, in process order, and process 0 is the one
  that writes files.

Both run the same compiled program on every game, so the numbers do not
depend on the placement.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _batch_sharding(devices) -> NamedSharding:
    return NamedSharding(Mesh(np.array(devices), ("batch",)), PartitionSpec("batch"))


def _is_array(x) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


class LocalPlacement(eqx.Module):
    """The batch lives in this process (the default)."""

    def batch_size(self, local_size: int) -> int:
        """The number of games each process runs (with any padding)."""
        return local_size

    def num_devices(self) -> int:
        """The device count a chunk is a multiple of."""
        return len(jax.devices())

    def place(self, args, batched):
        """Put the chunk's arguments (``batched[k]``: has a batch axis) on the
        devices."""
        if len(jax.devices()) == 1:
            return args
        sharding = _batch_sharding(jax.devices())
        return tuple(
            jax.device_put(a, sharding) if b else a
            for a, b in zip(args, batched, strict=True)
        )

    def fetch(self, out, n: int):
        """The first ``n`` games of a chunk's output."""
        return jax.tree.map(lambda x: x[:n], out)

    def join(self, outs):
        """The outputs of all chunks as one batch."""
        if len(outs) == 1:
            return outs[0]
        return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)


class ProcessPlacement(eqx.Module):
    """Each process holds a slice of the batch (``jax.distributed``).

    Attributes:
        sizes: every process's number of games, in process order.
    """

    sizes: tuple[int, ...] = eqx.field(static=True)

    @staticmethod
    def gather_sizes(local_size: int) -> ProcessPlacement:
        """Learn every process's slice size (a collective: all processes call it)."""
        sizes = multihost_utils.process_allgather(np.array([local_size], np.int64))
        return ProcessPlacement(tuple(int(s) for s in np.asarray(sizes).reshape(-1)))

    def batch_size(self, local_size: int) -> int:
        del local_size
        return max(self.sizes)  # every slice is padded to the longest one

    def num_devices(self) -> int:
        return jax.local_device_count()

    def place(self, args, batched):
        sharding = _batch_sharding(jax.devices())
        count = jax.process_count()

        def put(x):
            if not _is_array(x):
                return x
            shape = (count * x.shape[0], *x.shape[1:])
            return jax.make_array_from_process_local_data(
                sharding, np.asarray(x), shape
            )

        return tuple(
            jax.tree.map(put, a) if b else a for a, b in zip(args, batched, strict=True)
        )

    def fetch(self, out, n: int):
        count = jax.process_count()
        full = multihost_utils.process_allgather(out, tiled=True)
        return jax.tree.map(
            lambda x: np.asarray(x).reshape(count, -1, *x.shape[1:])[:, :n], full
        )

    def join(self, outs):
        def one(*xs):
            x = np.concatenate(xs, axis=1)  # (processes, padded slice, ...)
            return jnp.asarray(
                np.concatenate([x[p, :s] for p, s in enumerate(self.sizes)])
            )

        return jax.tree.map(one, *outs)
