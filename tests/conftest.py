import pathlib

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# Both xdist workers share one on-disk compilation cache for the session, so a
# program compiled by one test (or worker) is not compiled again by another.
jax.config.update(
    "jax_compilation_cache_dir",
    str(pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(params=["nojit", "jit"])
def jit(request):
    return jax.jit if request.param == "jit" else (lambda f: f)
