"""Parallel blocks drawn in the model's order, measured on the real Graphviz layout (the app's and the export's)."""
import json

import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views import layout
from core.views.export import to_dot
from core.views.layout import layout_view, parse_json_layout, run_dot
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
    """The export's own DOT (styling, titles and all), laid out by dot."""
    return parse_json_layout(json.loads(run_dot(to_dot(rendered, rankdir=rankdir), "json0")), rankdir, 0.0)


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
@pytest.mark.parametrize("name, t", [("emma", 3), ("olivia", 4)])
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
