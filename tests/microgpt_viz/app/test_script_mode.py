"""File > Open script…: a user's own script's first step in the real window, offscreen (issue 7)."""
import textwrap

import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from microgpt_viz.app.dialogs.script_dialog import ScriptDialog  # noqa: E402
from microgpt_viz.app.script_mode import LOCKED_LIVE, SCRIPT_TIPS  # noqa: E402


def write_script(folder, body):
    path = folder / "user_script.py"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def wait_idle(qtbot, wait_ms):
    """wait_idle(window): wait until the window's training worker (which also runs scripts) is idle."""
    return lambda window: qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)


def test_a_script_step_replaces_the_models_on_screen_and_back_to_training_returns(qtbot, window, boxes, scripts, open_script, settle, wait_ms):
    model_trace, losses = window.session.trace, list(window.session.losses)
    open_script(window, scripts.mlp)
    trace = window.session.trace
    assert trace is not model_trace and trace.config is None and trace.tokens == () and trace.positions == 4
    assert window.script.active and not boxes
    # graph, inspector and overview show the script's step
    rendered = window.session.rendered()
    assert rendered.trace is trace and set(window.graph.view.nodes) == {n.id for n in rendered.nodes}
    assert window.overview.trace is trace and len(window.overview.x) == trace.num_nodes
    loss_node = trace.position_loss_nodes[2]
    assert window.session.selection.node == loss_node and window.inspector.node == loss_node
    # the source view shows the user's file at the line that made the selected value
    assert window.source.path == str(scripts.mlp.resolve())
    assert window.source.line == trace.graph.nodes[loss_node]["line"]
    assert "loss = sum(" in window.source.highlighted_text()
    # what the script does not have is said, not raised
    assert "not available for this script" in window.token_strip.note()
    assert not window.attention.canvas.available
    assert "No attention found in this step's graph" in window.attention.canvas.unavailable_message()
    assert window.attention.canvas.grab().width() > 0 and window.token_strip.grab().width() > 0
    panels = window.debug_panels
    assert "not available" in panels.gradcheck.summary.text() and not panels.gradcheck.check_sample.isEnabled()
    assert "not available" in panels.whatif.target.text()
    for name in ("anomalies", "replay", "gradcheck", "whatif", "diff"):
        panels.docks[name].raise_()
    qtbot.waitUntil(lambda: panels.anomalies.report is not None and panels.replay.trace is trace, timeout=wait_ms)
    assert panels.anomalies.report.step == 0
    # a position of the script's loss: its cone, with a numbered cell in the strip
    strip = window.token_strip
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.cell_rect(1).center().toPoint())
    settle(window)
    assert window.session.position == 1 and window.graph.breadcrumb.texts()[0] == "loss of position 1"
    # the model's own settings are off and say why; Step, Run N and Reset act on the script
    panel = window.training_panel
    for widget in (panel.sample_button, panel.preset, panel.learning_rate, panel.fast):
        assert not widget.isEnabled() and widget.toolTip() == LOCKED_LIVE
    for widget, tip in ((panel.step_button, "step"), (panel.run_button, "run"), (panel.reset_button, "reset")):
        assert widget.isEnabled() and widget.toolTip() == SCRIPT_TIPS[tip]
    assert not window.actions["sample"].isEnabled() and window.actions["back_to_training"].isEnabled()
    window.sample()
    assert not window.training.busy and window.session.trace is trace
    # back to training: the model's step as it was, controls on again
    window.actions["back_to_training"].trigger()
    settle(window)
    assert window.session.trace is model_trace and not window.script.active
    assert window.session.losses == losses and panel.step_button.isEnabled() and window.actions["step"].isEnabled()
    assert window.attention.canvas.available
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.step()
    assert window.session.trace.step == 1


def test_a_microgpt_script_with_its_own_arguments_shows_its_tokens(window, names, boxes, scripts, open_script):
    open_script(window, scripts.tuples, (str(names),))
    trace = window.session.trace
    assert not boxes and trace.config is None and trace.tokens and trace.positions == len(trace.tokens) - 1
    assert window.token_strip.note() == "" and window.token_strip.trace is trace
    assert window.graph.breadcrumb.texts()[0].startswith("loss of position 2 (")
    assert window.windowTitle() == "microgpt-viz: microgpt_tuples.py"
    assert "microgpt_tuples.py" in window.statusBar().currentMessage()
    # its attention, found from the graph's shape, fills the heatmaps
    assert window.attention.canvas.available and trace.attention_weights.shape[:2] == (1, 4)


