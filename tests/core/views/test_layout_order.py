"""Parallel blocks drawn in the model's order, measured on the real Graphviz layout (the app's and the export's).

Cones of names of several lengths, at several tokens: dot alone shuffled the positions of every one
of these (pos0 pos3 pos1 pos2 for emma's token 3, pos0 pos4 pos1 pos2 pos3 for olivia's token 4).
"""
import json

import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views import layout
from core.views.export import to_dot
from core.views.layout import layout_view, parse_json_layout, run_in_model_order
from core.views.view import View

HEADS = preset("original").n_head


@pytest.fixture(scope="module")
def trainer(docs):
    return Trainer(docs, preset("original"))


@pytest.fixture(autouse=True)
def cold_cache():
    layout.clear_cache()
    yield
    layout.clear_cache()


def across_ranks(box, rankdir):
    """Where a box sits along its rank: x under TB, y (downwards) under LR."""
    return box.x if rankdir == "TB" else box.y


def exported_layout(rendered, rankdir):
    """The export's own DOT (styling, titles and all), laid out as the export draws it."""
    return parse_json_layout(json.loads(run_in_model_order(to_dot(rendered, rankdir=rankdir), "json0")), rankdir, 0.0)


CONES = [("emma", 3), ("olivia", 4), ("olivia", 5), ("ava", 2), ("noah", 4)]


def both_layouts(rendered, rankdir):
    """The app's layout (fixed-size boxes) and the export's (its own DOT), each as drawn."""
    return {"app": layout_view(rendered, rankdir), "export": exported_layout(rendered, rankdir)}


def reading_order(placed, ids, rankdir):
    """ids sorted as a reader meets them across the ranks (clusters or boxes)."""
    return sorted(ids, key=lambda i: across_ranks(placed.clusters.get(i) or placed.nodes[i], rankdir))


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("name, t", CONES)
def test_positions_go_in_order_across_the_rank(trainer, name, t, rankdir):
    rendered = View.for_token(trainer.record(name), t).render()
    positions = [f"pos{p}" for p in range(t + 1)]
    for which, placed in both_layouts(rendered, rankdir).items():
        assert reading_order(placed, positions, rankdir) == positions, (name, t, rankdir, which)


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("name, t", CONES)
def test_q_k_v_side_by_side_in_order(trainer, name, t, rankdir):
    rendered = View.for_token(trainer.record(name), t).render()
    qkv = [f"pos{t}/layer0/attn/{x}" for x in "qkv"]
    for which, placed in both_layouts(rendered, rankdir).items():
        assert reading_order(placed, qkv, rankdir) == qkv, (name, t, rankdir, which)
        along = {round(placed.nodes[i].y if rankdir == "TB" else placed.nodes[i].x) for i in qkv}
        assert len(along) == 1, (name, t, rankdir, which)  # one row


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("name, t", CONES)
def test_attention_heads_go_in_order_across_the_rank(trainer, name, t, rankdir):
    rendered = View.for_token(trainer.record(name), t).render()
    heads = [f"pos{t}/layer0/attn/head{h}" for h in range(HEADS)]
    for placed in (layout_view(rendered, rankdir), exported_layout(rendered, rankdir)):
        centres = [across_ranks(placed.clusters[h], rankdir) for h in heads]
        assert centres == sorted(centres), (name, rankdir, centres)
        assert len(set(centres)) == HEADS  # side by side, not stacked


def test_the_anchors_that_hold_the_order_are_not_drawn(trainer):
    rendered = View.for_token(trainer.record("emma"), 3).render()
    placed = layout_view(rendered)
    assert set(placed.nodes) == {n.id for n in rendered.nodes}
    assert sorted((s, t) for s, t, _, _ in placed.edges) == sorted((e.source, e.target) for e in rendered.edges)
    assert 'style=invis' in to_dot(rendered)  # they are in the export's DOT, and invisible there


def test_siblings_are_written_in_model_order(trainer):
    rendered = View.for_token(trainer.record("olivia"), 4).render()
    children, _ = layout.nesting(rendered)
    top = [c.id for c in children[None]]
    assert top == [f"pos{p}" for p in range(5)]
    heads = [c.id for c in children["pos4/layer0/attn"]]
    assert heads == [f"pos4/layer0/attn/head{h}" for h in range(HEADS)]
