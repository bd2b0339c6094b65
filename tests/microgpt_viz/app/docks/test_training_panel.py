"""The training dock numbers steps as the CLI does: from 0, the number of updates before the step."""
import re

import pytest

pytest.importorskip("pytestqt")


def test_the_window_and_record_name_the_first_step_alike(window, docs, tmp_path, cli):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(docs) + "\n")
    recorded = cli("record", "--data", data)
    assert recorded.returncode == 0, recorded.stderr
    cli_step = re.search(r"\bstep (\d+)\b", recorded.stdout).group(1)
    trace = window.session.trace
    planned = trace.config.num_steps
    assert f"step {cli_step} · {planned} steps in the run" in window.training_panel.status.text()
    assert window.statusBar().currentMessage().startswith(f"step {cli_step} · ")
    assert f"step {trace.step} of" not in window.training_panel.status.text()  # no "of", which reads as 1-based


def test_the_loss_curve_puts_step_0_at_x_0(qtbot):
    from microgpt_viz.app.widgets.loss_plot import LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.set_losses([3.3, 3.1, 2.9])
    x, y = plot._raw.getData()
    assert list(x) == [0, 1, 2] and list(y) == [3.3, 3.1, 2.9]
    assert plot.getPlotItem().getAxis("bottom").labelText == "step"


def test_progress_paints_with_the_next_paint_never_at_once_with_every_waiting_widget(qtbot, events):
    from PyQt6.QtCore import QEvent
    from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

    from microgpt_viz.app.docks.training_panel import TrainingPanel

    window = QWidget()
    qtbot.addWidget(window)
    panel, waiting = TrainingPanel(), QLabel("another dock's widget")
    layout = QVBoxLayout(window)
    layout.addWidget(panel)
    layout.addWidget(waiting)
    window.show()
    qtbot.waitExposed(window)
    paints = events(QEvent.Type.Paint, waiting, panel.progress)
    for change in (lambda: panel.set_progress("step 3: loss 2.5", 3, 20), lambda: panel.set_busy(False),
                   lambda: panel.set_progress("sampling names", 0, 0)):
        waiting.update()  # a widget that waits for the window's next paint
        change()
        assert paints.count == 0  # nothing painted in the caller's turn
        qtbot.waitUntil(lambda: paints.count >= 2)  # both, in the next paint
        paints.count = 0
    assert panel.progress.format() == "sampling names" and panel.progress.maximum() == 0


def test_the_loss_curve_redraws_only_when_what_it_shows_changes(qtbot):
    import math

    from microgpt_viz.app.widgets.loss_plot import LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    redraws = []
    real = plot._refresh
    plot._refresh = lambda: redraws.append(1) or real()
    plot.set_vocab_size(27)
    plot.set_vocab_size(27)  # every Step says it again
    plot.extend([3.3, 3.1])
    plot.set_losses([3.3, 3.1])  # the session's copy of what extend drew
    assert len(redraws) == 2
    plot.set_losses([3.3])  # a rewind
    plot.set_vocab_size(28)
    assert len(redraws) == 4 and plot.losses == [3.3] and plot.baseline == math.log(28)
    assert list(plot._raw.getData()[1]) == [3.3]


def test_the_step_axis_moves_in_nice_jumps_so_most_steps_leave_the_axes_as_drawn(qtbot):
    from microgpt_viz.app.widgets.loss_plot import LossPlot, room_for

    assert [room_for(n) for n in (0, 10, 11, 13, 26, 81, 101, 301, 1001)] == [10, 10, 12, 15, 30, 100, 120, 400, 1200]
    assert all(n <= room_for(n) and (n <= 10 or room_for(n) <= 4 * n / 3) for n in range(1, 5000))  # at most a quarter empty
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.set_vocab_size(27)
    ranges = []
    for step in range(300):
        plot.append(3.0 - step / 1000)
        ranges.append(tuple(plot.getPlotItem().getViewBox().viewRange()[0]))
    assert len(set(ranges)) <= 16  # 300 Steps, the axis redrawn at most 16 times
    low, high = ranges[-1]
    assert low < 0 < 299 < high  # every step on the axis


def test_a_step_leaves_the_panels_layout_and_the_loss_plots_size_alone(window, settle, events):
    """The status says "training 1 step" (one line), then where training stands (two): each change
    of its height re-laid the panel out and resized, and so redrew, the whole loss plot."""
    from PyQt6.QtCore import QEvent

    settle(window)
    panel = window.training_panel
    resizes = events(QEvent.Type.Resize, panel.loss_plot)
    size = panel.loss_plot.size()
    for _ in range(2):
        window.step()
        settle(window)
    assert len(window.session.losses) == 2 and panel.status.text().count("\n") == 1
    assert resizes.count == 0 and panel.loss_plot.size() == size
