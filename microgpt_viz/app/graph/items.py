"""What the graph view draws: boxes for visible nodes, frames for open groups, edges.

Scene units are Graphviz points, so boxes sit exactly where core/views/layout.py (and therefore
the exported diagram) puts them. Every item is built from Qt's own shape and text items,
none overrides paint(): a repaint never calls into Python, so it never has to win the GIL
from the training thread, and pans stay smooth while a run goes (an edge's shape() is Python's,
asked by hit tests only). Text is shown or hidden
as a whole when zooming crosses the readable size (GraphView.set_text_visible), and pens,
brushes and fonts are shared between items. An edge that stands for one scalar edge carries
its local gradient (d consumer / d input) as a small label at its middle, made the first time
the view is zoomed in far enough to read it. The lines and arrow heads of all edges are drawn by
one EdgeLayer whose pixels Qt keeps between repaints.
"""
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from core.views.layout import FONT_SIZE, LINE_HEIGHT, PAD
from core.views.rendered import box_text
from microgpt_viz.session.labels import number


def _pen(colour, width):
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    return pen


BORDER = _pen(QColor(90, 90, 90), 1.0)
GROUP_BORDER = _pen(QColor(60, 60, 60), 1.6)
SELECTED_BORDER = _pen(QColor(255, 150, 0), 3.5)
EDGE_PEN = _pen(QColor(110, 110, 110, 200), 1.0)
EDGE_BRUSH = QBrush(QColor(110, 110, 110))
CLUSTER_PEN = _pen(QColor(150, 150, 170), 1.0)
CLUSTER_FILLS = [QBrush(QColor(*c)) for c in ((244, 246, 251), (234, 238, 247), (224, 230, 243), (214, 222, 239))]
CLUSTER_TITLE = QBrush(QColor(60, 60, 90))
NO_PEN = QPen(Qt.PenStyle.NoPen)
EDGE_LABEL_BACKGROUND = QBrush(QColor(252, 252, 252, 215))  # the view's background, so a crossing line does not garble it
EDGE_LABEL_TEXT = QBrush(QColor(70, 70, 130))


def _font(pixels, bold=False):
    font = QFont("DejaVu Sans")  # made before the app sets its font: name a sans one outright
    font.setStyleHint(QFont.StyleHint.SansSerif)
    font.setPixelSize(pixels)
    font.setBold(bold)
    return font


LABEL_FONT = _font(int(FONT_SIZE), bold=True)
VALUE_FONT = _font(int(FONT_SIZE) - 1)
CLUSTER_FONT = _font(int(FONT_SIZE) + 1, bold=True)
EDGE_LABEL_PX = int(FONT_SIZE) - 2
EDGE_LABEL_FONT = _font(EDGE_LABEL_PX)


def _rounded(rect, radius):
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    return path


def _centred_text(parent, font, text, centre_x, top, width):
    item = QGraphicsSimpleTextItem(parent)
    item.setFont(font)
    _set_centred(item, text, centre_x, top, width)
    return item


def _set_centred(item, text, centre_x, top, width):
    item.setText(text)
    text_width = item.boundingRect().width()
    scale = min(1.0, (width - 4) / text_width) if text_width > 0 else 1.0  # squeeze rather than spill
    item.setScale(scale)
    item.setPos(centre_x - text_width * scale / 2, top + (LINE_HEIGHT - item.boundingRect().height() * scale) / 2)


