"""The graph panel's toolbar and legend at 1280x800, the smallest screen the app is made for."""
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QPoint  # noqa: E402


def test_toolbar_and_legend_fit_without_overlap_at_1280x800(qtbot, window, settle):
    window.resize(1280, 800)
    window.select_attention_cell(0, 2, 3, 1)
    settle(window)
    qtbot.waitUntil(lambda: window.width() == 1280)
    panel = window.graph
    tools = [panel.tools.itemAt(i).widget() for i in range(panel.tools.count())]
    tools = [w for w in tools if w is not None]
    assert panel.hint in tools and panel.level in tools and panel.fit_button in tools
    spans = []
    for widget in tools:
        left = widget.mapTo(window, QPoint(0, 0)).x()
        spans.append((left, left + widget.width(), widget))
    spans.sort(key=lambda span: span[0])
    for (_, right, a), (left, _, b) in zip(spans, spans[1:]):
        assert right <= left, f"{a} overlaps {b}"
    assert all(0 <= left and right <= window.width() for left, right, _ in spans)
    # the hint is cut with "…" where there is no room, and says it all in its tooltip
    hint = panel.hint
    assert hint.shown_text() == hint.text() or hint.shown_text().endswith("…")
    assert hint.fontMetrics().horizontalAdvance(hint.shown_text()) <= hint.width()
    assert hint.toolTip() == hint.text()
    # the colour legend's bars and the NaN swatch fit in one line of the panel (only the scale's caption may end in "…")
    legend = panel.legend
    assert legend.scale is not None
    assert 0 < legend.natural_width(log_caption=False) <= legend.width()
