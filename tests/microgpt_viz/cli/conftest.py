"""The cyclic collector is paused while a CLI test sets up and runs (as in tests/core/conftest.py).

These tests run `microgpt-viz` in the pytest process, whose heap is far bigger than a fresh
`microgpt-viz` process's: with the collector on, it rescans that heap again and again while a
step's tens of thousands of Values are made, and while GraphML is written. A step's Values form
no reference cycles and are freed by reference counting either way; the little cyclic garbage a
test makes is collected after it (tests/microgpt_viz/conftest.py). The bench calls gc.collect()
itself where its method needs it; its figures are not what these tests check.
"""
import contextlib
import gc

import pytest


@contextlib.contextmanager
def cyclic_gc_paused():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with cyclic_gc_paused():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with cyclic_gc_paused():
        return (yield)


@pytest.fixture(scope="session")
def four_names(tmp_path_factory):
    """A data file of four names (read only: tests write elsewhere)."""
    path = tmp_path_factory.mktemp("cli_data") / "names.txt"
    path.write_text("emma\nolivia\nava\nmia\n")
    return path
