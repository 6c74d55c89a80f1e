import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(params=["nojit", "jit"])
def jit(request):
    return jax.jit if request.param == "jit" else (lambda f: f)
