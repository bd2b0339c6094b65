"""A user's script's training loop stepped in the real window, offscreen (issue 12, point 2)."""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from microgpt_viz.app.script_mode import SCRIPT_TIPS  # noqa: E402

STEPS = 30  # the fixture's planned steps (its learning-rate schedule needs them)


@pytest.fixture
def step_script(qtbot, settle, wait_ms):
    """step_script(window, how): press Step (or run `how`) and wait until the script's next step is shown."""
    def step(window, how=None):
        with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
            (how or window.step)()
        settle(window)
    return step


def printed_losses(path, args):
    """The losses a microgpt fixture prints (`step k / N | loss L` lines) when run as `python script.py`."""
    out = subprocess.run([sys.executable, str(path), *args], cwd=path.parent, capture_output=True, text=True, check=True).stdout
    return [line.rsplit("loss", 1)[1].strip() for line in out.splitlines() if line.startswith("step")]


def write_script(folder, scripts, body, name="user_script.py"):
    path = folder / name
    path.write_text(f"import sys\nsys.path.insert(0, {str(scripts.folder)!r})\n" + textwrap.dedent(body))
    return path


def test_step_follows_the_scripts_own_training_loop_keeping_the_view(qtbot, window, names, boxes, scripts, open_script, step_script):
    args = (str(names), str(STEPS))
    printed = printed_losses(scripts.tuples, args)
    open_script(window, scripts.tuples, args)
    first = window.session.trace
    assert first.step == 0 and f"{first.loss:.4f}" == printed[0]
    assert [f"{x:.4f}" for x in window.session.losses] == printed[:1]
    # open a group and select a value inside it: both outlast the steps, as for the model
    group = "pos2/gpt/softmax"
    window.toggle_group(group)
    loss_node = first.position_loss_nodes[2]
    window.go_to_node(loss_node)
    presses = (lambda: qtbot.keyClick(window, Qt.Key.Key_Space), window.training_panel.step_button.click, window.step)
    for k, press in enumerate(presses, start=1):
        step_script(window, press)
        trace = window.session.trace
        assert trace.step == k and trace.config is None and f"{trace.loss:.4f}" == printed[k]
        assert [f"{x:.4f}" for x in window.session.losses] == printed[:k + 1]
        assert list(window.training_panel.loss_plot.losses) == window.session.losses
        assert window.session.rendered().trace is trace  # the graph shows the new step
        assert group in window.session.view.expanded
        assert window.session.selection.node == trace.position_loss_nodes[2]
        assert window.script.title().endswith(f"{['2nd', '3rd', '4th'][k - 1]} backward()")
        assert f"(step {k})\n{trace.doc!r}: loss {trace.loss:.4f}" in window.training_panel.status.text()
    assert not boxes and window.training_panel.step_button.isEnabled()


def test_run_n_shows_progress_and_cancel_stops_it_at_the_next_backward(qtbot, window, tmp_path, boxes, scripts, open_script, wait_ms, settle):
    slow = write_script(tmp_path, scripts, """
        import time
        from micrograd_engine import Value
        w = Value(0.5)
        for step in range(100000):
            loss = (w * 3.0 - 1.0) ** 2
            w.grad = 0
            loss.backward()
            w.data -= 0.01 * w.grad
            time.sleep(0.02)
    """)
    open_script(window, slow)
    panel = window.training_panel
    panel.run_count.setValue(50000)
    panel.run_button.click()
    assert window.training.busy and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.progress.maximum() == 50000 and panel.progress.value() >= 3, timeout=wait_ms)
    assert "backward()" in panel.status.text()
    with qtbot.waitSignal(window.stepShown, timeout=wait_ms):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    settle(window)
    trace, losses = window.session.trace, window.session.losses
    assert 4 <= trace.step < 50000 and len(losses) == trace.step + 1 and trace.loss == losses[-1]
    assert list(panel.loss_plot.losses) == losses
    assert not boxes and panel.step_button.isEnabled() and window.script.live.can_step


