"""The attention grid: one query x key heatmap per layer and head, with the causal mask.

Rows are queries (the position doing the looking), columns are keys (the position looked
at); cells above the diagonal are masked (a token cannot see the future) and drawn hatched.
Show the softmax weights, the logits fed to it, or d loss / d weight. Hover for the value;
click a cell to select that softmax output in the graph. Painted by hand so the same code
draws the widget and the PNG / SVG export. A user's script's step has the tables where
core/script/attention.py finds its attention softmaxes; where it finds none, the canvas says so.
"""
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QImage, QLinearGradient, QPainter, QPen, QPixmap
from PyQt6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from core.views.colour_scale import diverging_rgb, weight_rgb
from core.views.navigate import attention_cell_of
from microgpt_viz.app.graph.colours import MASKED, qcolor, text_colour_for
from microgpt_viz.session.labels import number

MODES = ("weights", "logits", "grads")
MODE_TITLES = {"weights": "softmax weight", "logits": "logit (q·k / √d)", "grads": "d loss / d weight"}
MARGIN = 10
Y_LABELS = 40
TITLE = 20
X_LABELS = 20
LAYER_TITLE = 20
GAP = 16
COLOUR_BAR = 86
MIN_CELL = 10.0  # below this the dock scrolls instead of shrinking the heatmaps
EXPORT_CELL = 36.0
NOT_AVAILABLE = ("No attention found in this step's graph: no softmax whose logits are dot products "
                 "of two computed vectors (q · k).")


@dataclass(frozen=True)
class Cell:
    layer: int
    head: int
    query: int
    key: int


def mode_values(trace, mode):
    return {"weights": trace.attention_weights, "logits": trace.attention_logits, "grads": trace.attention_weight_grads}[mode]


def all_zero(values):
    """Every cell a query can see (key <= query) is exactly 0: a colour scale would be made up."""
    positions = values.shape[-1]
    seen = np.tril(np.ones((positions, positions), dtype=bool))
    return bool(np.all(values[..., seen] == 0))


def zero_text(trace, mode):
    """Why the heatmaps of `mode` are blank, in words: the cause when the step and config make it known."""
    what = MODE_TITLES[mode]
    config = trace.config
    if mode == "grads" and config is not None and config.zero_init_out and trace.step == 0:
        return (f"every {what} is 0 here: attn_wo starts at zero, so no gradient reaches the "
                "attention weights at step 0 (take a step to see them)")
    return f"every {what} in this step is 0, so there is nothing to colour"


def value_range(values, mode):
    """(low, high) of the colour scale: [0, 1] for weights, symmetric around 0 otherwise."""
    if mode == "weights":
        return 0.0, 1.0
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if finite.size else 1.0
    top = top or 1.0
    return -top, top


def cell_rgb(values, mode, low, high):
    if mode == "weights":
        return weight_rgb(np.nan_to_num(values))
    return diverging_rgb(np.nan_to_num(values), high, log=False)


# heatmaps (layers x heads) past which a new step's picture is made in an event-loop turn of its
# own: drawn in the paint pass that shows the new step everywhere (graph, overview, plots),
# 16 heatmaps at 4 layers made that pass the window's longest stall (~20-40 ms of ~140)
PICTURE_TURN_HEATMAPS = 8


