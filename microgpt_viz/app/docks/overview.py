"""The overview: every node of the step as a dot on core/views/layout.py's fast layered layout.

Left to right is depth (inputs to loss); within a column the dots are sorted by position,
then scope. Colour is |grad| (dim purple to pale yellow, grey for exactly zero), so the
places where gradient flows stand out. Click a dot to open that node in the graph view.

Fast on 140k dots: the dots are split into a dozen colour bins; each bin is one QPolygonF
filled straight from numpy and drawn with one shared pen in a single drawPoints call.
pyqtgraph's ScatterPlotItem keeps per-point records and takes ~0.3 s just to take 70k
new points, which would freeze the window after every training step.
"""
import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as pgf
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPen

from core.views.colour_scale import log_position, ramp
from microgpt_viz.session.overview_positions import positions

BINS = 12  # colour bins for non-zero gradients, plus one for exact zeros
DECADES = 5
DOT_PX = 3
PICK_PX = 8  # a click this close to a dot picks it
BACKGROUND = (28, 28, 36)
ZERO_COLOUR = (85, 85, 100)  # exactly zero grad: nothing flows through here
# dim purple -> orange -> pale yellow: bright means large |grad|
FLOW_STOPS = np.array([[70, 30, 110], [190, 55, 90], [245, 130, 40], [252, 240, 150]], dtype=float)
SELECTED_COLOUR = (0, 200, 255)


def bin_of(grad):
    """0 for an exactly zero grad, else 1..BINS by log |grad| below a robust top (99.5th percentile)."""
    magnitude = np.abs(np.nan_to_num(np.asarray(grad, dtype=float), nan=np.inf))
    nonzero = magnitude[(magnitude > 0) & np.isfinite(magnitude)]
    top = float(np.percentile(nonzero, 99.5)) if nonzero.size else 1.0
    magnitude = np.where(np.isfinite(magnitude), magnitude, top)
    t = log_position(magnitude, top, DECADES)
    which = 1 + np.minimum((t * BINS).astype(int), BINS - 1)
    return np.where(magnitude > 0, which, 0)


def _pen(rgb):
    pen = QPen(QColor(*[int(c) for c in rgb]))
    pen.setWidthF(DOT_PX)
    pen.setCosmetic(True)  # DOT_PX on screen whatever the zoom
    pen.setCapStyle(Qt.PenCapStyle.SquareCap)
    return pen


BIN_PENS = [_pen(ZERO_COLOUR)] + [_pen(ramp(FLOW_STOPS, k / (BINS - 1))) for k in range(BINS)]


class DotCloud(pg.GraphicsObject):
    """Many same-size dots in a few colours, drawn bin by bin (stronger gradients on top)."""

    def __init__(self):
        super().__init__()
        # A million dots take about a second to draw; without a cache every repaint of the dock
        # (the selection ring moving, a dock resized beside it) would draw them all again.
        self.setCacheMode(self.CacheMode.DeviceCoordinateCache)
        self.polygons = []  # one QPolygonF per bin
        self.bounds = QRectF()

    def set_points(self, x, y, bins):
        order = np.argsort(bins, kind="stable")
        edges = np.searchsorted(bins[order], np.arange(len(BIN_PENS) + 1))
        self.polygons = []
        for k in range(len(BIN_PENS)):
            members = order[edges[k] : edges[k + 1]]
            polygon = pgf.create_qpolygonf(len(members))
            if len(members):
                buffer = pgf.ndarray_from_qpolygonf(polygon)
                buffer[:, 0] = x[members]
                buffer[:, 1] = y[members]
            self.polygons.append(polygon)
        self.prepareGeometryChange()
        if len(x):
            self.bounds = QRectF(float(x.min()), float(y.min()), float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0)
        self.update()

    def boundingRect(self):
        return self.bounds

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(painter.RenderHint.Antialiasing, False)
        for pen, polygon in zip(BIN_PENS, self.polygons):
            if len(polygon):
                painter.setPen(pen)
                painter.drawPoints(polygon)


class Overview(pg.PlotWidget):
    nodeClicked = pyqtSignal(int)

    def __init__(self, parent=None):
        super().__init__(parent, background=BACKGROUND)
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMenuEnabled(False)
        item.hideButtons()
        self.setMinimumHeight(120)
        self.view_box = item.getViewBox()
        self.trace = None
        self.x = self.y = None
        self.cloud = DotCloud()
        item.addItem(self.cloud)
        self._marker = pg.ScatterPlotItem(pen=pg.mkPen(SELECTED_COLOUR, width=2), brush=None, size=14, symbol="o", pxMode=True)
        self._marker.setZValue(10)
        item.addItem(self._marker)
        self.scene().sigMouseClicked.connect(self._clicked)
        self._layout_key = None

    def set_trace(self, trace):
        """Place and colour every node of the step; the layout is reused while the shape stays."""
        self.trace = trace
        key = (trace.num_nodes, len(trace.tokens), trace.config)  # a name of the same length: the same graph
        first = key != self._layout_key
        if first:
            self.x, self.y = positions(trace)
            self._layout_key = key
        self.cloud.set_points(self.x, self.y, bin_of(trace.grad))
        if first:
            self.view_box.autoRange(padding=0.02)

    def mark(self, node):
        """Ring the selected node (None: no ring)."""
        if node is None or self.x is None or node >= len(self.x):
            self._marker.setData([], [])
            return
        self._marker.setData([self.x[node]], [self.y[node]])

    def nearest(self, scene_point):
        """Id of the dot nearest to a scene point, within PICK_PX pixels, else None."""
        if self.x is None:
            return None
        where = self.view_box.mapSceneToView(scene_point)
        pixel_w, pixel_h = self.view_box.viewPixelSize()
        dx = (self.x - where.x()) / pixel_w
        dy = (self.y - where.y()) / pixel_h
        distance = dx * dx + dy * dy
        best = int(np.argmin(distance))
        return best if distance[best] <= PICK_PX * PICK_PX else None

    def scene_point_of(self, node):
        """Scene coordinates of a node's dot (tests click there)."""
        return self.view_box.mapViewToScene(pg.Point(float(self.x[node]), float(self.y[node])))

    def _clicked(self, event):
        node = self.nearest(event.scenePos())
        if node is not None:
            self.nodeClicked.emit(node)
