"""The colour legend of the graph view: what blue, red and orange mean in the current mode."""
import numpy as np
from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from microgpt_viz.colours import NONFINITE, diverging_rgb, magnitude_rgb, qcolor
from microgpt_viz.labels import number

BAR_WIDTH = 110
ROW = 27


class Legend(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.scale = None
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    def set_scale(self, scale):
        self.scale = scale
        self.resize(self.sizeHint())
        self.update()

    def sizeHint(self):
        rows = 2 if self.scale is not None and self.scale.signed_values else 1
        return QSize(BAR_WIDTH + 150, rows * ROW + 22)

    def paintEvent(self, event):
        if self.scale is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(160, 160, 160)))
        painter.setBrush(QColor(255, 255, 255, 235))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        s = self.scale
        quantity = "data" if s.mode == "data" else "grad"
        y = 6
        decades = s.decades

        def signed(stop):
            t = stop * 2 - 1
            value = np.sign(t) * s.top * 10 ** (-decades * (1 - abs(t))) if t else 0.0
            return diverging_rgb(np.array([value]), s.top)[0]

        def magnitude(stop):
            return magnitude_rgb(np.array([s.top * 10 ** (-decades * (1 - stop))]), s.top)[0]

        if s.top == 0:
            painter.setPen(QColor(40, 40, 40))
            painter.drawText(QRectF(8, y, BAR_WIDTH + 140, 18), Qt.AlignmentFlag.AlignVCenter, f"every {quantity} shown is 0")
            return
        if s.signed_values:
            self._bar(painter, y, signed, f"-{number(s.top, 2)}", f"+{number(s.top, 2)}", f"{quantity} of a value")
            y += ROW
        self._bar(painter, y, magnitude, "0", number(s.top, 2),
                  f"largest |{quantity}| in a group" if s.signed_values else "|grad|, groups: largest inside")
        y += ROW
        painter.setPen(QColor(60, 60, 60))
        painter.fillRect(QRectF(8, y + 2, 10, 10), NONFINITE)
        painter.drawText(QRectF(22, y - 1, BAR_WIDTH + 120, 16), Qt.AlignmentFlag.AlignVCenter,
                         f"NaN / inf      log scale over {s.decades} decades")

    def _bar(self, painter, y, colour_at, left, right, caption):
        gradient = QLinearGradient(8, 0, 8 + BAR_WIDTH, 0)
        for stop in np.linspace(0, 1, 21):
            gradient.setColorAt(float(stop), qcolor(colour_at(stop)))
        painter.setPen(QPen(QColor(150, 150, 150)))
        painter.setBrush(gradient)
        painter.drawRect(QRectF(8, y + 2, BAR_WIDTH, 10))
        painter.setPen(QColor(40, 40, 40))
        painter.drawText(QRectF(8, y + 12, 70, 13), Qt.AlignmentFlag.AlignLeft, left)
        painter.drawText(QRectF(8 + BAR_WIDTH - 70, y + 12, 70, 13), Qt.AlignmentFlag.AlignRight, right)
        painter.drawText(QRectF(14 + BAR_WIDTH, y - 1, 140, 16), Qt.AlignmentFlag.AlignVCenter, caption)
