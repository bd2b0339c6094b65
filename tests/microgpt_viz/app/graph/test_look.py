"""What the window shows: short dock tabs that fit, and local gradients on the graph's edges when zoomed in."""
from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtWidgets import QTabBar  # noqa: E402

from microgpt_viz.session.labels import number  # noqa: E402

BOTTOM_TABS = ["Attention", "Anomalies", "Grad check", "What-if", "Replay", "Step diff"]


def test_bottom_dock_tabs_have_short_titles_that_fit_and_panels_explain_themselves(qtbot, window, wait_ms):
    bar = next(b for b in window.findChildren(QTabBar) if b.count() and b.tabText(0) == "Attention")
    assert [bar.tabText(i) for i in range(bar.count())] == BOTTOM_TABS
    metrics = bar.fontMetrics()
    for i in range(bar.count()):  # nothing elided: every tab is as wide as its title
        assert bar.tabRect(i).width() >= metrics.horizontalAdvance(bar.tabText(i))
    assert bar.tabRect(bar.count() - 1).right() <= bar.width()
    for name in ("anomalies", "gradcheck", "whatif", "replay", "diff"):
        panel = window.debug_panels.panels[name][1]
        window.debug_panels.docks[name].raise_()
        qtbot.waitUntil(panel.explanation.isVisible, timeout=wait_ms)
        assert len(panel.explanation.text()) > 40 and panel.explanation.wordWrap()


def scalar_edges(window):
    """Edge items that stand for one scalar edge, so they carry its local gradient."""
    return [item for item in window.graph.view.edges.values() if item.local_grad is not None]


def recorded_local_grads(window, item):
    """The local gradients of the trace's edges between the members of an edge's two boxes."""
    rendered, graph = window.session.rendered(), window.session.trace.graph
    sources = set(rendered.node(item.source).members.tolist())
    return [d["local_grad"] for target in rendered.node(item.target).members.tolist()
            for source, _, d in graph.in_edges(target, data=True) if source in sources]


def test_edges_show_their_local_gradients_when_zoomed_in_and_hide_them_zoomed_out(qtbot, window, settle, wait_ms):
    trace = window.session.trace
    window.go_to_node(int(trace.attention_nodes[0, 1, 2, 0]))  # opens a softmax down to single values
    settle(window)
    view = window.graph.view
    edges = scalar_edges(window)
    assert edges
    view.resetTransform()
    view.zoom(1.5)
    assert view.edge_labels_visible
    for item in edges:
        assert item.label is not None and item.label.isVisible()
        text = item.label.childItems()[0].text()
        assert text == number(item.local_grad, 3)
        assert recorded_local_grads(window, item) == [item.local_grad]
    # group-to-group edges stand for many scalars: no number on them
    assert all(item.label is None for item in view.edges.values() if item.count > 1)
    view.zoom(0.4)
    assert not view.edge_labels_visible and not any(item.label.isVisible() for item in edges)
    assert view.text_visible  # box text is still readable at this zoom; edge numbers need more
    view.zoom(1 / 0.4)
    assert all(item.label.isVisible() for item in edges)
    # the next step on the same layout updates the numbers in place
    rendered = window.session.rendered()
    doubled = replace(rendered, edges=[replace(e, local_grad=None if e.local_grad is None else 2 * e.local_grad) for e in rendered.edges])
    fills = {vid: item.colours for vid, item in view.nodes.items()}
    view.show_graph(doubled, view.layout, fills)
    qtbot.waitUntil(lambda: not view.building, timeout=wait_ms)  # a big view takes its numbers over several turns
    item = edges[0]
    assert view.edges[(item.source, item.target)] is item
    assert item.label.childItems()[0].text() == number(item.local_grad, 3)
    assert [2 * g for g in recorded_local_grads(window, item)] == [item.local_grad]


def visible_tab_bars(window):
    return [[bar.tabText(i) for i in range(bar.count())] for bar in window.findChildren(QTabBar) if bar.isVisible()]


def test_no_stray_tab_bars_over_the_docks_first_time_or_with_a_saved_layout(make_window):
    # Qt leaves old tab bars visible over the dock titles when docks are tabified one by one
    for _ in range(2):  # the second window restores the layout the first one saved
        window = make_window(settings_name="layout.ini")
        assert sorted(visible_tab_bars(window)) == sorted([["Training", "Search"], BOTTOM_TABS])
        assert not window.docks["attention"].visibleRegion().isEmpty()  # in front of its group
        window.close()