@pytest.mark.parametrize("body, fragment, traceback_text", [
    ("""
        def helper():
            raise KeyError("no such weight")
        helper()
    """, "raised KeyError", 'in helper\n    raise KeyError("no such weight")'),
    ("""
        print("training without autograd today")
    """, "without calling backward", "training without autograd today"),
])
def test_a_script_that_fails_is_a_message_with_its_own_traceback_and_nothing_changes(window, boxes, tmp_path, wait_idle, body, fragment, traceback_text):
    script = write_script(tmp_path, body)
    trace, losses = window.session.trace, list(window.session.losses)
    window.script.open(script)
    wait_idle(window)
    assert len(boxes) == 1
    title, text = boxes[0]
    assert title == "The script could not be recorded" and fragment in text and traceback_text in text
    assert "script_runner" not in text
    assert window.session.trace is trace and window.session.losses == losses and not window.script.active
    assert window.training_panel.step_button.isEnabled()


def test_a_script_past_its_time_limit_is_stopped_and_said(window, boxes, tmp_path, wait_idle):
    script = write_script(tmp_path, """
        import time
        time.sleep(60)
    """)
    trace = window.session.trace
    window.script.open(script, timeout=1.0)
    wait_idle(window)
    assert len(boxes) == 1 and "did not reach backward() within 1 s" in boxes[0][1]
    assert window.session.trace is trace


def test_cancel_stops_a_running_script_quietly(qtbot, window, boxes, tmp_path, wait_idle):
    script = write_script(tmp_path, """
        import time
        time.sleep(60)
    """)
    trace = window.session.trace
    window.script.open(script)
    assert window.training.busy and window.training_panel.cancel_button.isEnabled()
    assert window.training_panel.progress.maximum() == 0  # a busy indicator: how long is unknown
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(window)  # a script left to sleep would outlast the wait and fail it
    assert boxes == [] and "cancelled" in window.statusBar().currentMessage()
    assert window.session.trace is trace and not window.script.active


def test_open_script_from_the_menu_remembers_its_arguments(qtbot, window, names, monkeypatch, docs, scripts, settle, wait_idle, wait_ms):
    filled = []

    def accept(dialog):
        filled.append((dialog.path.text(), dialog.args.text()))  # what the dialog opened with
        dialog.path.setText(str(scripts.tuples))
        dialog.args.setText(f"'{names}'")
        return ScriptDialog.DialogCode.Accepted

    monkeypatch.setattr(ScriptDialog, "exec", accept)
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        window.actions["open_script"].trigger()
    settle(window)
    assert window.script.active and window.session.trace.doc in docs
    assert window.settings.value("script/args") == str(names)
    window.actions["open_script"].trigger()  # the dialog comes back filled in
    assert filled[-1] == (str(scripts.tuples), str(names))
    wait_idle(window)


def test_opening_a_data_file_while_a_script_is_shown_goes_back_to_training(qtbot, window, tmp_path, scripts, open_script, settle, wait_ms):
    open_script(window, scripts.mlp)
    good = tmp_path / "pets.txt"
    good.write_text("rex\nfido\nbella\n")
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        assert window.open_data(good)
    settle(window)
    assert not window.script.active and window.session.trace.config is not None
    assert window.session.trace.doc in {"rex", "fido", "bella"} and window.training_panel.step_button.isEnabled()


def test_screenshot_of_a_scripts_step_from_the_command_line(tmp_path, scripts, cli_process):
    from PyQt6.QtGui import QImage

    from microgpt_viz.session.select_script import Action, SelectError, parse

    mlp = scripts.mlp
    assert parse(f"script={mlp} 'two words' x") == [Action("script", (str(mlp), "two words", "x"))]
    with pytest.raises(SelectError):
        parse("script=")
    out = tmp_path / "script.png"
    # processes of their own: `gui --screenshot` makes its own QApplication and runs its event loop
    done = cli_process("gui", "--screenshot", out, "--select", f"script={mlp},size=1200x800", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (QImage(str(out)).width(), QImage(str(out)).height()) == (1200, 800)
    failing = write_script(tmp_path, "raise SystemExit('no data here')\n")
    done = cli_process("gui", "--screenshot", out, "--select", f"script={failing}", cwd=tmp_path, timeout=300)
    assert done.returncode == 1 and "no data here" in done.stderr
