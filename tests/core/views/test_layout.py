"""Graphviz layout of views (with its cache) and the numpy overview layout of a whole step."""
import math

import numpy as np
import pytest

from core.views import layout
from core.engine.config import preset
from core.views.layout import GraphvizNotFound, bench_expand_layout, bench_overview_layout, layout_view, overview_layout
from core.engine.train import Trainer
from core.views.view import View


@pytest.fixture(scope="module")
def trainer(docs):
    return Trainer(docs, preset("original"))


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("olga")


@pytest.fixture(autouse=True)
def cold_cache():
    layout.clear_cache()
    yield
    layout.clear_cache()


def inside(box, outer, slack=1.0):
    return (
        outer.x - outer.width / 2 - slack <= box.x - box.width / 2
        and box.x + box.width / 2 <= outer.x + outer.width / 2 + slack
        and outer.y - outer.height / 2 - slack <= box.y - box.height / 2
        and box.y + box.height / 2 <= outer.y + outer.height / 2 + slack
    )


def test_layout_places_every_node_edge_and_cluster(trace):
    rendered = View.for_token(trace, 2, level="vector").render()
    placed = layout_view(rendered)
    assert set(placed.nodes) == {n.id for n in rendered.nodes}
    assert sorted((s, t) for s, t, _, _ in placed.edges) == sorted((e.source, e.target) for e in rendered.edges)
    page = layout.Box(placed.width / 2, placed.height / 2, placed.width, placed.height)
    for box in placed.nodes.values():
        assert inside(box, page) and box.width > 0 and box.height > 0
    for _, _, points, _ in placed.edges:
        assert len(points) >= 2
    # a visible node sits inside the box of every open group around it (params are left unboxed)
    for n in rendered.nodes:
        if n.parent and n.parent in placed.clusters:
            assert inside(placed.nodes[n.id], placed.clusters[n.parent])


