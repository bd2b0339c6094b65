import gc
import weakref

from core.config import preset
from core.trace_index import index_of
from core.train import Trainer


def test_an_indexed_trace_is_freed_when_nothing_else_holds_it():
    trainer = Trainer(["emma", "ava", "mia"], preset("original"))
    trace = trainer.record("ava")
    index = index_of(trace)
    assert index_of(trace) is index and index.trace is trace
    ref = weakref.ref(trace)
    del trace, index
    gc.collect()
    assert ref() is None
