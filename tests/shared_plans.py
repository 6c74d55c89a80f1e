"""One plan per experiment config within a test module.

``run_experiment`` asks the config for its plan on every call, and an
experiment that compiles its chunk function per plan (``functools.cache`` in
``plan``) compiles it again for every run of the same config. Tests that run
one config several times (fresh, rerun, interrupted, resumed, damaged) share
the first plan of each config instead, so its programs compile once per
module; every run still reads and writes its own run folder through the
runner, and every chunk a run misses is still computed by ``plan.compute``.
"""

import contextlib

import pytest

from marlmeta.experiments import EXPERIMENTS


@contextlib.contextmanager
def shared_plans():
    """Within the block, equal configs (same class and fields) return one
    plan object; a test that patches ``cls.plan`` wraps the shared one."""
    plans = {}
    with pytest.MonkeyPatch.context() as m:
        for cls in set(EXPERIMENTS.values()):

            def plan(self, real=cls.plan):
                key = (type(self), repr(self))
                if key not in plans:
                    plans[key] = real(self)
                return plans[key]

            m.setattr(cls, "plan", plan)
        yield
    plans.clear()