def test_boxes_do_not_overlap(trace):
    placed = layout_view(View.for_token(trace, 3).render())
    boxes = list(placed.nodes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart_x = abs(a.x - b.x) >= (a.width + b.width) / 2 - 0.5
            apart_y = abs(a.y - b.y) >= (a.height + b.height) / 2 - 0.5
            assert apart_x or apart_y


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_inputs_come_before_consumers_along_the_rank_direction(trace, rankdir):
    rendered = View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head0/softmax").render()
    placed = layout_view(rendered, rankdir)
    axis = "y" if rankdir == "TB" else "x"  # y grows downwards
    forward = sum(getattr(placed.nodes[e.target], axis) > getattr(placed.nodes[e.source], axis) for e in rendered.edges)
    assert forward == len(rendered.edges)


def test_cache_hits_for_a_second_doc_of_the_same_length(trainer, trace):
    same_length = trainer.record("ivan")
    first = layout_view(View.for_token(trace, 2).expand("pos2/layer0/attn/q").render())
    assert layout.cache_stats == {"hits": 0, "misses": 1}
    second = layout_view(View.for_token(same_length, 2).expand("pos2/layer0/attn/q").render())
    assert second is first and layout.cache_stats["hits"] == 1
    layout_view(View.for_token(same_length, 2).expand("pos2/layer0/attn/q").render(), "LR")
    assert layout.cache_stats["misses"] == 2  # another direction is another layout
    layout_view(View(trainer.record("bo")).render())
    assert layout.cache_stats["misses"] == 3


def test_missing_graphviz_is_a_clear_error(trace, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        layout_view(View.for_token(trace, 0).render())


def test_overview_layout_orders_every_edge_left_to_right(trace):
    x, y = overview_layout(trace)
    assert x.shape == y.shape == (trace.num_nodes,)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    src = np.array([u for u, _ in trace.graph.edges()])
    dst = np.array([v for _, v in trace.graph.edges()])
    assert (x[src] < x[dst]).all()
    # no two nodes share a point
    assert len(set(zip(x.tolist(), y.tolist()))) == trace.num_nodes
    # inside one column, positions form bands in order
    column = x == np.median(x)
    ys, pos = y[column], np.where(trace.pos[column] < 0, 99, trace.pos[column])
    assert (np.diff(pos[np.argsort(ys)]) >= 0).all()


def test_bench_functions_report_seconds(trace):
    # how fast is `microgpt-viz bench`'s business; here only that each runs and reports a duration
    for bench in (bench_expand_layout, bench_overview_layout):
        seconds = bench(trace)
        assert isinstance(seconds, float) and 0 < seconds < math.inf


def test_a_picture_whose_curved_edges_cannot_be_routed_is_drawn_with_straight_ones(monkeypatch):
    from core.views import layout

    sources = []

    def dot_that_cannot_route_curves(source, fmt, timeout):
        sources.append(source)
        if "splines=line" not in source:
            raise layout.GraphvizFailed("Graphviz failed: libpath/shortest.c:324: triangulation failed")
        return b"drawn"

    monkeypatch.setattr(layout, "_run_dot_once", dot_that_cannot_route_curves)
    assert layout.run_dot("digraph { graph [rankdir=TB]; a -> b }", "json0") == b"drawn"
    assert len(sources) == 2 and "graph [splines=line, rankdir=TB]" in sources[1]


def test_other_graphviz_failures_are_not_retried(monkeypatch):
    from core.views import layout

    calls = []

    def failing(source, fmt, timeout):
        calls.append(source)
        raise layout.GraphvizFailed("Graphviz failed: syntax error in line 1")

    monkeypatch.setattr(layout, "_run_dot_once", failing)
    with pytest.raises(layout.GraphvizFailed, match="syntax error"):
        layout.run_dot("digraph { graph [rankdir=TB]; a -> }", "json0")
    assert len(calls) == 1


def test_layout_bytes_is_what_a_layout_really_holds(trace):
    import json
    import tracemalloc

    rendered = View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn").render()
    doc = json.loads(layout.run_dot(layout.layout_source(rendered), "json0"))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    placed = layout.parse_json_layout(doc, "TB", 0.0)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held / 2 <= layout.layout_bytes(placed) <= held * 2


def test_the_cache_is_bounded_by_bytes_not_by_count(trace, monkeypatch):
    small = [View.for_token(trace, t).render() for t in range(trace.positions)]
    big = View.for_token(trace, 3, level="scalar").focus("pos3/layer0/attn").render()
    small_bytes = [layout.layout_bytes(layout_view(r)) for r in small]
    big_bytes = layout.layout_bytes(layout_view(big))
    assert big_bytes > sum(small_bytes)
    monkeypatch.setattr(layout, "CACHE_BYTES", big_bytes + small_bytes[-1])
    layout.clear_cache()
    for r in small:
        layout_view(r)
    assert len(layout._cache) == len(small)  # every small one fits, however many
    layout_view(big)
    assert layout.cached_bytes() <= layout.CACHE_BYTES
    assert list(layout._cache) == [layout.cache_key(small[-1]), layout.cache_key(big)]  # the oldest went


def test_a_view_under_other_scalar_names_takes_the_cached_layout_with_its_own_names(docs):
    """Node ids are positions in a step's order: the same value has another id in a step on
    another name, so two steps' views of one shape differ only in their scalar names."""
    trainer = Trainer(docs, preset("original"))
    a, b = trainer.record("emma"), trainer.record("noah")  # one length, but "emma" repeats a letter
    views = [View.for_token(t, 3).expand("params/layer0.attn_wq").expand("pos3/layer0/attn/head1/softmax") for t in (a, b)]
    first, second = (v.render() for v in views)
    assert first.shape_key != second.shape_key and len(first.nodes) == len(second.nodes)  # other ids, one shape
    layout.clear_cache()
    placed_first = layout_view(first)
    placed_second = layout_view(second)
    assert layout.cache_stats == {"hits": 1, "misses": 1}  # Graphviz ran once
    assert set(placed_second.nodes) == {n.id for n in second.nodes}
    assert {(s, t) for s, t, _, _ in placed_second.edges} == {(e.source, e.target) for e in second.edges}
    frames = [sorted((b.x, b.y, b.width, b.height) for b in placed.clusters.values()) for placed in (placed_first, placed_second)]
    assert frames[0] == frames[1] and len(frames[0]) > 3
    # box for box where the first step's boxes were, in the order both views list them
    assert [placed_second.nodes[n.id] for n in second.nodes] == [placed_first.nodes[n.id] for n in first.nodes]
