"""The attention dock says in words why a matrix is blank instead of drawing a colour scale for
zeros, and writes numbers that fit their cells."""
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402


def test_zero_gradients_at_step_0_are_explained_and_real_ones_are_not(qtbot, docs):
    from microgpt_viz.app.docks.attention import AttentionPanel

    trainer = Trainer(docs, preset("original"))
    first = trainer.record()
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.set_trace(first)
    panel.set_mode("grads")
    assert np.all(np.nan_to_num(first.attention_weight_grads) == 0)  # masked cells are NaN  # what the message is about
    message = panel.canvas.zero_message()
    assert "attn_wo starts at zero" in message and "step 0" in message
    panel.set_mode("weights")
    assert panel.canvas.zero_message() is None  # softmax weights are never all 0
    trainer.step()
    later = trainer.record()
    assert later.step == 1 and np.any(np.nan_to_num(later.attention_weight_grads) != 0)
    panel.set_trace(later)
    panel.set_mode("grads")
    assert panel.canvas.zero_message() is None


def test_an_all_zero_matrix_without_a_known_cause_gets_the_plain_words():
    from microgpt_viz.app.docks.attention import all_zero, zero_text

    values = np.zeros((1, 2, 3, 3))
    values[0, 0, 0, 2] = 5.0  # a masked cell (key after query) does not count
    assert all_zero(values)
    values[0, 1, 2, 1] = 1e-9
    assert not all_zero(values)
    later = SimpleNamespace(step=4, config=preset("original"))
    assert zero_text(later, "grads") == "every d loss / d weight in this step is 0, so there is nothing to colour"
    latest = SimpleNamespace(step=0, config=preset("latest"))
    assert "attn_wo" not in zero_text(latest, "grads")


@pytest.mark.parametrize("x", [0.35, -0.35, 0.0096, 0.0042, -0.0042, 0.001, 3.1e-4, -1.5e-7, 2.4e5, 99.5])
def test_a_cell_number_fits_the_cell_and_reads_as_its_value(x):
    # a cell is sized for "0.35": four characters, and a sign
    from microgpt_viz.app.docks.attention import _short

    text = _short(x)
    assert len(text.lstrip("-")) <= 4, text
    assert float(text) == pytest.approx(x, rel=0.5), text  # one or two significant digits
    assert text.startswith("-") == (x < 0)


def test_moving_the_selection_redraws_its_outline_only_and_the_window_shows_what_a_direct_paint_draws(qtbot, shown, docs):
    from PyQt6.QtGui import QImage, QPainter

    from microgpt_viz.app.docks.attention import AttentionCanvas, Cell

    trace = Trainer(docs, preset("original")).record("isabella")
    canvas = shown(AttentionCanvas(), 760, 320, trace)
    painted = []
    real_paint = canvas.paint
    canvas.paint = lambda *args, **kwargs: painted.append(kwargs) or real_paint(*args, **kwargs)

    def direct():  # as an export paints: every cell and the outline in one go
        ratio = canvas.devicePixelRatioF()
        image = QImage(round(canvas.width() * ratio), round(canvas.height() * ratio), QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        painter = QPainter(image)
        painter.fillRect(canvas.rect(), canvas.palette().base())
        real_paint(painter, canvas.width(), canvas.height())
        painter.end()
        return image

    canvas.set_selected(Cell(0, 1, 3, 2))
    first = canvas.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    assert len(painted) == 1 and first == direct()
    canvas.set_selected(Cell(0, 0, 5, 1))
    moved = canvas.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    assert len(painted) == 1  # the cells were not painted again
    assert moved != first and moved == direct()
    canvas.set_mode("logits")
    canvas.grab()
    assert len(painted) == 2  # another matrix: painted afresh


def test_a_new_step_of_the_same_shape_does_not_lay_the_docks_out_again(qtbot, docs):
    # a relayout repaints the docks around the canvas too: at a million Values that pass was
    # the window's longest stall when a step came in
    from microgpt_viz.app.docks.attention import AttentionCanvas

    trainer = Trainer(docs, preset("original"))
    canvas = AttentionCanvas()
    qtbot.addWidget(canvas)
    relayouts = []
    canvas.updateGeometry = lambda: relayouts.append(1)
    short = min(docs, key=len)
    same = next(d for d in docs if len(d) == len(short) and d != short)
    longer = next(d for d in docs if len(d) > len(short))
    canvas.set_trace(trainer.record(short))
    assert relayouts == [1]  # no heatmaps before: the size it wants changed
    canvas.set_trace(trainer.record(same))  # as many positions
    assert relayouts == [1]
    canvas.set_trace(trainer.record(longer))  # more positions: bigger heatmaps
    assert relayouts == [1, 1]


def test_a_new_step_of_many_heatmaps_is_drawn_in_a_turn_of_its_own(qtbot, shown, docs):
    from microgpt_viz.app.docks import attention

    trainer = Trainer(docs, preset("original", n_layer=3))  # 12 heatmaps
    assert 3 * 4 > attention.PICTURE_TURN_HEATMAPS
    canvas = shown(attention.AttentionCanvas(), 900, 700, trainer.record(docs[0]))
    first = canvas.grab().toImage()
    drawn = []
    real = canvas.paint
    canvas.paint = lambda *args, **kwargs: drawn.append(1) or real(*args, **kwargs)
    canvas.set_trace(trainer.record(docs[1]))
    assert canvas.grab().toImage() == first and not drawn  # the paint pass of the new step only copies
    qtbot.waitUntil(lambda: drawn == [1])  # then, in its own turn, the new heatmaps
    assert canvas.grab().toImage() != first