class NodeItem(QGraphicsPathItem):
    """One visible node: a group / vector (a stacked card, expandable) or a value (op, data, grad)."""

    def __init__(self, node, box, dressed=True):
        super().__init__()
        self.rect = QRectF(box.x - box.width / 2, box.y - box.height / 2, box.width, box.height)
        self.setPath(_rounded(self.rect, 4))
        self.node = node
        self.selected = False
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._stack = None
        if node.expandable and node.kind != "value":
            self._stack = QGraphicsPathItem(_rounded(self.rect.translated(3, 3), 4), self)
            self._stack.setFlag(self.GraphicsItemFlag.ItemStacksBehindParent)
            self._stack.setPen(BORDER)
        self._base_pen = GROUP_BORDER if self._stack is not None else BORDER
        self.setPen(self._base_pen)
        self._halo = None
        self._colours = None  # (fill, text colour) as last set: a Step that keeps them marks nothing for repaint
        self._text_shown = True  # set_text_visible's last word
        self._words_stale = False  # numbers came while the text was hidden
        self._waiting = None  # (fill, text colour) of a node taken by defer() and not drawn yet
        self._text_colour = QColor(Qt.GlobalColor.black)
        self.texts = []  # one text item per line, made by dress()
        if dressed:
            self.dress()

    @property
    def dressed(self):
        """Whether the box has its words (a big picture's boxes get them when first in sight)."""
        return bool(self.texts)

    def dress(self):
        """Make the box's text items (label, data, grad), in its text colour, shown as set_text_visible said."""
        if self.texts:
            return
        brush = QBrush(self._text_colour) if self._colours is not None else None  # else Qt's default
        for k, text in enumerate(self.lines()):
            top = self.rect.y() + PAD - 1 + k * LINE_HEIGHT
            item = _centred_text(self, LABEL_FONT if k == 0 else VALUE_FONT, text, self.rect.center().x(), top, self.rect.width())
            if brush is not None:
                item.setBrush(brush)
            item.setVisible(self._text_shown)
            self.texts.append(item)
        self._words_stale = False

    @property
    def id(self):
        return self.node.id

    def update_node(self, node, fill, text_colour):
        """New numbers (the next step) and colours; the box stays where it is. While its text is
        hidden (zoomed out) the new words wait until it is shown again."""
        self.node = node
        self._waiting = None
        colours = (fill.rgba(), text_colour.rgba())
        recolour = colours != self._colours
        self._colours = colours
        if recolour:
            brush = QBrush(fill)
            self.setBrush(brush)
            if self._stack is not None:
                self._stack.setBrush(brush)
            self._text_colour = QColor(text_colour)
            text_brush = QBrush(text_colour)
            for item in self.texts:
                item.setBrush(text_brush)
        self._words_stale = not self._text_shown
        if self._text_shown:
            self._set_words()

    def defer(self, node, fill, text_colour):
        """Take the next step's node now (a click or a tooltip reads it) and draw it only when the
        box comes into view (catch_up): most boxes of a big picture are off screen, and putting
        new numbers in every one of them was most of what a Step cost the window."""
        self.node = node
        self._waiting = (fill, text_colour)

    def catch_up(self):
        """Draw what defer() kept back, if anything."""
        if self._waiting is not None:
            self.update_node(self.node, *self._waiting)

    @property
    def colours(self):
        """(fill, text colour) this box shows when in sight: those of a deferred Step if one waits."""
        if self._waiting is not None:
            return self._waiting
        return self.brush().color(), QColor(self._text_colour)

    def _set_words(self):
        for k, (item, text) in enumerate(zip(self.texts, self.lines())):
            if k and item.text() != text:
                top = self.rect.y() + PAD - 1 + k * LINE_HEIGHT
                _set_centred(item, text, self.rect.center().x(), top, self.rect.width())

    def set_selected(self, selected):
        if selected == self.selected:
            return
        self.selected = selected
        self.setZValue(11 if selected else 10)
        if selected and self._halo is None:
            self._halo = QGraphicsPathItem(_rounded(self.rect.adjusted(-2, -2, 2, 2), 5), self)
            self._halo.setPen(SELECTED_BORDER)
        if self._halo is not None:
            self._halo.setVisible(selected)

    def set_text_visible(self, visible):
        self._text_shown = visible
        if visible and self._words_stale:
            self._words_stale = False
            self._set_words()
        for item in self.texts:
            item.setVisible(visible)

    def lines(self):
        """The text in the box: the label, then values or how much is inside."""
        n = self.node
        if n.kind == "value" and n.op != "sum":
            return [n.label, f"data {number(n.data, 4)}", f"grad {number(n.grad, 4)}"]
        if n.kind == "value":
            return [n.label, f"= {number(n.data, 4)}"]
        return box_text(n)

    def tooltip(self):
        """What hovering shows (GraphView asks when the pointer rests: made for every box, every
        Step, it cost as much as the rest of the update)."""
        n = self.node
        if n.kind == "value":
            head = f"{n.label}  ({n.scope})"
            body = f"data {number(n.data, 8)}\ngrad {number(n.grad, 8)}"
            tail = "\ndouble-click: open the sum" if n.expandable else ""
            return f"{head}\n{body}{tail}"
        return (f"{' · '.join(box_text(n))}  ({n.id})\n{n.count} scalar values, largest |grad| {number(n.max_abs_grad)}, "
                f"largest |data| {number(n.max_abs_data)}\ndouble-click: open")


