"""What the graph view draws: boxes for visible nodes, frames for open groups, edges.

Scene units are Graphviz points, so boxes sit exactly where core/layout.py (and therefore
the exported diagram) puts them. Text is skipped when it would be too small to read (level
of detail), and pens, brushes and fonts are shared between items.
"""
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from core.layout import FONT_SIZE, LINE_HEIGHT, PAD
from microgpt_viz.labels import number

MIN_READABLE_PX = 6.0  # text smaller than this on screen is not drawn
BORDER = QPen(QColor(90, 90, 90), 1.0)
BORDER.setCosmetic(True)
GROUP_BORDER = QPen(QColor(60, 60, 60), 1.6)
GROUP_BORDER.setCosmetic(True)
SELECTED_BORDER = QPen(QColor(255, 150, 0), 3.5)
SELECTED_BORDER.setCosmetic(True)
EDGE_PEN = QPen(QColor(110, 110, 110, 200), 1.0)
EDGE_PEN.setCosmetic(True)
EDGE_BRUSH = QBrush(QColor(110, 110, 110))
CLUSTER_PEN = QPen(QColor(150, 150, 170), 1.0)
CLUSTER_PEN.setCosmetic(True)
CLUSTER_FILLS = [QColor(244, 246, 251), QColor(234, 238, 247), QColor(224, 230, 243), QColor(214, 222, 239)]
TEXT = QColor(20, 20, 20)


def _font(pixels, bold=False):
    font = QFont()
    font.setPixelSize(pixels)
    font.setBold(bold)
    return font


LABEL_FONT = _font(int(FONT_SIZE), bold=True)
VALUE_FONT = _font(int(FONT_SIZE) - 1)
CLUSTER_FONT = _font(int(FONT_SIZE) + 1, bold=True)


def _readable(painter, option, pixels):
    """Whether text of `pixels` scene units comes out big enough on screen to read."""
    return option.levelOfDetailFromTransform(painter.worldTransform()) * pixels >= MIN_READABLE_PX


class NodeItem(QGraphicsItem):
    """One visible node: a group / vector (stacked look, expandable) or a value (op, data, grad)."""

    def __init__(self, node, box):
        super().__init__()
        self.node = node
        self.rect = QRectF(box.x - box.width / 2, box.y - box.height / 2, box.width, box.height)
        self.fill = QColor(255, 255, 255)
        self.text_colour = TEXT
        self.selected = False
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.setZValue(10)
        self.setToolTip(self._tooltip())

    @property
    def id(self):
        return self.node.id

    def update_node(self, node, fill, text_colour):
        self.node, self.fill, self.text_colour = node, fill, text_colour
        self.setToolTip(self._tooltip())
        self.update()

    def set_selected(self, selected):
        if selected != self.selected:
            self.selected = selected
            self.setZValue(11 if selected else 10)
            self.update()

    def boundingRect(self):
        return self.rect.adjusted(-4, -4, 6, 6)

    def paint(self, painter, option, widget=None):
        n = self.node
        rect = self.rect
        painter.setBrush(self.fill)
        if n.expandable and n.kind != "value":
            # a stacked card: it holds more inside (double-click to open)
            painter.setPen(BORDER)
            painter.drawRoundedRect(rect.translated(3, 3), 4, 4)
            painter.setPen(GROUP_BORDER)
        else:
            painter.setPen(BORDER)
        painter.drawRoundedRect(rect, 4, 4)
        if self.selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(SELECTED_BORDER)
            painter.drawRoundedRect(rect.adjusted(-2, -2, 2, 2), 5, 5)
        if not _readable(painter, option, FONT_SIZE):
            return
        painter.setPen(self.text_colour)
        lines = self.lines()
        top = rect.y() + PAD - 1
        for k, text in enumerate(lines):
            painter.setFont(LABEL_FONT if k == 0 else VALUE_FONT)
            line_rect = QRectF(rect.x() + 3, top + k * LINE_HEIGHT, rect.width() - 6, LINE_HEIGHT)
            painter.drawText(line_rect, Qt.AlignmentFlag.AlignCenter, text)

    def lines(self):
        """The text in the box: the label, then values or how much is inside."""
        n = self.node
        if n.kind == "value" and n.op != "sum":
            return [n.label, f"data {number(n.data, 4)}", f"grad {number(n.grad, 4)}"]
        if n.kind == "value":
            return [n.label, f"= {number(n.data, 4)}"]
        return [n.label, f"{n.count} values"]

    def _tooltip(self):
        n = self.node
        if n.kind == "value":
            head = f"{n.label}  ({n.scope})"
            body = f"data {number(n.data, 8)}\ngrad {number(n.grad, 8)}"
            tail = "\ndouble-click: open the sum" if n.expandable else ""
            return f"{head}\n{body}{tail}"
        return (f"{n.label}  ({n.id})\n{n.count} values, largest |grad| {number(n.max_abs_grad)}, "
                f"largest |data| {number(n.max_abs_data)}\ndouble-click: open")


class ClusterItem(QGraphicsItem):
    """The frame of an open group; its title sits in the space Graphviz reserved for the label."""

    def __init__(self, cluster, box, depth):
        super().__init__()
        self.cluster = cluster
        self.rect = QRectF(box.x - box.width / 2, box.y - box.height / 2, box.width, box.height)
        self.fill = CLUSTER_FILLS[depth % len(CLUSTER_FILLS)]
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(depth)
        self.setToolTip(f"{cluster.id} (open)\ndouble-click the title: close it")

    @property
    def id(self):
        return self.cluster.id

    def title_rect(self):
        return QRectF(self.rect.x(), self.rect.y(), self.rect.width(), LINE_HEIGHT + 4)

    def boundingRect(self):
        return self.rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter, option, widget=None):
        painter.setPen(CLUSTER_PEN)
        painter.setBrush(self.fill)
        painter.drawRoundedRect(self.rect, 6, 6)
        if _readable(painter, option, FONT_SIZE + 1):
            painter.setFont(CLUSTER_FONT)
            painter.setPen(QColor(60, 60, 90))
            painter.drawText(self.title_rect(), Qt.AlignmentFlag.AlignCenter, f"▾ {self.cluster.label}")


class EdgeItem(QGraphicsPathItem):
    """A Graphviz spline (cubic B-spline control points) with an arrow head at the consumer."""

    def __init__(self, source, target, points, tip, count):
        super().__init__()
        self.source, self.target = source, target
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for k in range(1, len(points) - 2, 3):
                path.cubicTo(QPointF(*points[k]), QPointF(*points[k + 1]), QPointF(*points[k + 2]))
        self.setPath(path)
        self.setPen(EDGE_PEN)
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.arrow = None
        if tip is not None and points:
            self.arrow = _arrow_head(points[-1], tip)
        if count > 1:
            self.setToolTip(f"{count} scalar edges")

    def paint(self, painter, option, widget=None):
        super().paint(painter, option, widget)
        if self.arrow is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(EDGE_BRUSH)
            painter.drawPolygon(self.arrow)

    def boundingRect(self):
        rect = super().boundingRect()
        return rect.united(self.arrow.boundingRect()) if self.arrow is not None else rect


def _arrow_head(base, tip, width=3.5):
    bx, by = base
    tx, ty = tip
    dx, dy = tx - bx, ty - by
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    nx, ny = -dy / length * width, dx / length * width
    return QPolygonF([QPointF(tx, ty), QPointF(bx + nx, by + ny), QPointF(bx - nx, by - ny)])
