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
