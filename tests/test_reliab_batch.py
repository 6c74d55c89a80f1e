"""A batch where one game is expected gets the batch message first, even
from a solver whose game-kind precondition the batch also fails."""

import jax
import pytest

import marlmeta as M


def test_zero_sum_equilibrium_of_a_batch_says_batch_not_zero_sum():
    batch = M.games.random_general_sum(jax.random.key(0), 4, (2, 2), 3, 2)
    with pytest.raises(ValueError, match="got a batch of 4 games .*use jax.vmap"):
        M.exact.zero_sum_equilibrium(batch)
