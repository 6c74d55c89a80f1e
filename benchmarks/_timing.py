"""Shared timing helpers: compile time and steady-state time apart."""

from __future__ import annotations

import os
import platform
import time


def force_cpu_devices(count: int) -> None:
    """Expose ``count`` CPU devices to JAX. Call before anything imports jax:
    XLA reads the flag once, when the CPU backend starts."""
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={count}"
    )


def header(title: str) -> None:
    import jax

    dev = jax.devices()[0]
    print(f"# {title}")
    print(
        f"# jax {jax.__version__} | backend {jax.default_backend()} | "
        f"{len(jax.devices())} x {dev.device_kind} | {platform.processor() or platform.machine()}"
    )


def compile_and_steady(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """``(compile seconds, best steady-state seconds)`` of a jitted ``fn``."""
    import jax

    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best


def save_json(path: str | None, results: list[dict]) -> None:
    """Write ``{"meta": ..., "results": results}`` to ``path`` (if given).

    ``meta`` records the JAX version, backend and device; the documentation
    renders every file in ``benchmarks/results/`` as a table.
    """
    if not path:
        return
    import json

    import jax

    dev = jax.devices()[0]
    meta = dict(
        jax=jax.__version__,
        backend=jax.default_backend(),
        devices=f"{len(jax.devices())} x {dev.device_kind}",
    )
    with open(path, "w") as f:
        json.dump(dict(meta=meta, results=results), f, indent=2)


def wall(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0