class AttentionCanvas(QWidget):
    """The heatmaps themselves; also paints onto images and SVG for export."""

    cellClicked = pyqtSignal(int, int, int, int)  # layer, head, query, key

    def __init__(self, parent=None):
        super().__init__(parent)
        self.trace = None
        self.mode = "weights"
        self.selected = None  # Cell outlined as the current selection
        # ((mode, width, height, pixel ratio), the heatmaps of self.trace drawn for them); the key is
        # None while a new step's picture is on its way (see PICTURE_TURN_HEATMAPS)
        self._picture = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_trace(self, trace):
        hint = self.sizeHint()
        self.trace = trace
        if self.sizeHint() != hint:  # a relayout repaints the docks around it too
            self.updateGeometry()
        layers, heads, _ = self._shape() if self.available else (0, 0, 0)
        if self._picture is not None and layers * heads > PICTURE_TURN_HEATMAPS:
            self._picture = (None, self._picture[1])  # shown until the new one is made, next turn
            QTimer.singleShot(0, self._make_picture)
        else:
            self._picture = None
            self.update()

    def _make_picture(self):
        if self._picture is not None and self._picture[0] is None:
            self._picture = self._drawn_picture()
            self.update()

    @property
    def available(self):
        """There are heatmaps to draw (the model's step, or a script's whose attention was found)."""
        return self.trace is not None and self.trace.attention_weights.size > 0

    def set_mode(self, mode):
        if mode not in MODES:
            raise ValueError(f"unknown attention mode {mode!r} (choose from {', '.join(MODES)})")
        self.mode = mode
        self.update()

    def set_selected(self, cell):
        self.selected = cell
        self.update()

    def sizeHint(self):
        return self._size_for(24.0) if self.available else QSize(520, 260)

    def minimumSizeHint(self):
        return self._size_for(MIN_CELL) if self.available else QSize(260, 140)

    def _size_for(self, cell):
        layers, heads, positions = self._shape()
        width = 2 * MARGIN + Y_LABELS + COLOUR_BAR + heads * positions * cell + (heads - 1) * GAP
        height = 2 * MARGIN + layers * (LAYER_TITLE + TITLE + positions * cell + X_LABELS) + (layers - 1) * GAP
        return QSize(int(width) + 1, int(max(height, 160)) + 1)

    # ---- geometry -------------------------------------------------------------------
    def _shape(self):
        layers, heads, positions, _ = self.trace.attention_weights.shape
        return layers, heads, positions

    def cell_size(self, width, height):
        layers, heads, positions = self._shape()
        across = (width - 2 * MARGIN - Y_LABELS - COLOUR_BAR - (heads - 1) * GAP) / (heads * positions)
        down = (height - 2 * MARGIN - layers * (LAYER_TITLE + TITLE + X_LABELS) - (layers - 1) * GAP) / (layers * positions)
        return max(MIN_CELL, min(44.0, across, down))

    def heatmap_rect(self, layer, head, cell):
        _, _, positions = self._shape()
        side = positions * cell
        x = MARGIN + Y_LABELS + head * (side + GAP)
        y = MARGIN + layer * (LAYER_TITLE + TITLE + side + X_LABELS + GAP) + LAYER_TITLE + TITLE
        return QRectF(x, y, side, side)

    def cell_at(self, x, y):
        if not self.available:
            return None
        layers, heads, positions = self._shape()
        cell = self.cell_size(self.width(), self.height())
        for layer in range(layers):
            for head in range(heads):
                rect = self.heatmap_rect(layer, head, cell)
                if rect.contains(x, y):
                    query = min(positions - 1, int((y - rect.y()) // cell))
                    key = min(positions - 1, int((x - rect.x()) // cell))
                    return Cell(layer, head, query, key)
        return None

    def cell_centre(self, cell_ref):
        """Widget coordinates of the middle of a cell (tests click there)."""
        cell = self.cell_size(self.width(), self.height())
        rect = self.heatmap_rect(cell_ref.layer, cell_ref.head, cell)
        return QPointF(rect.x() + (cell_ref.key + 0.5) * cell, rect.y() + (cell_ref.query + 0.5) * cell)

    # ---- events ---------------------------------------------------------------------
    def mousePressEvent(self, event):
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            if hit.key > hit.query:
                QToolTip.showText(event.globalPosition().toPoint(), "masked: a query cannot attend to a later key", self)
                return
            self.cellClicked.emit(hit.layer, hit.head, hit.query, hit.key)

    def mouseMoveEvent(self, event):
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), self.describe(hit), self)

    def describe(self, hit):
        labels = self.trace.token_labels
        where = f"layer {hit.layer}, head {hit.head}: query {hit.query} ({labels[hit.query]!r}) → key {hit.key} ({labels[hit.key]!r})"
        if hit.key > hit.query:
            return where + "\nmasked (causal): the future is not visible"
        t = self.trace
        w = t.attention_weights[hit.layer, hit.head, hit.query, hit.key]
        lg = t.attention_logits[hit.layer, hit.head, hit.query, hit.key]
        g = t.attention_weight_grads[hit.layer, hit.head, hit.query, hit.key]
        return f"{where}\nweight {number(w)}   logit {number(lg)}   d loss/d weight {number(g)}\nclick: select this softmax output"

    def unavailable_message(self):
        """What the canvas says when there is no heatmap to draw."""
        return "no step recorded yet" if self.trace is None else NOT_AVAILABLE

    # ---- painting -------------------------------------------------------------------
    def paintEvent(self, event):
        """The heatmaps from a picture kept until the step, the mode or the size changes, and the
        selection's outline on top: a click that only moves the outline repainted every cell of
        every head (20-47 ms at 4 layers)."""
        stale = self._picture is not None and self._picture[0] is None  # the new one comes next turn
        if not stale and (self._picture is None or self._picture[0] != self._picture_key()):
            self._picture = self._drawn_picture()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture[1])
        sel = self.selected
        if self.available and sel is not None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._outline(painter, self.heatmap_rect(sel.layer, sel.head, self.cell_size(self.width(), self.height())),
                          self.cell_size(self.width(), self.height()), sel)

    def _picture_key(self):
        return (self.mode, self.width(), self.height(), self.devicePixelRatioF())

    def _drawn_picture(self):
        """(key, pixmap) of the heatmaps without the selection's outline."""
        ratio = self.devicePixelRatioF()
        picture = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        picture.setDevicePixelRatio(ratio)
        drawing = QPainter(picture)
        drawing.fillRect(self.rect(), self.palette().base())
        self.paint(drawing, self.width(), self.height(), outline=False)
        drawing.end()
        return (self._picture_key(), picture)

    def _outline(self, painter, rect, cell, sel):
        box = QRectF(rect.x() + sel.key * cell, rect.y() + sel.query * cell, cell, cell)
        painter.setPen(QPen(QColor(255, 170, 0), 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(box.adjusted(1, 1, -1, -1))

    def paint(self, painter, width, height, outline=True):
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = QColor(30, 30, 30)
        if not self.available:
            painter.setPen(text)
            message = self.unavailable_message()
            painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, message)
            return
        layers, heads, positions = self._shape()
        values = mode_values(self.trace, self.mode)
        zero = self.zero_message()
        low, high = value_range(values, self.mode)
        rgb = cell_rgb(values, self.mode, low, high)
        cell = self.cell_size(width, height)
        labels = self.trace.token_labels[:positions]
        short_bos = cell < 26  # "BOS" is wider than a small cell: mark it with a dot instead
        if short_bos:
            labels = tuple("•" if label == "BOS" else label for label in labels)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, min(10.0, cell * 0.42)))
        painter.setFont(font)
        bold = QFont(font)
        bold.setBold(True)
        show_numbers = cell >= 30
        for layer in range(layers):
            first = self.heatmap_rect(layer, 0, cell)
            painter.setFont(bold)
            painter.setPen(text)
            painter.drawText(QRectF(MARGIN, first.y() - TITLE - LAYER_TITLE, width - 2 * MARGIN, LAYER_TITLE), Qt.AlignmentFlag.AlignVCenter, f"layer {layer}   (rows: query, columns: key{', • = BOS' if short_bos else ''})")
            for head in range(heads):
                rect = self.heatmap_rect(layer, head, cell)
                painter.setFont(bold)
                painter.setPen(text)
                painter.drawText(QRectF(rect.x(), rect.y() - TITLE, rect.width(), TITLE), Qt.AlignmentFlag.AlignCenter, f"head {head}")
                painter.setFont(font)
                self._paint_heatmap(painter, rect, cell, values[layer, head], rgb[layer, head], show_numbers, (layer, head) if outline else None)
                for k, label in enumerate(labels):
                    painter.setPen(text)
                    wide = max(cell, 34.0)
                    centre = rect.x() + (k + 0.5) * cell
                    painter.drawText(QRectF(centre - wide / 2, rect.bottom() + 2, wide, X_LABELS - 2), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, label)
                if head == 0:
                    for q, label in enumerate(labels):
                        painter.drawText(QRectF(rect.x() - Y_LABELS, rect.y() + q * cell, Y_LABELS - 4, cell), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        if zero:  # no scale for a matrix of zeros: say why instead
            self._paint_message(painter, width, height, zero, font)
        else:
            self._paint_colour_bar(painter, width, height, low, high, font)

    def zero_message(self):
        """What the canvas says instead of a colour scale when the shown matrix is all 0, else None."""
        if not self.available:
            return None
        values = mode_values(self.trace, self.mode)
        return zero_text(self.trace, self.mode) if all_zero(values) else None

    def _paint_message(self, painter, width, height, text, font):
        box = QRectF(MARGIN, 0, min(width - 2 * MARGIN, 520), 0)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.setFont(font)
        needed = painter.boundingRect(box.adjusted(10, 0, -10, 1000), flags, text)
        box.setHeight(needed.height() + 16)
        box.moveCenter(QPointF(width / 2, min(height, self._size_for(self.cell_size(width, height)).height()) / 2))
        painter.setPen(QPen(QColor(160, 140, 90), 1))
        painter.setBrush(QColor(255, 250, 225, 240))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(60, 50, 20))
        painter.drawText(box.adjusted(10, 8, -10, -8), flags, text)

    def _paint_heatmap(self, painter, rect, cell, values, rgb, show_numbers, layer_head):
        positions = values.shape[0]
        hatch = QBrush(QColor(190, 190, 190), Qt.BrushStyle.BDiagPattern)
        painter.setPen(Qt.PenStyle.NoPen)
        for q in range(positions):
            for k in range(positions):
                box = QRectF(rect.x() + k * cell, rect.y() + q * cell, cell, cell)
                if k > q:
                    painter.fillRect(box, MASKED)
                    painter.fillRect(box, hatch)
                    continue
                colour = rgb[q, k]
                painter.fillRect(box, qcolor(colour))
                if show_numbers:
                    painter.setPen(text_colour_for(colour))
                    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, _short(values[q, k]))
                    painter.setPen(Qt.PenStyle.NoPen)
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        sel = self.selected
        if sel is not None and layer_head == (sel.layer, sel.head):
            self._outline(painter, rect, cell, sel)

    def _paint_colour_bar(self, painter, width, height, low, high, font):
        layers, heads, _ = self._shape()
        last = self.heatmap_rect(0, heads - 1, self.cell_size(width, height))
        x = min(width - COLOUR_BAR + 10, last.right() + GAP + 6)  # beside the heatmaps, not at the far edge
        top = MARGIN + LAYER_TITLE + TITLE
        bar_height = max(60.0, min(220.0, height - top - MARGIN - X_LABELS))
        gradient = QLinearGradient(0, top, 0, top + bar_height)
        for stop in np.linspace(0, 1, 11):
            value = high - stop * (high - low)
            rgb = cell_rgb(np.array([value]), self.mode, low, high)[0]
            gradient.setColorAt(float(stop), qcolor(rgb))
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.setBrush(QBrush(gradient))
        painter.drawRect(QRectF(x, top, 14, bar_height))
        painter.setFont(font)
        painter.setPen(QColor(30, 30, 30))
        for value, y in ((high, top), ((low + high) / 2, top + bar_height / 2), (low, top + bar_height)):
            painter.drawText(QRectF(x + 18, y - 8, COLOUR_BAR - 28, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, _short(value))
        painter.drawText(QRectF(x - 10, top - 28, COLOUR_BAR, 16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.mode)

    # ---- export ---------------------------------------------------------------------
    def export_size(self):
        if not self.available:
            return 520, 120
        size = self._size_for(EXPORT_CELL)
        return size.width(), max(size.height(), 300)

    def to_image(self, scale=2.0):
        width, height = self.export_size()
        image = QImage(int(width * scale), int(height * scale), QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.scale(scale, scale)
        self.paint(painter, width, height)
        painter.end()
        return image

    def write_svg(self, path):
        from PyQt6.QtSvg import QSvgGenerator

        width, height = self.export_size()
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(QSize(width, height))
        generator.setViewBox(QRectF(0, 0, width, height))
        generator.setTitle("microgpt-viz attention")
        painter = QPainter(generator)
        painter.fillRect(QRectF(0, 0, width, height), QColor("white"))
        self.paint(painter, width, height)
        painter.end()


def _short(x):
    """A cell's number in at most four characters and a sign (a cell is sized for "0.35")."""
    if not np.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 0.00995:  # 0.35, 12.3, 150
        for digits in (2, 1, 0):
            text = f"{x:.{digits}f}"
            if len(text.lstrip("-")) <= 4:
                return text
    elif abs(x) >= 0.001:
        return f"{x:.3f}".replace("0.", ".", 1)  # .003
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"  # 3e-4, 2e+05 -> 2e5


class AttentionPanel(QWidget):
    """The canvas plus the weights / logits / grads toggle."""

    cellClicked = pyqtSignal(int, int, int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.canvas = AttentionCanvas()
        self.buttons = QButtonGroup(self)
        row = QHBoxLayout()
        for mode in MODES:
            button = QPushButton(MODE_TITLES[mode])
            button.setCheckable(True)
            button.setChecked(mode == "weights")
            button.setProperty("mode", mode)
            self.buttons.addButton(button)
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        scroller.setWidget(self.canvas)
        layout.addWidget(scroller, 1)
        self.buttons.buttonClicked.connect(lambda b: self.canvas.set_mode(b.property("mode")))
        self.canvas.cellClicked.connect(self.cellClicked)

    def set_trace(self, trace):
        self.canvas.set_trace(trace)
        for button in self.buttons.buttons():  # nothing to switch between for a script's step
            button.setEnabled(self.canvas.available)

    def set_mode(self, mode):
        self.canvas.set_mode(mode)
        for button in self.buttons.buttons():
            button.setChecked(button.property("mode") == mode)

    def select_node(self, trace, node):
        """Outline the cell whose softmax output is `node` (if it is one)."""
        found = None if trace is None or node is None else attention_cell_of(trace, node)
        self.canvas.set_selected(None if found is None else Cell(found.layer, found.head, found.query, found.key))
