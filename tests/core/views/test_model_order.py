"""Top-level boxes moved into model order after dot's layout: the moved picture is still a whole,
clean picture (every box, edge and frame, nothing overlapping, every box inside its frames)."""
import json

import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views import layout
from core.views.export import to_dot
from core.views.layout import layout_source, nesting, parse_json_layout, run_dot, run_in_model_order
from core.views.model_order import rearranged_source
from core.views.view import View


@pytest.fixture(scope="module")
def trainer(docs):
    return Trainer(docs, preset("original"))


@pytest.fixture(scope="module")
def emma_cone(trainer):
    return View.for_token(trainer.record("emma"), 3).render()


@pytest.fixture(autouse=True)
def cold_cache():
    layout.clear_cache()
    yield
    layout.clear_cache()


def corners(box):
    return box.x - box.width / 2, box.y - box.height / 2, box.x + box.width / 2, box.y + box.height / 2


def overlap(a, b):
    ax0, ay0, ax1, ay1 = corners(a)
    bx0, by0, bx1, by1 = corners(b)
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def inside(box, outer, slack=1.0):
    x0, y0, x1, y1 = corners(box)
    ox0, oy0, ox1, oy1 = corners(outer)
    return ox0 - slack <= x0 and x1 <= ox1 + slack and oy0 - slack <= y0 and y1 <= oy1 + slack


def drawn(source, rankdir):
    return parse_json_layout(json.loads(run_in_model_order(source, "json0")), rankdir, 0.0)


def test_dot_alone_draws_the_cone_out_of_order_so_it_is_moved(emma_cone):
    # the reason the module exists: without it, emma's token 3 reads pos0 pos3 pos1 pos2
    source = layout_source(emma_cone, "TB")
    own = parse_json_layout(json.loads(run_dot(source, "json0")), "TB", 0.0)
    assert sorted(range(4), key=lambda p: own.clusters[f"pos{p}"].x) != [0, 1, 2, 3]
    moved = rearranged_source(source, json.loads(run_dot(source, "json0")))
    assert moved is not None
    assert '"order pos3/layer0/attn/head0/out"' in source and "order pos3/layer0/attn/head0/out" not in moved  # anchors only held dot's order


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("make_source", [layout_source, lambda r, rd: to_dot(r, rankdir=rd)], ids=["app", "export"])
def test_the_moved_picture_has_every_box_edge_and_frame_and_nothing_overlaps(emma_cone, make_source, rankdir):
    placed = drawn(make_source(emma_cone, rankdir), rankdir)
    assert set(placed.nodes) == {n.id for n in emma_cone.nodes}
    assert sorted((s, t) for s, t, _, _ in placed.edges) == sorted((e.source, e.target) for e in emma_cone.edges)
    assert all(len(points) >= 2 for _, _, points, _ in placed.edges)  # every edge has a route
    boxes = list(placed.nodes.items())
    for k, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[k + 1:]:
            assert not overlap(box_a, box_b), (a, b)
    children, members = nesting(emma_cone)
    for cluster, nodes in members.items():
        if cluster is not None:
            assert all(inside(placed.nodes[n.id], placed.clusters[cluster]) for n in nodes), cluster
    for parent, clusters in children.items():
        for c in clusters:
            if parent is not None:
                assert inside(placed.clusters[c.id], placed.clusters[parent]), c.id
    top = [placed.clusters[c.id] for c in children[None]]
    for k, a in enumerate(top):  # the moved columns do not overlap either
        assert not any(overlap(a, b) for b in top[k + 1:])


def test_the_edges_that_joined_two_moved_columns_are_routed_between_their_new_places(emma_cone):
    placed = drawn(layout_source(emma_cone, "TB"), "TB")
    for source, target, points, tip in placed.edges:
        if source == "pos0/layer0/attn/k" and target.startswith("pos3/"):
            start, end = placed.nodes[source], placed.nodes[target]
            # the route starts at its source's box and its arrow ends at its target's box
            assert abs(points[0][0] - start.x) <= start.width / 2 + 1 and abs(points[0][1] - start.y) <= start.height / 2 + 1
            last = tip or points[-1]
            assert abs(last[0] - end.x) <= end.width / 2 + 1 and abs(last[1] - end.y) <= end.height / 2 + 1


