"""The token strip: the current name as tokens, each position with its loss; click one to see its cone.

Position t reads token t and is scored on predicting token t+1, so each cell shows both,
with loss_t as a number and as a bar (full height = ln(vocab), a uniform guess). The first
cell stands for the whole step (the mean loss). A user's script may not say its tokens (or
have per-position losses at all): its cells are numbered instead, and the strip says so.
"""
import math

from PyQt6.QtCore import QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QToolTip, QWidget

CELL_WIDTH = 62
FIRST_CELL_WIDTH = 86
HEIGHT = 84
SELECTED = QColor(255, 236, 160)
BORDER = QColor(150, 150, 150)
BAR = QColor(214, 96, 77)
BAR_GOOD = QColor(67, 147, 195)


class TokenStrip(QWidget):
    positionClicked = pyqtSignal(object)  # position t, or None for the whole step

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.position = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(HEIGHT)

    def set_trace(self, trace):
        hint = self.sizeHint()
        self.trace = trace
        if self.sizeHint() != hint:  # a relayout repaints the docks around the strip too
            self.updateGeometry()
        self.update()

    def set_position(self, position):
        self.position = position
        self.update()

    def sizeHint(self):
        n = self.trace.positions if self.trace is not None else 6
        return QSize(FIRST_CELL_WIDTH + n * CELL_WIDTH + 8, HEIGHT)

    # ---- geometry -------------------------------------------------------------------
    def cell_rect(self, position):
        """Rectangle of a position's cell (None: the whole-step cell)."""
        if position is None:
            return QRectF(2, 2, FIRST_CELL_WIDTH - 6, HEIGHT - 4)
        return QRectF(FIRST_CELL_WIDTH + position * CELL_WIDTH, 2, CELL_WIDTH - 4, HEIGHT - 4)

    def position_at(self, x, y):
        """The position under a point: an int, None for the whole-step cell, or -1 for nothing."""
        if self.trace is None:
            return -1
        if self.cell_rect(None).contains(x, y):
            return None
        for t in range(self.trace.positions):
            if self.cell_rect(t).contains(x, y):
                return t
        return -1

    # ---- events ---------------------------------------------------------------------
    def mousePressEvent(self, event):
        hit = self.position_at(event.position().x(), event.position().y())
        if hit != -1 and event.button() == Qt.MouseButton.LeftButton:
            self.positionClicked.emit(hit)

    def mouseMoveEvent(self, event):
        hit = self.position_at(event.position().x(), event.position().y())
        if hit == -1 or self.trace is None:
            QToolTip.hideText()
            return
        t = self.trace
        if hit is None:
            text = f"the whole step: mean of {t.positions} position losses = {t.loss:.4f}" if t.positions else f"the whole step: loss {t.loss:.4f}"
        elif _has_labels(t, hit):
            text = (f"position {hit}: reads {t.token_labels[hit]!r}, should predict {t.token_labels[hit + 1]!r}\n"
                    f"loss = -log p({t.token_labels[hit + 1]!r}) = {t.position_losses[hit]:.4f}\nclick: show this loss's cone")
        else:
            text = f"position {hit} (the script does not say its tokens)\nloss {t.position_losses[hit]:.4f}\nclick: show this loss's cone"
        QToolTip.showText(event.globalPosition().toPoint(), text, self)

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().window())
        if self.trace is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "recording the first step…")
            return
        t = self.trace
        vocab = vocab_size(t)
        # the bar's full width: a uniform guess, or (a script's step of unknown vocabulary) the largest loss
        uniform = math.log(vocab) if vocab else max([t.loss, *t.position_losses])
        self._paint_cell(painter, None, "step", f"{t.doc}", t.loss, uniform)
        for p in range(t.positions):
            if _has_labels(t, p):
                self._paint_cell(painter, p, t.token_labels[p], f"→ {t.token_labels[p + 1]}", t.position_losses[p], uniform)
            else:
                self._paint_cell(painter, p, f"#{p}", "position", t.position_losses[p], uniform)
        note = self.note()
        if note:
            painter.setPen(QPen(QColor(110, 110, 110)))
            left = self.cell_rect(t.positions - 1).right() + 12 if t.positions else self.cell_rect(None).right() + 12
            painter.drawText(QRectF(left, 0, max(0.0, self.width() - left - 4), HEIGHT), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, note)

    def note(self):
        """What the strip cannot show for this step (a user's script), or ''."""
        t = self.trace
        if t is None or t.tokens:
            return ""
        if not t.positions:
            return "tokens and per-position losses: not available for this script"
        return "tokens: not available for this script (its loss is split by position only)"

    def _paint_cell(self, painter, position, big, small, loss, uniform):
        rect = self.cell_rect(position)
        selected = position == self.position
        painter.setPen(QPen(BORDER, 1))
        painter.setBrush(SELECTED if selected else self.palette().base().color())
        painter.drawRoundedRect(rect, 5, 5)
        text_pen = QPen(self.palette().text().color())
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(text_pen)
        painter.drawText(QRectF(rect.x(), rect.y() + 2, rect.width(), 24), Qt.AlignmentFlag.AlignCenter, big)
        small_font = QFont(self.font())
        painter.setFont(small_font)
        painter.setPen(QPen(QColor(100, 100, 100)))
        metrics = painter.fontMetrics()
        shown = metrics.elidedText(small, Qt.TextElideMode.ElideRight, int(rect.width()) - 6)
        painter.drawText(QRectF(rect.x(), rect.y() + 27, rect.width(), 18), Qt.AlignmentFlag.AlignCenter, shown)
        painter.setPen(text_pen)
        painter.drawText(QRectF(rect.x(), rect.y() + 45, rect.width(), 18), Qt.AlignmentFlag.AlignCenter, f"{loss:.3f}")
        # the bar: full width = a uniform guess; shorter is better
        share = max(0.0, min(1.0, loss / uniform)) if uniform > 0 else 0.0
        bar = QRectF(rect.x() + 5, rect.bottom() - 12, (rect.width() - 10) * share, 7)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_mix(BAR_GOOD, BAR, share))
        painter.drawRect(bar)


def vocab_size(trace):
    """Every doc starts with BOS, and BOS is the last token id; None when the tokens are unknown."""
    return trace.tokens[0] + 1 if trace.tokens else None


def _has_labels(trace, position):
    return position + 1 < len(trace.token_labels)


def _mix(a, b, t):
    return QColor(*(round(x + (y - x) * t) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3])))
