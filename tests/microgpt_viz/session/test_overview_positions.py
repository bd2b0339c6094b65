"""The overview's dots, placed and coloured in the training worker (no Qt): the GUI thread only
looks them up when a step arrives."""
import numpy as np

from core.engine.config import preset
from core.engine.train import Trainer
from microgpt_viz.session import overview_positions, stepping

DOCS = ["emma", "olivia", "ava", "isabella"]


def test_a_step_built_in_the_worker_brings_its_dots_sorted_by_colour_bin():
    trainer = Trainer(DOCS, preset("original"))
    trace = stepping.built_quietly(trainer.record)
    assert trace in overview_positions._dots_cache  # made while building, not when first drawn
    found = overview_positions.dots(trace)
    assert found is overview_positions.dots(trace)
    assert (np.diff(found.bins.astype(int)) >= 0).all()  # strongest drawn last
    x, y = overview_positions.positions(trace)
    bins = overview_positions.bin_of(trace.grad)
    # the same dots, each with its own bin: every (x, y, bin) of the node ids is there once
    assert sorted(zip(x.tolist(), y.tolist(), bins.tolist())) == sorted(zip(found.x.tolist(), found.y.tolist(), found.bins.tolist()))
    assert found.bounds == (x.min(), y.min(), np.ptp(x), np.ptp(y))


def test_forgetting_a_trace_drops_its_dots_too():
    trace = Trainer(DOCS, preset("original")).record()
    overview_positions.dots(trace)
    overview_positions.forget(trace)
    assert trace not in overview_positions._dots_cache and trace not in overview_positions._cache
