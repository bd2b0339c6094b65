"""What the window keeps off its GUI thread: a view is rendered (and laid out) in the layout worker,
from a snapshot, so a million-Value step's tenths of a second of rendering never freeze the window."""
import os
import sys
import threading

import pytest

pytest.importorskip("pytestqt")

from core.views import view as view_module  # noqa: E402
from microgpt_viz.session import trace_memory  # noqa: E402
from microgpt_viz.session.background import BACKGROUND_NICENESS  # noqa: E402


def closed_groups(window):
    return [n.id for n in window.session.rendered().nodes if n.kind == "group" and n.expandable]


@pytest.fixture
def render_threads(monkeypatch):
    """The thread of every render of a View from now on."""
    threads = []
    real = view_module.render_view

    def render_view(view):
        threads.append(threading.current_thread())
        return real(view)

    monkeypatch.setattr(view_module, "render_view", render_view)
    return threads


def test_clicks_render_nothing_on_the_gui_thread_the_layout_worker_renders(qtbot, window, settle, render_threads, wait_ms):
    settle(window)
    trace, session = window.session.trace, window.session
    first = closed_groups(window)[0]
    actions = [
        lambda: window.toggle_group(first),
        lambda: window.select_position(1),
        lambda: window.go_to_node(int(trace.attention_nodes[0, 0, 1, 0])),  # opens groups down to a single value
        window.show_whole_step,
    ]
    for act in actions:
        shown = len(render_threads)
        with qtbot.waitSignal(window.graphShown, timeout=wait_ms):
            act()
            assert session.view.rendered is None  # the session answered without rendering
        assert len(render_threads) == shown + 1
    assert all(thread is not threading.main_thread() for thread in render_threads)
    settle(window)
    assert {n.id for n in session.rendered().nodes} == set(window.graph.view.nodes)


def test_a_selected_group_fills_the_inspector_once_its_new_picture_is_made(qtbot, window, settle, wait_ms):
    settle(window)
    selected, other = closed_groups(window)[:2]
    window.select_box(selected)
    label = window.session.rendered().node(selected).label
    window.inspector.show_nothing()
    with qtbot.waitSignal(window.graphShown, timeout=wait_ms):
        window.toggle_group(other)  # the view changes, the selected group stays shown
        assert window.session.view.rendered is None and window.session.selection.visible == selected
    assert window.inspector.title.text() == label


def test_a_step_arrives_with_the_shown_tokens_cone_already_found_in_the_worker(qtbot, window, settle, monkeypatch, wait_ms):
    from core.trace.index import index_of

    settle(window)
    window.select_position(3)
    settle(window)
    index_type = type(index_of(window.session.trace))
    found = []  # (thread, roots) of every cone looked for
    real = index_type.ancestors
    monkeypatch.setattr(index_type, "ancestors", lambda index, roots: found.append((threading.current_thread(), tuple(roots))) or real(index, roots))
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    trace = window.session.trace
    assert trace.step == 1 and window.session.position == 3
    assert (int(trace.position_loss_nodes[3]),) in [roots for _, roots in found]
    assert found and all(thread is not threading.main_thread() for thread, _ in found)


def test_a_steps_box_colours_are_made_with_its_picture_in_the_layout_worker(qtbot, window, settle, monkeypatch):
    from microgpt_viz.app.graph import node_colours, panel

    settle(window)
    on_gui_thread = []
    real = node_colours.node_fills

    def node_fills(*args):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(*args)

    monkeypatch.setattr(node_colours, "node_fills", node_fills)
    monkeypatch.setattr(panel, "node_fills", node_fills)
    window.step()
    settle(window)
    assert on_gui_thread == [False]  # once, in the worker
    fills, _ = real(window.session.rendered(), window.session.colour_by, window.session.change)
    assert {vid: item.colours[0].rgb() for vid, item in window.graph.view.nodes.items()} == \
        {vid: fill.rgb() for vid, (fill, _) in fills.items()}  # the colours the panel would have made
    # a colour chosen while the picture is on its way: the panel colours it afresh, in the new colours
    window.step()
    qtbot.waitUntil(lambda: window.graphviz.busy or not window.training.busy, timeout=60000)
    window.choose_colour("data")
    settle(window)
    fills, _ = real(window.session.rendered(), "data", None)
    assert {vid: item.colours[0].rgb() for vid, item in window.graph.view.nodes.items()} == \
        {vid: fill.rgb() for vid, (fill, _) in fills.items()}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")
def test_training_layout_and_the_trace_janitor_run_at_a_lower_priority_than_the_window(qtbot, window, settle, wait_ms):
    settle(window)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}
    for name, runner in (("training", window.training._runner), ("layout", window.graphviz)):
        runner.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                      lambda priority, name=name: seen.__setitem__(name, priority), lambda error: None)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=wait_ms)
    janitor = trace_memory._janitor()
    seen["janitor"] = os.getpriority(os.PRIO_PROCESS, janitor.native_id)
    assert seen == dict.fromkeys(("training", "layout", "janitor"), min(19, own + BACKGROUND_NICENESS))


def test_the_layout_worker_renders_with_the_collector_paused(window, settle, monkeypatch):
    """A render makes a few hundred thousand containers: the next allocation anywhere, the window's
    included, would start a full collection walking them all."""
    import gc

    settle(window)
    collecting = []
    real = view_module.render_view
    monkeypatch.setattr(view_module, "render_view", lambda view: (collecting.append(gc.isenabled()), real(view))[1])
    window.toggle_group(closed_groups(window)[0])
    settle(window)
    assert collecting and not any(collecting) and gc.isenabled()
