"""The debugging panels, driven with pytest-qt on their own, then as docks of the main window."""
import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from core.engine.config import preset  # noqa: E402
from core.debug.reevaluate import Reevaluator, what_if  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from microgpt_viz.app.debug.anomaly_panel import AnomalyPanel  # noqa: E402
from microgpt_viz.app.debug.debug_panel import DebugPanel  # noqa: E402
from microgpt_viz.app.debug.diff_panel import DiffPanel  # noqa: E402
from microgpt_viz.app.debug.gradcheck_panel import GradCheckPanel  # noqa: E402
from microgpt_viz.app.debug.replay_panel import ReplayPanel  # noqa: E402
from microgpt_viz.app.debug.whatif_panel import WhatIfPanel  # noqa: E402

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn"]


@pytest.fixture(scope="module")
def trainer():
    trainer = Trainer(DOCS, preset("latest"))
    trainer.step()
    return trainer


@pytest.fixture(scope="module")
def trace(trainer):
    return trainer.record("mia")


def click_row(qtbot, table, row):
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_anomaly_panel_lists_findings_and_jumps_to_the_planted_nan(qtbot, trace):
    panel = AnomalyPanel()
    qtbot.addWidget(panel)
    panel.show()
    planted = int(trace.attention_nodes[0, 1, 2, 0])
    panel.set_trace(what_if(trace, planted, math.nan).to_trace(trace))
    assert panel.table.item(0, 0).text() == "error"
    assert panel.table.node_at(0) == planted
    assert "2 errors" in panel.summary.text()  # NaN data and NaN grads
    with qtbot.waitSignal(panel.nodeClicked) as clicked:
        click_row(qtbot, panel.table, 0)
    assert clicked.args == [planted]
    everything = panel.table.rowCount()
    panel.problems_only.setChecked(True)
    assert 0 < panel.table.rowCount() < everything
    assert all(panel.table.item(r, 0).text() != "info" for r in range(panel.table.rowCount()))


