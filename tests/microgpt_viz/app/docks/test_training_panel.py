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