class ClusterItem(QGraphicsPathItem):
    """The frame of an open group; its title sits in the space Graphviz reserved for the label."""

    def __init__(self, cluster, box, depth):
        super().__init__()
        self.rect = QRectF(box.x - box.width / 2, box.y - box.height / 2, box.width, box.height)
        self.setPath(_rounded(self.rect, 6))
        self.cluster = cluster
        self.setPen(CLUSTER_PEN)
        self.setBrush(CLUSTER_FILLS[depth % len(CLUSTER_FILLS)])
        self.setZValue(depth)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.rename(cluster)
        title = self.title_rect()
        self.title = _centred_text(self, CLUSTER_FONT, f"▾ {cluster.label}", title.center().x(), title.y() + 2, title.width())
        self.title.setBrush(CLUSTER_TITLE)
        self.texts = [self.title]

    @property
    def id(self):
        return self.cluster.id

    def rename(self, cluster):
        """The same frame for `cluster`, an open sum named by another step's node id."""
        self.cluster = cluster
        self.setToolTip(f"{cluster.id} (open)\ndouble-click the title: close it")

    def title_rect(self):
        return QRectF(self.rect.x(), self.rect.y(), self.rect.width(), LINE_HEIGHT + 4)

    def set_text_visible(self, visible):
        self.title.setVisible(visible)


class EdgeItem(QGraphicsPathItem):
    """A Graphviz spline (cubic B-spline control points) with an arrow head at the consumer,
    and, for a single scalar edge, its local gradient as a label (shown when zoomed in).

    The line itself is drawn by the picture's EdgeLayer (this item paints nothing): the item is
    what hovering finds (its tooltip) and what carries the label."""

    def __init__(self, source, target, points, tip, count, local_grad=None):
        path = QPainterPath()
        if points:
            path.moveTo(*points[0])
            for k in range(1, len(points) - 2, 3):
                path.cubicTo(QPointF(*points[k]), QPointF(*points[k + 1]), QPointF(*points[k + 2]))
        super().__init__(path)
        self.source, self.target = source, target
        self.count = count
        self.local_grad = local_grad
        self.label = None  # the local-gradient label, made when first shown
        self._hidden_area = None  # rect -> area of box / title text a label there would cover (placement)
        self._shape = None
        self.setPen(NO_PEN)
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.head = _arrow_head(points[-1], tip) if tip is not None and points else None
        self.middle = path.pointAtPercent(0.5) if points else QPointF()  # where its label goes, or near it

    def shape(self):
        """The line one point wide, as hovering hits it (asked only by hit tests, never by a paint)."""
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(EDGE_PEN.widthF())
            self._shape = stroker.createStroke(self.path())
        return self._shape

    def tooltip(self):
        if self.count > 1:
            return f"{self.count} scalar edges"
        if self.local_grad is not None:
            return f"local gradient d {self.target} / d {self.source} = {number(self.local_grad, 8)}"
        return ""

    def label_text(self):
        return number(self.local_grad, 3) if self.local_grad is not None else ""

    def set_local_grad(self, local_grad):
        """The next step's number on the same edge."""
        if local_grad == self.local_grad:
            return
        self.local_grad = local_grad
        if self.label is not None:
            self._place_label()

    def set_label_visible(self, visible, hidden_area=None):
        """Show or hide the local-gradient label; hidden_area(rect) says how much text a spot would cover."""
        if visible and self.label is None and self.local_grad is not None:
            self.label = QGraphicsRectItem(self)
            self.label.setPen(NO_PEN)
            self.label.setBrush(EDGE_LABEL_BACKGROUND)
            self.label.setZValue(1)
            text = QGraphicsSimpleTextItem(self.label)
            text.setFont(EDGE_LABEL_FONT)
            text.setBrush(EDGE_LABEL_TEXT)
            self._hidden_area = hidden_area
            self._place_label()
        if self.label is not None:
            self.label.setVisible(visible and self.local_grad is not None)

    def _place_label(self):
        """Beside the line (its shaft stays visible), at the first spot along it, right or left,
        that hides no box and no frame title; failing that, where it hides the least."""
        text = self.label.childItems()[0]
        text.setText(self.label_text())
        size = text.boundingRect().size()
        hidden_area = self._hidden_area or (lambda rect: 0.0)
        best, best_hidden = None, None
        for along in LABEL_SPOTS:
            point = self.path().pointAtPercent(along)
            for left in (point.x() + 3, point.x() - 3 - size.width()):
                rect = QRectF(QPointF(left, point.y() - size.height() / 2), size).adjusted(-1, 0, 1, 0)
                hidden = hidden_area(rect)
                if best is None or hidden < best_hidden:
                    best, best_hidden = rect, hidden
                if hidden == 0:
                    break
            if best_hidden == 0:
                break
        self.label.setRect(best)
        text.setPos(best.topLeft() + QPointF(1, 0))


