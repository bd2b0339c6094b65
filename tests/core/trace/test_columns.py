"""The Trace's compact columns: what they cost, that the graph made from them is the recorder's,
and that the tools work from them without ever building the networkx graph."""
import dataclasses
import gc
import tracemalloc

import numpy as np
import pytest

from core.debug import anomaly, gradcheck
from core.debug.diff import diff
from core.debug.reevaluate import what_if
from core.debug.replay import grads_at, trace_at
from core.engine.config import preset
from core.engine.train import Trainer
from core.trace.index import index_of
from core.trace.record import Trace
from core.trace.tape import tape_of
from core.views.export import to_dot
from core.views.search import search
from core.views.view import View


@pytest.fixture(scope="module")
def trainer(small_docs):
    return Trainer(small_docs, preset("latest"))


@pytest.fixture
def trace(trainer):
    return trainer.record("emma")


def test_the_tools_work_from_the_columns_without_building_the_graph(trainer, trace):
    assert trace.built_graph is None  # recording does not build it
    index_of(trace)
    tape_of(trace)
    assert trace.summary()["edges"] == trace.num_edges > 0
    assert len(search(trace, "op:exp pos:2")) > 0
    view = View.for_token(trace, 2, level="vector")
    to_dot(view.render())
    view.reveal(int(trace.attention_nodes[0, 1, 2, 1]))
    anomaly.check(trace)
    report = gradcheck.gradcheck(trace, params=3)
    assert report.rows
    gradcheck.node_label(trace, trace.param_nodes["wte"][0])
    edited = what_if(trace, int(trace.attention_nodes[0, 0, 1, 0]), 0.5)
    assert edited.loss_after != trace.loss
    grads_at(trace, trace.num_nodes // 2)
    assert diff(trace, trainer.record("emma")).identical
    assert trace.node_attributes(trace.loss_node)["kind"] == "loss"
    assert trace.built_graph is None


def test_node_attributes_are_the_graphs_to_the_type(trace):
    graph = trace.graph
    assert trace.built_graph is graph  # built once, then kept
    for node, attrs in graph.nodes(data=True):
        mine = trace.node_attributes(node)
        assert list(mine.items()) == list(attrs.items()), node
        assert [type(v) for v in mine.values()] == [type(v) for v in attrs.values()], node
    assert any("exponent" in attrs for _, attrs in graph.nodes(data=True))


def test_edges_are_sorted_by_consumer_then_slot_and_match_the_graph(trace):
    e = trace.edges
    order = np.lexsort((e.slot, e.dst))
    assert np.array_equal(order, np.arange(len(e)))
    graph = trace.graph
    for src, dst, slot, local_grad in zip(e.src[::50].tolist(), e.dst[::50].tolist(), e.slot[::50].tolist(), e.local_grad[::50].tolist()):
        assert graph[src][dst][slot]["local_grad"] == local_grad


def test_a_trace_made_from_a_graph_takes_the_same_columns_from_it(trace):
    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(trace) if f.name not in ("details", "edges")}
    again = Trace(**fields, graph=trace.graph)
    assert again.graph is trace.graph  # handed in, not built again
    for name in ("src", "dst", "slot", "local_grad"):
        assert np.array_equal(getattr(again.edges, name), getattr(trace.edges, name)), name
    for name in ("param", "file"):
        assert getattr(again.details, name).tolist() == getattr(trace.details, name).tolist(), name
    for name in ("row", "col", "line", "exponent"):
        assert np.array_equal(getattr(again.details, name), getattr(trace.details, name), equal_nan=True), name
    with pytest.raises(TypeError):
        Trace(**fields)


def test_a_changed_copy_builds_its_graph_from_its_own_columns(trace):
    k = trace.num_nodes // 3
    frame = trace_at(trace, k)
    assert frame.built_graph is None
    assert [g for _, g in frame.graph.nodes(data="grad")] == grads_at(trace, k).tolist()
    node = int(trace.attention_nodes[0, 0, 1, 0])
    result = what_if(trace, node, 0.5)
    edited = result.to_trace(trace)
    assert edited.built_graph is None
    graph = edited.graph
    assert graph.nodes[node]["data"] == 0.5 and graph.nodes[trace.loss_node]["data"] == edited.loss == result.loss_after
    # the edited weight's consumers see new local grads on their edges, as recomputed
    e = edited.edges
    changed = np.flatnonzero(e.local_grad != trace.edges.local_grad)
    assert len(changed)
    for row in changed[:20].tolist():
        src, dst, slot = int(e.src[row]), int(e.dst[row]), int(e.slot[row])
        assert graph[src][dst][slot]["local_grad"] == result.local_grads[slot][dst]


def test_a_recorded_trace_costs_a_small_fraction_of_its_graph(trainer):
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        trace = trainer.record("isabella")
        gc.collect()
        columns = tracemalloc.get_traced_memory()[0] - before
        trace.graph
        with_graph = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_node = columns / trace.num_nodes
    # measured: ~110 bytes per node for the columns (edges included), ~2.2 KB with the graph
    assert per_node < 200, per_node
    assert with_graph > 5 * columns
