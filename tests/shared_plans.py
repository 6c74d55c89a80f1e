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
import json

import pytest

from marlmeta.experiments import EXPERIMENTS


def _drawn_once(figure):
    """``figure`` that draws the figure of equal results once: a figure is a
    function of the results alone, and drawing one takes a second or more of
    CPU (matplotlib's layout and PNG encoding)."""
    drawn = {}

    def draw(results):
        key = json.dumps(results, sort_keys=True)
        if key not in drawn:
            drawn[key] = figure(results)
        return drawn[key]

    return draw


@contextlib.contextmanager
def shared_plans(same_figures: bool = False):
    """Within the block, equal configs (same class and fields) return one
    plan object; a test that patches ``cls.plan`` wraps the shared one.

    Args:
        same_figures: the shared plan draws the figure of results equal to
            an earlier run's once and returns the same PNG bytes again (the
            runner still writes them); results that differ in any number
            (wall-clock seconds included) are drawn anew.
    """
    plans = {}
    with pytest.MonkeyPatch.context() as m:
        for cls in set(EXPERIMENTS.values()):

            def plan(self, real=cls.plan):
                key = (type(self), repr(self))
                if key not in plans:
                    p = real(self)
                    if same_figures:
                        p = p._replace(figure=_drawn_once(p.figure))
                    plans[key] = p
                return plans[key]

            m.setattr(cls, "plan", plan)
        yield
    plans.clear()
