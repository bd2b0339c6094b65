"""What the tests of core/ share: a small data set of nine names; and the garbage collector,
kept out of the way while a test runs and made to clean up after it."""
import gc

import pytest

SMALL_DOCS = ("emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn")


@pytest.fixture(scope="session")
def small_docs():
    """Nine names, enough for every kind of node in a step; one list for the session: never change it."""
    return list(SMALL_DOCS)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory, small_docs):
    """The nine names as a data file, one per line (read only: tests write elsewhere)."""
    path = tmp_path_factory.mktemp("small_data") / "names.txt"
    path.write_text("\n".join(small_docs) + "\n")
    return path


# The cyclic garbage collector, for the tests of this folder (pytest calls these hooks for the
# items under it only):
#
# - It is off while a test sets up and runs. A step builds some 60,000 Values (a recorded one
#   as many dicts besides), and the collector rescans the growing graph again and again: in a
#   pytest process that is half to three quarters of the time of every scalar step, recording
#   and in-process CLI run. Values and Traces hold no reference cycles and are freed by
#   reference counting as before; tests of what gets freed call gc.collect() themselves.
#
# - After each test it collects what the test made. A Trace's networkx graph, once something
#   has read its `degree`, `edges`, `in_degree`... (Trace.num_edges does), caches a view of
#   itself in itself: that cycle keeps a few hundred thousand dicts alive after the Trace is
#   gone, until a full collection, which Python seldom starts on its own (recording moves
#   everything into the oldest generation). Everything alive when the test starts, its
#   fixtures included, is frozen (gc.freeze), so the collection scans only what the test made.
#   After a module's last test, when its module-scoped fixtures are gone, a full collection.

_collector_was_enabled = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    global _collector_was_enabled
    _collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        gc.collect()  # what the test made (all else is frozen)
        gc.unfreeze()
        if nextitem is None or nextitem.module is not item.module:
            gc.collect()
        if _collector_was_enabled:
            gc.enable()
