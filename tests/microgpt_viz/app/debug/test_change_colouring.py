"""Colouring the graph by what a what-if edit or a step diff changes; undo brings the plain colours back."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from core.views.colour_scale import magnitude_rgb  # noqa: E402
from microgpt_viz.app.graph.colours import qcolor  # noqa: E402
from microgpt_viz.app.graph.node_colours import node_fills  # noqa: E402


def drawn_fills(window):
    return {vid: item.colours[0].rgb() for vid, item in window.graph.view.nodes.items()}


def expected_fills(window, mode, change=None):
    fills, _ = node_fills(window.session.rendered(), mode, change)
    return {vid: fill.rgb() for vid, (fill, _) in fills.items()}


def test_a_what_if_edit_colours_boxes_by_their_change_and_undo_restores(qtbot, window, settle, wait_ms):
    session, panels = window.session, window.debug_panels
    panels.docks["whatif"].raise_()
    trace = session.trace
    node = int(trace.param_nodes["lm_head"][40])
    window.go_to_node(node)
    settle(window)
    assert panels.whatif.node == node
    plain = drawn_fills(window)
    assert plain == expected_fills(window, "grad")
    old = float(trace.data[node])
    panels.whatif.value.setText(repr(old + 0.5))
    with qtbot.waitSignal(panels.whatif.resultChanged, timeout=wait_ms) as changed:
        qtbot.mouseClick(panels.whatif.apply, Qt.MouseButton.LeftButton)
    result = changed.args[0]
    assert result is not None
    # the graph switched to the change on its own, and says so
    assert session.colour_by == "Δ data" and window.graph.colour.currentText() == "Δ data"
    scale = window.graph.legend.scale
    assert scale.mode == "Δ data" and scale.note.startswith("the what-if lm_head[")
    coloured = drawn_fills(window)
    assert coloured == expected_fills(window, "Δ data", session.change)
    rendered = session.rendered()
    edited = rendered.visible_id(node)
    assert edited == f"n{node}" and coloured[edited] != plain[edited]
    edited_colour = window.graph.view.nodes[edited].colours[0]
    assert edited_colour.red() > edited_colour.blue()  # raised by 0.5: the red side
    # a box nothing changed in stays neutral; one downstream of the edit is coloured
    unchanged = [n for n in rendered.nodes if not np.any(result.data_delta[n.members])]
    moved = [n for n in rendered.nodes if n.kind != "value" and np.any(result.data_delta[n.members])]
    assert unchanged and moved
    neutral = qcolor(magnitude_rgb(np.array([0.0]), 1.0)[0]).rgb()
    assert all(coloured[n.id] in (neutral, qcolor((250, 250, 250)).rgb()) for n in unchanged)
    assert all(coloured[n.id] != neutral for n in moved)
    # Δ grad is in the menu while the change lasts
    window.graph.colour.setCurrentText("Δ grad")
    window.graph.colourChosen.emit("Δ grad")
    assert session.colour_by == "Δ grad" and drawn_fills(window) == expected_fills(window, "Δ grad", session.change)
    # undo: the colouring chosen before comes back, the Δ entries go grey
    with qtbot.waitSignal(panels.whatif.resultChanged, timeout=wait_ms):
        qtbot.mouseClick(panels.whatif.undo, Qt.MouseButton.LeftButton)
    assert session.change is None and session.colour_by == "grad"
    assert window.graph.colour.currentText() == "grad" and window.graph.legend.scale.mode == "grad"
    assert drawn_fills(window) == plain
    model = window.graph.colour.model()
    assert not model.item(window.graph.colour.findText("Δ data")).isEnabled()
    window.choose_colour("Δ data")  # nothing to compare: said in the status bar, nothing changes
    assert session.colour_by == "grad" and "what-if" in window.statusBar().currentMessage()


def test_a_new_step_ends_the_change_colouring(qtbot, window, settle, wait_ms):
    session, panels = window.session, window.debug_panels
    session.set_colour_by("|grad|")
    node = int(session.trace.param_nodes["lm_head"][3])
    window.go_to_node(node)
    settle(window)
    with qtbot.waitSignal(panels.whatif.resultChanged, timeout=wait_ms):
        panels.whatif.edit(0.25)
    assert session.colour_by == "Δ data"
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    settle(window)
    assert session.change is None and session.colour_by == "|grad|"
    assert drawn_fills(window) == expected_fills(window, "|grad|")


def test_a_step_diff_colours_the_graph_by_change_while_b_is_on_screen(qtbot, window, settle, wait_ms):
    session, panels = window.session, window.debug_panels
    panels.docks["diff"].raise_()
    qtbot.waitUntil(lambda: panels.diff.trace is session.trace, timeout=wait_ms)
    panels.diff.pin_current()
    pinned = panels.diff.pinned
    cycle = len(window.training.trainer.docs)  # the same doc comes round again after this many steps
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.run(cycle)
    settle(window)
    assert session.trace.doc == pinned.doc and session.trace.step == cycle
    qtbot.waitUntil(lambda: session.change is not None, timeout=wait_ms)
    result = panels.diff.result
    assert result.a is pinned and result.b is session.trace
    assert session.change.source == "step diff" and session.colour_by == "Δ data"
    assert np.array_equal(session.change.data_delta, result.data_delta)
    assert "step diff" in window.graph.legend.scale.note
    assert drawn_fills(window) == expected_fills(window, "Δ data", session.change)
    panels.diff.colour.setChecked(False)
    assert session.change is None and session.colour_by == "grad"
    assert drawn_fills(window) == expected_fills(window, "grad")
    panels.diff.colour.setChecked(True)
    assert session.change is not None
    qtbot.mouseClick(panels.diff.unpin, Qt.MouseButton.LeftButton)
    assert session.change is None and session.colour_by == "grad"
