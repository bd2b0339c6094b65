"""Routes of our own for the edges model order moves apart (core/views/edge_routes.py): they
start at their tail, end with an arrow at their head, and keep clear of every other box and title."""
import json

import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views import layout
from core.views.edge_routes import Router
from core.views.export import to_dot
from core.views.layout import layout_source, parse_json_layout, run_in_model_order
from core.views.view import View
from tests.core.views.test_model_order import route_points, title_boxes


def inside(point, box):
    x, y, w, h = box
    return abs(point[0] - x) < w / 2 and abs(point[1] - y) < h / 2


def test_a_route_goes_around_a_box_in_its_way_and_ends_in_an_arrow_at_its_head():
    tail, blocker, head = (100.0, 300.0, 60.0, 30.0), (100.0, 200.0, 80.0, 30.0), (100.0, 100.0, 60.0, 30.0)
    pos = Router([tail, blocker, head], "TB").route(tail, head, arrow=10.0)
    tip = tuple(float(v) for v in pos.split()[0][2:].split(","))
    points = route_points(pos)
    assert abs(points[0][1] - (300.0 - 15.0)) < 1e-6  # leaves the tail at its bottom side
    assert abs(tip[1] - (100.0 + 15.0)) < 1e-6  # the arrow's tip on the head's top side
    assert abs(points[-1][1] - tip[1]) == pytest.approx(10.0)  # an arrow's length short of it
    assert not any(inside(p, blocker) for p in points)
    assert any(abs(p[0] - 100.0) > 40.0 for p in points)  # it went round


def test_a_route_with_nothing_in_its_way_is_straight():
    tail, other, head = (0.0, 300.0, 60.0, 30.0), (300.0, 200.0, 60.0, 30.0), (300.0, 100.0, 60.0, 30.0)
    points = route_points(Router([tail, other, head], "TB").route(tail, head), steps=10)
    # off the line from its first point to the start of its last straight run, by under a point
    (x0, y0), (x1, y1) = points[0], next(p for p in points if p[0] == pytest.approx(points[-1][0]))
    assert all(abs((x - x0) * (y1 - y0) - (y - y0) * (x1 - x0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 < 1.0
               for x, y in points if y >= y1)


@pytest.fixture(scope="module")
def olivia(docs):
    return Trainer(docs, preset("original")).record("olivia")


@pytest.mark.parametrize("level", ["module", "vector"])
@pytest.mark.parametrize("make_source", [layout_source, lambda r, rd: to_dot(r, rankdir=rd)], ids=["app", "export"])
def test_every_edge_of_a_cone_in_model_order_keeps_clear_of_other_boxes_and_titles(olivia, level, make_source):
    layout.clear_cache()
    rendered = View.for_token(olivia, 4, level=level).render()
    laid_out = json.loads(run_in_model_order(make_source(rendered, "TB"), "json0"))
    placed = parse_json_layout(laid_out, "TB", 0.0)
    assert sorted(range(5), key=lambda p: placed.clusters[f"pos{p}"].x) == list(range(5))  # in model order
    names = {o["_gvid"]: o["name"] for o in laid_out["objects"]}
    boxes = {o["name"]: (*(float(v) for v in o["pos"].split(",")), 72 * float(o["width"]), 72 * float(o["height"]))
             for o in laid_out["objects"] if "pos" in o and "nodes" not in o}
    titles = title_boxes(laid_out)
    for edge in laid_out["edges"]:
        ends = {names[edge["tail"]], names[edge["head"]]}
        for point in route_points(edge["pos"]):
            assert not any(inside(point, box) for name, box in boxes.items() if name not in ends), (ends, point)
            assert not any(x0 < point[0] < x1 and y0 < point[1] < y1 for x0, y0, x1, y1 in titles), (ends, point)


@pytest.mark.parametrize("make_source", [layout_source, lambda r, rd: to_dot(r, rankdir=rd)], ids=["app", "export"])
def test_under_tb_every_edge_has_its_route_so_neato_only_draws(olivia, make_source):
    # neato's own router takes seconds where dot takes a tenth: it must find nothing to route
    from core.views.layout import run_dot
    from core.views.model_order import rearranged_source

    source = make_source(View.for_token(olivia, 4).render(), "TB")
    moved = rearranged_source(source, json.loads(run_dot(source, "json0")))
    edges = [line for line in moved.splitlines() if " -> " in line]
    assert edges and all("pos=" in line for line in edges)
    assert "splines=true" not in moved


def _crosses_one(p, q, rect):
    """The slab test for one rectangle, written out plainly: the oracle for the vectorised one."""
    lo, hi = 0.0, 1.0
    for start, delta, low, high in ((p[0], q[0] - p[0], rect[0], rect[1]), (p[1], q[1] - p[1], rect[2], rect[3])):
        if abs(delta) < 1e-12:
            if not low < start < high:
                return False
            continue
        u0, u1 = (low - start) / delta, (high - start) / delta
        lo, hi = max(lo, min(u0, u1)), min(hi, max(u0, u1))
        if lo >= hi:
            return False
    return True


def test_a_segment_crosses_the_rectangles_it_runs_through_and_no_others():
    import random

    import numpy as np

    from core.views.edge_routes import _crosses_any

    rng = random.Random(3)
    rects = []
    for _ in range(300):
        t, a = rng.uniform(0, 500), rng.uniform(0, 500)
        rects.append((t, t + rng.uniform(1, 60), a, a + rng.uniform(1, 80)))
    table = np.array(rects)
    checked = crossing = 0
    for _ in range(400):
        p = (rng.uniform(-50, 550), rng.uniform(-50, 550))
        q = (p[0], rng.uniform(-50, 550)) if rng.random() < 0.2 else (rng.uniform(-50, 550), rng.uniform(-50, 550))
        for k in rng.sample(range(len(rects)), 5):  # one at a time, as the oracle sees them
            expected = _crosses_one(p, q, rects[k])
            assert _crosses_any(p, q, table[k:k + 1]) == expected
            checked += 1
            crossing += expected
        assert _crosses_any(p, q, table) == any(_crosses_one(p, q, r) for r in rects)
    assert checked == 2000 and 0 < crossing < checked  # both answers were tried
    assert not _crosses_any((0.0, 0.0), (1.0, 1.0), np.zeros((0, 4)))