class EdgeLayer(QGraphicsPathItem):
    """Every edge's line (and, in a child, every arrow head) of one picture, as items whose pixels
    Qt keeps (DeviceCoordinateCache) until the zoom changes. A Step changes the numbers in the
    boxes, never the edges, so a repaint copies them instead of stroking every antialiased spline
    again: at module level with a few groups open (1,300 edges) they were 18 of a full repaint's
    21 ms, and 50-140 ms on a loaded machine."""

    def __init__(self):
        super().__init__()
        self.setPen(EDGE_PEN)
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._heads = QGraphicsPathItem(self)
        self._heads.setPen(NO_PEN)
        self._heads.setBrush(EDGE_BRUSH)
        self._heads.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._lines = QPainterPath()  # gathered by add(), drawn from draw_added()
        self._head_shapes = QPainterPath()
        self._head_shapes.setFillRule(Qt.FillRule.WindingFill)  # heads meeting at one box overlap: no holes where they do

    def add(self, item):
        """Take an EdgeItem's line and head (it paints nothing itself); drawn from draw_added() on.
        A picture's edges are added as they are made, a slice per turn: gathering 2,300 at once
        took 7 ms of the 20-30 ms turn that shows the picture."""
        self._lines.addPath(item.path())
        if item.head is not None:
            self._head_shapes.addPolygon(item.head)
            self._head_shapes.closeSubpath()

    def draw_added(self):
        self.setPath(self._lines)
        self._heads.setPath(self._head_shapes)


LABEL_SPOTS = (0.5, 0.35, 0.65, 0.2, 0.8)  # where along an edge its label may go, by preference


class TextObstacles:
    """Where the text of boxes and frame titles is, bucketed on a grid so a label finds its neighbours fast."""

    CELL = 120.0  # points

    def __init__(self):
        self._cells = {}  # (column, row) -> text rectangles meeting that cell

    def add_box(self, node_item):
        self._add(node_item.rect)

    def add_title(self, cluster_item):
        self._add(cluster_item.title.sceneBoundingRect())

    def _keys(self, rect):
        c = self.CELL
        for i in range(int(rect.left() // c), int(rect.right() // c) + 1):
            for j in range(int(rect.top() // c), int(rect.bottom() // c) + 1):
                yield i, j

    def _add(self, rect):
        for key in self._keys(rect):
            self._cells.setdefault(key, []).append(rect)

    def hidden_area(self, rect):
        """Total area of text rectangles a label at `rect` would cover."""
        seen, total = set(), 0.0
        for key in self._keys(rect):
            for other in self._cells.get(key, ()):
                if id(other) in seen:
                    continue
                seen.add(id(other))
                overlap = other.intersected(rect)
                total += overlap.width() * overlap.height()
        return total


def _arrow_head(base, tip, width=3.5):
    bx, by = base
    tx, ty = tip
    dx, dy = tx - bx, ty - by
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    nx, ny = -dy / length * width, dx / length * width
    return QPolygonF([QPointF(tx, ty), QPointF(bx + nx, by + ny), QPointF(bx - nx, by - ny)])
