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


def wall(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def add_common_flags(ap) -> None:
    """``--json PATH``, ``--smoke`` (tiny sizes, seconds on a CPU: what the
    test suite runs) and ``--gpu`` (the accelerator sizes) on a parser."""
    ap.add_argument("--json", type=str, default=None, help="write the table here")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes (CPU test)")
    size.add_argument("--gpu", action="store_true", help="the accelerator sizes")


def peak_memory_bytes() -> int:
    """This process's peak resident memory (``VmHWM`` of ``/proc/self/status``;
    unlike ``ru_maxrss`` it does not inherit a parent's peak). 0 where absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Table:
    """The rows of a benchmark, printed as they come and saved as JSON.

    The JSON holds the device kind, the JAX version, the backend, the device
    count, the title, the command-line arguments and every row (shapes,
    compile and steady-state seconds, throughputs and ratios).
    """

    def __init__(self, title: str, args):
        header(title)
        self.title, self.args, self.rows = title, vars(args), []

    def add(self, **row) -> dict:
        self.rows.append(row)
        return row

    def save(self, path: str | None) -> None:
        if not path:
            return
        import json

        import jax

        dev = jax.devices()[0]
        data = {
            "title": self.title,
            "device_kind": dev.device_kind,
            "platform": dev.platform,
            "num_devices": len(jax.devices()),
            "jax_version": jax.__version__,
            "processor": platform.processor() or platform.machine(),
            "args": self.args,
            "peak_memory_bytes": peak_memory_bytes(),
            "rows": self.rows,
        }
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=str)