def test_a_picture_dot_draws_in_order_is_left_as_dot_draws_it():
    source = "digraph { subgraph cluster_a { a1 -> a2 } subgraph cluster_b { b1 -> b2 } a1 -> b2 }"
    laid_out = json.loads(run_dot(source, "json0"))
    assert rearranged_source(source, laid_out) is None
    assert run_in_model_order(source, "json0") == run_dot(source, "json0")


def test_the_export_draws_the_moved_picture(emma_cone):
    # what a viewer sees: the SVG's frames in model order, left to right
    svg = run_in_model_order(to_dot(emma_cone, rankdir="TB"), "svg").decode("utf-8")
    titles = [f">pos{p}<" for p in range(4)]
    assert all(t in svg for t in titles)
    xs = []
    for t in titles:
        before = svg[:svg.index(t)]
        xs.append(float(before[before.rindex(' x="') + 4:].split('"')[0]))
    assert xs == sorted(xs)


def title_boxes(laid_out):
    """(x0, y0, x1, y1) in points of every frame's title, as drawn."""
    boxes = []
    for o in laid_out.get("objects", [])[:laid_out.get("_subgraph_cnt", 0)]:
        if o.get("label") and "lp" in o:
            x, y = (float(v) for v in o["lp"].split(","))
            w, h = 72 * float(o["lwidth"]), 72 * float(o["lheight"])
            boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    return boxes


def route_points(pos, steps=20):
    """Points along an edge's cubic B-spline route ("e,x,y x,y x,y ...")."""
    control = [tuple(float(v) for v in p.split(",")) for p in pos.split() if not p.startswith(("e,", "s,"))]
    points = []
    for k in range(0, len(control) - 3, 3):
        p0, p1, p2, p3 = control[k:k + 4]
        for step in range(steps + 1):
            t = step / steps
            weights = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3)
            points.append(tuple(sum(w * p[i] for w, p in zip(weights, (p0, p1, p2, p3))) for i in (0, 1)))
    return points


export_source = lambda r, rd: to_dot(r, rankdir=rd)  # noqa: E731


@pytest.mark.parametrize("view, make_source, rankdir", [
    (view, make, rankdir) for view in ("cone", "scalar head", "vector cone") for make in (layout_source, export_source) for rankdir in ("TB", "LR")
] + [("whole step", make, "TB") for make in (layout_source, export_source)])
def test_no_edge_runs_through_a_frame_title(trainer, view, make_source, rankdir):
    trace = trainer.record("emma")
    rendered = {
        "cone": lambda: View.for_token(trace, 3),
        "scalar head": lambda: View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head2"),
        "vector cone": lambda: View.for_token(trace, 3, level="vector"),
        "whole step": lambda: View(trace),
    }[view]().render()
    laid_out = json.loads(run_in_model_order(make_source(rendered, rankdir), "json0"))
    titles = title_boxes(laid_out)
    assert titles
    for edge in laid_out.get("edges", []):
        for x, y in route_points(edge["pos"]):
            assert not any(x0 < x < x1 and y0 < y < y1 for x0, y0, x1, y1 in titles), edge


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_a_picture_over_the_limit_is_still_put_in_order(emma_cone, monkeypatch, rankdir):
    """Past the limit neato routes nothing (it costs seconds past ~100 boxes): the picture is
    in model order on routes of our own alone, every edge with one."""
    monkeypatch.setattr(layout, "MODEL_ORDER_LIMIT", 0)
    placed = drawn(layout_source(emma_cone, rankdir), rankdir)
    reading = (lambda box: box.x) if rankdir == "TB" else (lambda box: box.y)
    assert sorted(range(4), key=lambda p: reading(placed.clusters[f"pos{p}"])) == [0, 1, 2, 3]
    assert len(placed.edges) == len(emma_cone.edges) and all(len(points) >= 4 for _, _, points, _ in placed.edges)
