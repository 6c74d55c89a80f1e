import gc
import os

import jax
import pytest

# Python's cyclic garbage collector runs far less often in the test processes:
# tracing creates and drops millions of small objects, and with the default
# thresholds (700, 10, 10) the collector ran 1,298 times in
# tests/test_games.py (1.77 of its 32.6 CPU seconds, measured with
# ``gc.callbacks``). The objects alive after the imports (JAX's modules) are
# moved out of the collector's reach (``gc.freeze``), so the full collection
# after each test module (``_release_compiled_programs``) does not walk them
# again. With both, the same file ran 436 collections in 0.77 CPU seconds,
# most of them in pytest's start-up, before this file is imported. Nothing a
# test computes depends on when garbage is collected.
gc.collect()
gc.freeze()
gc.set_threshold(100_000, 50, 100)

jax.config.update("jax_enable_x64", True)
# JAX's persistent compilation cache lives in a per-user folder outside the
# clone (``~/.cache/marlmeta/jax-tests``, or ``$MARLMETA_JAX_CACHE``; ``off``
# disables it). Every xdist worker, and every subprocess a test starts (they
# inherit the JAX_* variables), reads and writes it, so a program compiled
# once in a run is loaded, not recompiled, by the other worker, by a CLI
# subprocess and by a later test module (see ``_release_compiled_programs``);
# a second run on the same machine skips most compilation, and a fresh
# machine starts empty and still passes. Every program is cached, however
# fast it compiled: with the compiler flags below most compile in well under
# 0.2 s, and the same small programs recur across test modules; six library
# test files (88 tests, cold, one process) took 126 s of CPU caching every
# program against 150 s caching those over 0.2 s (a 12 MB cache).
_CACHE = os.environ.get("MARLMETA_JAX_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "marlmeta",
    "jax-tests",
)
if _CACHE != "off":
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"

