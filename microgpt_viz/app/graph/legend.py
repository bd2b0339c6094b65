"""The colour legend under the graph view: what blue, red and orange mean in the current mode.

One line, so it never covers a box: `-x [blue-white-red] +x grad of a value   0 [orange]
x groups: largest |grad|   [purple] NaN / inf   log scale, 4 decades`. Coloured by a change
(Δ data, Δ grad) it says so, and a second line names the change (`what-if: …`, `step diff: …`).
"""
import numpy as np
from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from core.views.colour_scale import diverging_rgb, magnitude_rgb
from microgpt_viz.app.graph.colours import NONFINITE, qcolor
from microgpt_viz.session.labels import number

BAR_WIDTH = 110
NARROW_BAR_WIDTH = 44  # when the full legend does not fit the graph's width (a 1280-pixel screen)
HEIGHT = 30  # one line; a change's description adds a second
NOTE_HEIGHT = 18
NOTE_COLOUR = QColor(120, 30, 30)


class Legend(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.scale = None
        self.bar_width = BAR_WIDTH
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(HEIGHT)

    def set_scale(self, scale):
        self.scale = scale
        self.setFixedHeight(HEIGHT + (NOTE_HEIGHT if scale is not None and scale.note else 0))
        self.update()

    def sizeHint(self):
        return QSize(700, self.height())

    def paintEvent(self, event):
        if self.scale is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self.legend_font())
        metrics = painter.fontMetrics()
        s = self.scale
        quantity = s.quantity
        x = 8.0
        if s.note:
            painter.setPen(NOTE_COLOUR)
            note = metrics.elidedText(f"colours show the change made by {s.note}", Qt.TextElideMode.ElideRight, int(self.width() - 2 * x))
            painter.drawText(QRectF(x, HEIGHT - 4, self.width() - 2 * x, NOTE_HEIGHT), Qt.AlignmentFlag.AlignVCenter, note)
        if s.top == 0:
            painter.setPen(QColor(40, 40, 40))
            text = f"nothing shown changed ({quantity} is 0 everywhere)" if quantity.startswith("Δ") else f"every {quantity} shown is 0"
            painter.drawText(QRectF(x, 0, self.width() - x, HEIGHT), Qt.AlignmentFlag.AlignVCenter, text)
            return
        decades = s.decades
        self.bar_width = self._fitting_bar_width(metrics)

        def signed(stop):
            t = stop * 2 - 1
            value = np.sign(t) * s.top * 10 ** (-decades * (1 - abs(t))) if t else 0.0
            return diverging_rgb(value, s.top)

        def magnitude(stop):
            return magnitude_rgb(s.top * 10 ** (-decades * (1 - stop)), s.top)

        if s.signed_values:
            x = self._bar(painter, metrics, x, signed, f"-{number(s.top, 2)}", f"+{number(s.top, 2)}", s.value_caption)
        x = self._bar(painter, metrics, x, magnitude, "0", number(s.top, 2), s.magnitude_caption)
        painter.fillRect(QRectF(x, HEIGHT / 2 - 5, 10, 10), NONFINITE)
        painter.setPen(QColor(40, 40, 40))
        text = metrics.elidedText(f"NaN / inf    {s.log_caption}", Qt.TextElideMode.ElideRight, max(0, int(self.width() - x - 14)))
        painter.drawText(QRectF(x + 14, 0, metrics.horizontalAdvance(text) + 4, HEIGHT), Qt.AlignmentFlag.AlignVCenter, text)

    def _fitting_bar_width(self, metrics):
        """Full-width colour bars when the whole line fits, else narrow ones."""
        return BAR_WIDTH if self.natural_width(metrics, BAR_WIDTH) <= self.width() else NARROW_BAR_WIDTH

    def legend_font(self):
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
        return font

    def natural_width(self, metrics=None, bar_width=None, log_caption=True):
        """Pixels the one-line legend needs with bars `bar_width` wide (default: the width it draws with);
        log_caption=False: up to the NaN swatch's words, the part that is never cut (the caption after it may be)."""
        s = self.scale
        if s is None or s.top == 0:
            return 0
        metrics = metrics or QFontMetrics(self.legend_font())
        bar = self._fitting_bar_width(metrics) if bar_width is None else bar_width
        top = number(s.top, 2)

        def part(left, caption):
            return metrics.horizontalAdvance(left) + 8 + bar + 4 + metrics.horizontalAdvance(f"{top}  {caption}") + 4 + 18

        width = 8.0 + part("0", s.magnitude_caption)
        if s.signed_values:
            width += part(f"-{top}", s.value_caption)
        tail = f"NaN / inf    {s.log_caption}" if log_caption else "NaN / inf"
        return int(width + 14 + metrics.horizontalAdvance(tail) + 4)

    def _bar(self, painter, metrics, x, colour_at, left, right, caption):
        """Draw `left [bar] right caption` from x; return where the next part starts."""
        painter.setPen(QColor(40, 40, 40))
        width = metrics.horizontalAdvance(left) + 4
        painter.drawText(QRectF(x, 0, width, HEIGHT), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, left)
        x += width + 4
        gradient = QLinearGradient(x, 0, x + self.bar_width, 0)
        for stop in np.linspace(0, 1, 21):
            gradient.setColorAt(float(stop), qcolor(colour_at(stop)))
        painter.setPen(QPen(QColor(150, 150, 150)))
        painter.setBrush(gradient)
        painter.drawRect(QRectF(x, HEIGHT / 2 - 6, self.bar_width, 12))
        x += self.bar_width + 4
        painter.setPen(QColor(40, 40, 40))
        text = f"{right}  {caption}"
        width = metrics.horizontalAdvance(text) + 4
        painter.drawText(QRectF(x, 0, width, HEIGHT), Qt.AlignmentFlag.AlignVCenter, text)
        return x + width + 18
