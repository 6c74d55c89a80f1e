"""The examples in the library's docstrings run and print what they claim."""

import doctest
import importlib
import pkgutil

import pytest

import marlmeta

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(marlmeta.__path__, "marlmeta.")
    if "experiments" not in m.name and m.name != "marlmeta.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
