"""What every microgpt_viz test shares: memory handed back between tests.

The app moves everything alive into the collector's permanent generation after each step it
records (microgpt_viz/session/trace_memory.made_quietly calls gc.freeze), so that a full collection
never walks a Trace's 600,000 containers. In one app process that is the point; in a test
process it means every window, trace and widget alive at a freeze, and every reference cycle
among them, outlives its test forever (a run reached 7 GB). So between tests, once pytest has
dropped a test's fixtures and enough has been frozen since the last time, unfreeze and collect;
then freeze what survived, as the app would, so that automatic collections do not walk it again.

Not after every test: every collection walks everything alive, and a collection every few
window tests frees the same memory at a fraction of the cost.
"""
import gc

import pytest

FROZEN_LIMIT = 700_000  # objects frozen since the last collection; a recorded step's graph is ~220,000
_survivors = 0  # frozen right after the last collection


def collect_frozen_garbage():
    global _survivors
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _survivors = gc.get_freeze_count()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    try:
        return (yield)
    finally:
        if gc.get_freeze_count() - _survivors > FROZEN_LIMIT:
            collect_frozen_garbage()