# The suite compiles its programs with LLVM's optimizations off (JAX's
# ``jax_disable_most_optimizations``: LLVM -O0, no expensive passes; HLO
# passes, fusion and layouts unchanged); subprocesses inherit it through the
# JAX_* variable, and ``MARLMETA_TEST_XLA_OPT=full`` restores the optimizing
# compiler. About half of the suite's CPU time is compilation of small
# programs that then run for milliseconds: the flag cut the CPU seconds of
# tests/test_games.py (cold, one process) from 71.5 s to 29.9 s and of four
# smoke runs by 20-25%. Results move in the last bits (a smoke run's means by
# up to 7e-6 relative in float32), within every test's tolerance: the whole
# suite (1,229 tests) passed with it on 2026-12-07.
#
# XLA's CPU backend also compiles its fusions with its older loop emitters
# (``--xla_cpu_use_fusion_emitters=false``) rather than the MLIR fusion
# emitters, which spend most of the backend's time on small programs:
# tests/test_games.py, test_evaluation.py, test_exact.py and
# test_zero_sum_omd.py (60 tests, cold, one process) took 130 s of CPU against
# 204 s with the default emitters. Results move in the last bits (float64
# tanh and exp by up to 1.1e-15 relative, float32 by a few ulps).
#
# Each program's LLVM module is compiled in one piece
# (``--xla_cpu_parallel_codegen_split_count=1``) instead of being split for
# parallel code generation, whose threads only add work when both cores are
# busy with the two workers: the same programs, the same numbers, 6% fewer
# CPU seconds on tests/test_games.py, test_evaluation.py and test_exact.py
# (cold, one process: 102 s against 108 s).
if os.environ.get("MARLMETA_TEST_XLA_OPT", "low") != "full":
    jax.config.update("jax_disable_most_optimizations", True)
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
    # MARLMETA_TEST_XLA_FLAGS: the suite's own flags, for the subprocess
    # tests that start a child from a clean XLA_FLAGS
    os.environ["MARLMETA_TEST_XLA_FLAGS"] = (
        "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1"
    )
    os.environ["XLA_FLAGS"] = " ".join(
        [os.environ.get("XLA_FLAGS", ""), os.environ["MARLMETA_TEST_XLA_FLAGS"]]
    ).strip()


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled XLA program after each test module.

    Each CPU executable maps about three memory regions (code, constants,
    data), and JAX keeps every executable it compiled for as long as the
    jitted callable lives. A worker that runs hundreds of test modules
    reached Linux's default limit of 65,530 mappings per process
    (``vm.max_map_count``) after about 20,000 compilations, and the next
    compilation died with SIGSEGV or SIGABRT inside XLA. With ``--dist
    loadfile`` a module's programs are rarely reused by another module, so
    clearing costs little.
    """
    yield
    jax.clear_caches()
    gc.collect()


# The heaviest test files, heaviest first (the files of 28 CPU seconds or more
# in a cold ``make compile-report`` run, 2026-12-07, on a machine about 1.4
# times slower than the one of the README's times; refresh from its list of
# files by CPU seconds). ``make test`` runs ``--dist loadfile
# --no-loadscope-reorder``: xdist hands whole files to the two workers in
# collection order, so they start on the long files and end on short ones.
# Its default order (most tests first) left the long files of one or two
# tests (benchmarks, child processes) for the end, where one worker ran them
# while the other was idle.
HEAVIEST_FIRST = (
    "test_conformance.py",
    "test_runs_resume.py",
    "test_benchmarks.py",
    "test_adjoint_gradients.py",
    "test_maml.py",
    "test_api_contract.py",
    "test_readme.py",
    "test_experiments_mpg.py",
    "test_exact.py",
    "test_experiments.py",
    "test_certify_exact.py",
    "test_aggr_protocol.py",
    "test_lp.py",
    "test_theory_zhang_barrier.py",
    "test_interop_child_checks.py",
    "test_theory_zhang_many_games.py",
    "test_simulation_env.py",
    "test_ma_ppo_approx.py",
    "test_distributed.py",
    "test_runs_signals.py",
    "test_simulation_episodes.py",
    "test_theory_zhang.py",
    "test_docs.py",
    "test_aggregative_planning.py",
    "test_evalchk_inputs.py",
    "test_softmax_play.py",
    "test_potential.py",
    "test_theory_mao_potential.py",
    "test_zero_sum_omd.py",
    "test_certify_lp.py",
    "test_poker_structured.py",
    "test_lp_grouped.py",
    "test_simulation_experiment.py",
    "test_evaluation.py",
)


def pytest_collection_modifyitems(items):
    """Run the files of ``HEAVIEST_FIRST`` first, in that order (a stable
    sort: every file keeps its tests' order, the others their own)."""
    rank = {name: i for i, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(params=["nojit", "jit"])
def jit(request):
    return jax.jit if request.param == "jit" else (lambda f: f)


# Opt-in compilation report (``MARLMETA_COMPILE_REPORT=report.json``): every
# XLA backend compilation (a persistent-cache hit is counted too, but costs
# milliseconds) is charged to the test that triggered it; what happens while
# a test module is imported is charged to "<file>::<import>". Each test is
# also charged the CPU seconds (user + sys) of the worker and of the
# subprocesses it waited for, its module fixtures' setup and teardown
# included. Each xdist worker writes its own file (report.json.gw0, ...).
# Summarise with ``python tests/compile_report.py report.json*``.
_REPORT = os.environ.get("MARLMETA_COMPILE_REPORT")
_compiles: dict[str, list[float]] = {}
_current = ["<collection>"]

if _REPORT:
    import json
    import resource
    import time

    def _entry(node):
        return _compiles.setdefault(node, [0, 0.0, 0.0])

    def _cpu_seconds():
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    def _on_duration(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            entry = _entry(_current[0])
            entry[0] += 1
            entry[1] += duration

    jax.monitoring.register_event_duration_secs_listener(_on_duration)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        _current[0] = item.nodeid
        start = _cpu_seconds()
        yield
        _entry(item.nodeid)[2] += _cpu_seconds() - start
        _current[0] = "<between tests>"
        if nextitem is None or nextitem.path != item.path:
            _write_report()  # after each file: an interrupted run keeps its data

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(collector):
        if isinstance(collector, pytest.Module):
            _current[0] = f"{collector.nodeid}::<import>"
        start = _cpu_seconds()
        yield
        _entry(_current[0])[2] += _cpu_seconds() - start
        _current[0] = "<collection>"

    def _write_report():
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        path = _REPORT + (f".{worker}" if worker else "")
        with open(path, "w") as f:
            json.dump(_compiles, f, indent=1)

    def pytest_sessionfinish(session):
        _write_report()
