"""Choosing a level of detail in the window: a level too big to draw opens around the selection."""
import pytest

pytest.importorskip("pytestqt")


def test_scalar_level_with_a_selection_focuses_a_scope_that_can_be_drawn(window, settle, monkeypatch):
    from microgpt_viz.app import main_window

    trace, session = window.session.trace, window.session
    window.select_attention_cell(0, 2, 3, 1)
    settle(window)
    node = session.selection.node
    session.set_level("scalar")
    whole = len(session.rendered().nodes)
    window.set_level("module")
    settle(window)
    monkeypatch.setattr(main_window, "LAYOUT_LIMIT", whole - 1)  # this small step's whole cone is then too big
    messages = []  # the status bar's words are timed: a slow machine could outlive them before the assert reads them
    window.statusBar().messageChanged.connect(messages.append)
    window.set_level("scalar")
    settle(window)
    assert session.view.scope is not None and trace.scope[node].startswith(session.view.scope + "/")
    assert not window.graph.notice.isVisibleTo(window.graph)  # a graph, not "too many boxes"
    assert f"n{node}" in window.graph.view.nodes and window.graph.view.nodes  # the selected value is drawn
    assert window.graph.level.currentText() == "scalar"
    assert any(session.view.scope in message for message in messages)
