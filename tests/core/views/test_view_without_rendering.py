"""A View answers "what is this node shown as?" and "is this box shown?" without rendering, exactly
as its render() would (the app asks on every click; a render of a million-Value step takes tenths
of a second), and a snapshot renders elsewhere while the view goes on changing."""
import threading

import numpy as np
import pytest

from core.engine.config import preset
from core.engine.train import Trainer
from core.views.view import Filters, View

EVERYTHING = Filters(hide_constants=False, hide_params=False, fold_sums=False)


@pytest.fixture(scope="module")
def trace(docs):
    return Trainer(docs, preset("original")).record("emma")


def views(trace):
    """Views in the states the app reaches: levels, a token's cone, filters off, a focus, one group opened."""
    yield View(trace)
    yield View.for_token(trace, 2, level="vector")
    yield View.for_token(trace, 3, level="scalar")
    yield View.for_token(trace, 1, filters=EVERYTHING)
    yield View.for_token(trace, 2).focus("pos2/layer0/attn")
    opened = View.for_token(trace, 2)
    yield opened.expand(next(n.id for n in opened.render().nodes if n.kind == "group" and n.expandable))


def test_visible_id_and_shows_say_what_the_render_says(trace):
    for view in views(trace):
        asked = [view.visible_id(node) for node in range(trace.num_nodes)]
        assert view.rendered is None  # answered without rendering
        probes = {f"n{node}" for node in range(0, trace.num_nodes, 7)} | set(view._index.group_number)
        shown = {probe for probe in probes if view.shows(probe)}
        assert view.rendered is None
        rendered = view.render()
        assert asked == [rendered.visible_id(node) for node in range(trace.num_nodes)]
        assert shown == probes & {n.id for n in rendered.nodes}
        assert shown  # the probes include boxes that are shown, and (open groups, hidden values) some that are not
        assert shown != probes


def test_a_snapshot_renders_in_another_thread_and_only_the_unchanged_view_adopts_it(trace):
    view = View.for_token(trace, 2)
    snapshot = view.snapshot()
    made = []
    worker = threading.Thread(target=lambda: made.append(snapshot.render()))
    worker.start()
    worker.join()
    assert view.rendered is None
    assert view.adopt(snapshot, made[0]) is made[0] and view.rendered is made[0]
    assert [n.id for n in made[0].nodes] == [n.id for n in View.for_token(trace, 2).render().nodes]

    later = view.snapshot()
    group = next(n.id for n in view.render().nodes if n.kind == "group" and n.expandable)
    view.expand(group)  # the view moved on while the snapshot was rendering
    assert group not in later._expanded  # the snapshot kept the state it was taken in
    assert view.adopt(later, later.render()) is None and view.rendered is None
    assert group not in {n.id for n in view.render().nodes}
    assert np.array_equal(view.render()._code, View.for_token(trace, 2).expand(group).render()._code)