def test_a_script_that_raises_mid_run_is_a_message_and_its_last_good_step_stays(qtbot, window, tmp_path, boxes, scripts, open_script, step_script, wait_ms):
    failing = write_script(tmp_path, scripts, """
        from micrograd_engine import Value

        def update(w, step):
            if step == 2:
                raise FloatingPointError(f"my loss blew up at step {step}")
            w.data -= 0.1 * w.grad

        w = Value(0.5)
        for step in range(10):
            w.grad = 0
            loss = w * w
            loss.backward()
            update(w, step)
    """)
    open_script(window, failing)
    step_script(window)
    good = window.session.trace
    window.run(5)
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    assert len(boxes) == 1
    title, text = boxes[0]
    assert title == "The script stopped" and "raised FloatingPointError: my loss blew up at step 2" in text
    assert 'in update\n    raise FloatingPointError(f"my loss blew up at step {step}")' in text and "paused_child" not in text
    assert window.session.trace is good and len(window.session.losses) == 3  # the third backward() ran before it raised
    panel = window.training_panel
    assert not panel.step_button.isEnabled() and not window.actions["step"].isEnabled()
    assert panel.reset_button.isEnabled() and "has stopped: Reset runs it again" in panel.status.text()
    # Reset starts the script again
    step_script(window, window.reset)
    assert window.session.trace.step == 0 and len(window.session.losses) == 1 and panel.step_button.isEnabled()


def test_a_script_whose_loop_ends_says_so_and_step_turns_off(qtbot, window, tmp_path, boxes, scripts, open_script, wait_ms):
    short = write_script(tmp_path, scripts, """
        from micrograd_engine import Value
        w = Value(0.5)
        for step in range(2):
            w.grad = 0
            (w * w).backward()
    """)
    open_script(window, short)
    shown = window.session.trace
    window.run(5)
    qtbot.waitUntil(lambda: not window.training.busy, timeout=wait_ms)
    assert not boxes and window.session.trace is shown and len(window.session.losses) == 2
    panel = window.training_panel
    assert "user_script.py has finished (after 2 backward() calls)" in panel.status.text()
    assert not panel.step_button.isEnabled() and not panel.run_button.isEnabled() and panel.reset_button.isEnabled()
    assert panel.step_button.toolTip() != SCRIPT_TIPS["step"]


def test_the_scripts_process_ends_with_another_script_back_to_training_and_the_window(window, tmp_path, scripts, open_script, settle, process_running):
    def pid():
        return window.script.live.script.process.pid

    open_script(window, scripts.mlp)
    first = pid()
    open_script(window, scripts.mlp)
    assert pid() != first and not process_running(first) and process_running(pid())
    window.actions["back_to_training"].trigger()
    settle(window)
    assert not process_running(pid := first) and window.script.live.script is None
    open_script(window, scripts.mlp)
    last = window.script.live.script.process.pid
    assert process_running(last)
    window.close()
    assert not process_running(last) and not process_running(pid)


def test_closing_the_window_during_run_n_ends_the_script(qtbot, window, tmp_path, scripts, open_script, wait_ms, process_running):
    slow = write_script(tmp_path, scripts, """
        import time
        from micrograd_engine import Value
        w = Value(0.5)
        while True:
            (w * w).backward()
            time.sleep(0.02)
    """)
    open_script(window, slow)
    script = window.script.live.script
    window.run(100000)
    qtbot.waitUntil(lambda: script.backward_calls >= 3, timeout=wait_ms)
    window.close()
    assert script.process.poll() is not None and not process_running(script.process.pid)


def test_a_step_recorded_before_the_window_steps_on_by_running_the_script_again(qtbot, window, boxes, scripts, step_script, settle):
    from core.script.run import record_script

    printed = subprocess.run([sys.executable, str(scripts.mlp)], cwd=scripts.folder, capture_output=True, text=True, check=True).stdout
    losses = [float(line.split()[1]) for line in printed.splitlines()]
    shown = record_script(scripts.mlp, at_backward=2)  # what `gui --script PATH --at-backward 2` hands the window
    window.script.show_trace(scripts.mlp, shown, "backward() call 2", rerun=((), None, 60.0, 2))
    settle(window)
    assert window.training_panel.step_button.isEnabled() and window.actions["step"].isEnabled()
    step_script(window)
    trace = window.session.trace
    assert trace.step == 2 and trace.loss == losses[2] and window.session.losses == losses[:3]
    assert window.script.live.can_step and window.script.title().endswith("3rd backward()")
    step_script(window, window.reset)
    assert window.session.trace.step == 0 and window.session.losses == losses[:1] and not boxes