def test_gradcheck_panel_checks_a_sample_and_the_selected_node(qtbot, trace):
    panel = GradCheckPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.check_selected.isEnabled()
    panel.set_trace(trace)
    panel.count.setValue(6)
    qtbot.mouseClick(panel.check_sample, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 6
    assert all(panel.table.item(r, 4).text() == "ok" for r in range(6))
    assert panel.summary.text().startswith("ok: 6 checked")
    node = int(trace.attention_nodes[0, 0, 3, 1])
    panel.set_selected(node)
    assert panel.check_selected.isEnabled()
    qtbot.mouseClick(panel.check_selected, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 1 and panel.table.node_at(0) == node
    with qtbot.waitSignal(panel.nodeClicked) as clicked:
        click_row(qtbot, panel.table, 0)
    assert clicked.args == [node]


def test_whatif_panel_applies_an_edit_and_undoes_it(qtbot, trace):
    panel = WhatIfPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_trace(trace)
    assert not panel.apply.isEnabled()
    node = trace.param_nodes["lm_head"][7]
    panel.set_node(node)
    assert panel.value.text() == repr(float(trace.data[node]))
    panel.value.setText("0.75")
    with qtbot.waitSignal(panel.resultChanged) as changed:
        qtbot.mouseClick(panel.apply, Qt.MouseButton.LeftButton)
    result = changed.args[0]
    assert result.edits == {node: 0.75}
    assert result.loss_after == Reevaluator(trace).loss_with({node: 0.75})
    assert "loss " in panel.outcome.text() and "values changed" in panel.outcome.text()
    assert panel.table.rowCount() > 1
    listed = [panel.table.node_at(r) for r in range(panel.table.rowCount())]
    assert listed[0] == node and set(listed) <= set(result.changed_nodes().tolist())
    with qtbot.waitSignal(panel.resultChanged) as undone:
        qtbot.mouseClick(panel.undo, Qt.MouseButton.LeftButton)
    assert undone.args == [None] and panel.table.rowCount() == 0 and not panel.undo.isEnabled()
    panel.value.setText("lots")
    qtbot.keyClick(panel.value, Qt.Key.Key_Return)
    assert "not a number" in panel.outcome.text() and panel.result is None


def test_replay_panel_slides_and_plays_over_the_backward_order(qtbot, trace):
    panel = ReplayPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_trace(trace)
    n = trace.num_nodes
    assert panel.slider.maximum() == n and panel.position == n
    assert np.array_equal(panel.grads(), trace.grad)
    with qtbot.waitSignal(panel.frameChanged) as framed:
        panel.set_position(0)
    frame = framed.args[0]
    assert np.count_nonzero(frame.grad) == 1 and frame.grad[trace.loss_node] == 1.0
    assert "has not started" in panel.status.text()
    panel.set_position(10)
    assert f"#{n - 10}" in panel.status.text()
    panel.stride.setValue(n // 4 + 1)
    panel.set_position(0)
    qtbot.mouseClick(panel.play, Qt.MouseButton.LeftButton)
    assert panel.play.text() == "Pause"
    qtbot.waitUntil(lambda: panel.position == n and not panel.play.isChecked(), timeout=10000)
    assert panel.play.text() == "Play" and "backward done" in panel.status.text()


def test_diff_panel_compares_a_pinned_step(qtbot, trainer, trace):
    panel = DiffPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_trace(trace)
    qtbot.mouseClick(panel.pin, Qt.MouseButton.LeftButton)
    assert panel.pinned is trace and panel.result is None
    later = Trainer(DOCS, preset("latest"))
    for _ in range(3):
        later.step()
    with qtbot.waitSignal(panel.diffChanged) as changed:
        panel.set_trace(later.record("mia"))
    result = changed.args[0]
    assert result is not None and result.loss_delta != 0
    assert panel.table.node_at(0) == result.first_data_divergence.node
    assert "first data divergence" in panel.table.item(0, 0).text()
    other = later.record("olivia")
    panel.set_trace(other)
    assert panel.result is None and "different graphs" in panel.summary.text()
    assert panel.record_b.isEnabled()
    with qtbot.waitSignal(panel.recordRequested) as asked:
        qtbot.mouseClick(panel.record_b, Qt.MouseButton.LeftButton)
    assert asked.args == ["mia"]
    panel.set_b(later.record("mia"))
    assert panel.result is not None and not panel.record_b.isEnabled()
    qtbot.mouseClick(panel.unpin, Qt.MouseButton.LeftButton)
    assert panel.pinned is None and panel.result is None


# --- inside the main window -------------------------------------------------------------------


def test_docks_follow_the_step_and_rows_jump_to_nodes(qtbot, window, settle, wait_ms):
    panels = window.debug_panels
    for name in ("anomalies", "gradcheck", "whatif", "replay", "diff"):
        assert name in window.docks
    panels.docks["anomalies"].raise_()
    qtbot.waitUntil(lambda: panels.anomalies.report is not None, timeout=wait_ms)
    assert panels.anomalies.report.step == window.session.trace.step
    row = next(r for r in range(panels.anomalies.table.rowCount()) if panels.anomalies.table.item(r, 1).text() == "high_loss_token")
    node = panels.anomalies.table.node_at(row)
    click_row(qtbot, panels.anomalies.table, row)
    qtbot.waitUntil(lambda: window.session.selection.node == node, timeout=wait_ms)
    assert panels.whatif.node == node and panels.gradcheck.check_selected.isEnabled()
    panels.docks["replay"].raise_()
    qtbot.waitUntil(lambda: panels.replay.trace is window.session.trace, timeout=wait_ms)
    settle(window)
    panels.replay.set_position(0)
    assert np.count_nonzero(window.overview.trace.grad) == 1  # the minimap shows the replay frame
    loss_box = window.session.rendered().visible_id(window.session.trace.loss_node)
    drawn = window.graph.view.nodes
    # before backward starts only the loss has a gradient; the boxes on screen say so
    assert all(item.node.max_abs_grad == 0 for vid, item in drawn.items() if vid != loss_box)
    panels.replay.set_position(panels.replay.replay.size)
    recorded = {n.id: n.max_abs_grad for n in window.session.rendered().nodes}
    assert any(v > 0 for v in recorded.values())
    assert all(item.node.max_abs_grad == recorded[vid] for vid, item in drawn.items())


def test_the_five_docks_share_one_look_and_one_worker(window):
    panels = window.debug_panels
    assert len(panels.panels) == 5
    for title, panel in panels.panels.values():
        assert isinstance(panel, DebugPanel), title
        # the same body: the grey explanation first, then the panel's own rows
        assert panel.layout().itemAt(0).widget() is panel.explanation and panel.explanation.text(), title
        assert panel.explanation.styleSheet() == panels.anomalies.explanation.styleSheet(), title
        assert panel.background.runner is panels.runner, title  # heavy work off the GUI thread, one worker


def test_save_and_open_training_state(qtbot, window, boxes, tmp_path, settle, wait_ms):
    panels = window.debug_panels
    path = tmp_path / "state.json"
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    settle(window)
    assert panels.save_state(path) and path.is_file()
    saved_losses = list(window.session.losses)
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    settle(window)
    assert window.training.trainer.step_index == 2
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        assert panels.open_state(path)
    settle(window)
    assert window.training.trainer.step_index == 1
    assert window.session.trace.step == 1 and window.session.losses == saved_losses
    assert window.session.trainer is window.training.trainer
    # a truncated file: one message, nothing changed
    before = window.training.trainer
    cut = tmp_path / "cut.json"
    cut.write_bytes(path.read_bytes()[:1000])
    assert not panels.open_state(cut)
    assert boxes and boxes[-1][0] == "Cannot open the training state" and "truncated" in boxes[-1][1]
    assert window.training.trainer is before and window.session.trace.step == 1
