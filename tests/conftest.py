import os
import pathlib

import jax
import pytest

jax.config.update("jax_enable_x64", True)
# Every xdist worker, every checkout on this machine and every CI run on it
# share one on-disk compilation cache in a per-user folder outside the clone
# (override with MARLMETA_JAX_CACHE): a program compiled once is not compiled
# again. A fresh machine starts with an empty cache and still passes.
_CACHE = os.environ.get("MARLMETA_JAX_CACHE") or str(
    pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    / "marlmeta"
    / "jax-tests"
)
jax.config.update("jax_compilation_cache_dir", _CACHE)
# Subprocesses the tests start (benchmarks, distributed workers) inherit it.
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(params=["nojit", "jit"])
def jit(request):
    return jax.jit if request.param == "jit" else (lambda f: f)
