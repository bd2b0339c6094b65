import gc
import weakref

import pytest

from core.engine.config import preset
from core.debug.replay import replay_of
from core.trace.tape import tape_of
from core.trace.index import index_of
from core.engine.train import Trainer
from core.trace.wiring import wiring_of


@pytest.mark.parametrize("derive", [index_of, tape_of, wiring_of, replay_of])
def test_a_trace_with_derived_tables_is_freed_when_nothing_else_holds_it(derive):
    trainer = Trainer(["emma", "ava", "mia"], preset("original"))
    trace = trainer.record("ava")
    tables = derive(trace)
    assert derive(trace) is tables  # built once per trace
    ref = weakref.ref(trace)
    del trace, tables
    gc.collect()
    assert ref() is None


def test_a_summarised_trace_is_freed_by_reference_counting_alone():
    # A released Trace's 100 MB should go back the moment the last reference does, not wait for a
    # full collection: nothing it hands out (its counts included) may tie its graph into a cycle.
    trace = Trainer(["emma", "ava", "mia"], preset("original")).record("ava")
    assert trace.summary()["edges"] == trace.num_edges == trace.graph.copy().number_of_edges()
    graph = weakref.ref(trace.graph)
    gc.disable()
    try:
        del trace
        assert graph() is None
    finally:
        gc.enable()
