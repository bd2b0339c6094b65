"""The overview: every node of the step as a dot on core/views/layout.py's fast layered layout.

Left to right is depth (inputs to loss); within a column the dots are sorted by position,
then scope. Colour is |grad| (dim purple to pale yellow, grey for exactly zero), so the
places where gradient flows stand out. Click a dot to open that node in the graph view.

Fast on a million dots: they are not drawn one by one (QPainter.drawPoints takes about a
second for a million) but rasterised with numpy into an image of the painted area: each
pixel takes the strongest colour bin among the dots on it, then every dot grows to a
DOT_PX square. A paint of a million dots takes a few tens of milliseconds.
pyqtgraph's ScatterPlotItem keeps per-point records and takes ~0.3 s just to take 70k
new points, which would freeze the window after every training step.
"""
import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, pyqtSignal
from PyQt6.QtGui import QImage

from core.views.colour_scale import ramp
from microgpt_viz.session.overview_positions import BINS, dots, positions

DOT_PX = 3
PICK_PX = 8  # a click this close to a dot picks it
BACKGROUND = (28, 28, 36)
ZERO_COLOUR = (85, 85, 100)  # exactly zero grad: nothing flows through here
# dim purple -> orange -> pale yellow: bright means large |grad|
FLOW_STOPS = np.array([[70, 30, 110], [190, 55, 90], [245, 130, 40], [252, 240, 150]], dtype=float)
SELECTED_COLOUR = (0, 200, 255)


def _argb(rgb):
    r, g, b = (int(c) for c in rgb)
    return (0xFF << 24) | (r << 16) | (g << 8) | b


BIN_COLOURS = [ZERO_COLOUR] + [ramp(FLOW_STOPS, k / (BINS - 1)) for k in range(BINS)]
# pixel value 0 is no dot (transparent); 1 + bin is that bin's colour
PIXEL_COLOURS = np.array([0] + [_argb(c) for c in BIN_COLOURS], dtype=np.uint32)


def rasterise(px, py, bins, width, height):
    """A height x width array of PIXEL_COLOURS indices: the strongest bin of the dots on each pixel,
    every dot a DOT_PX square centred on (px, py) (integer pixel coordinates; outside ones are dropped).
    Dots already in ascending bin order are written as they come, stronger ones last."""
    reach = DOT_PX // 2
    inside = (px >= -reach) & (px < width + reach) & (py >= -reach) & (py < height + reach)
    px, py, bins = px[inside] + reach, py[inside] + reach, bins[inside]
    padded = np.zeros((height + 2 * reach, width + 2 * reach), dtype=np.uint8)
    if (bins[1:] < bins[:-1]).any():
        order = np.argsort(bins, kind="stable")
        px, py, bins = px[order], py[order], bins[order]
    padded[py, px] = bins + 1  # a pixel written twice keeps the last, strongest, bin
    image = np.zeros((height, width), dtype=np.uint8)
    for dy in range(DOT_PX):
        for dx in range(DOT_PX):
            np.maximum(image, padded[dy : dy + height, dx : dx + width], out=image)
    return image


class DotCloud(pg.GraphicsObject):
    """Many same-size dots in a few colours (stronger gradients on top), rasterised per paint."""

    def __init__(self):
        super().__init__()
        self.x = self.y = self.bins = np.zeros(0)  # in ascending bin order, as rasterise wants them
        self.bounds = QRectF()
        # (where the dots fall on the device, the image of the whole viewport, its pixels): a paint
        # that only the selection ring asked for copies from it instead of placing a million dots again
        self._raster = None

    def set_dots(self, found):
        """Show overview_positions.Dots (already in bin order)."""
        self.x, self.y, self.bins = found.x, found.y, found.bins
        self._raster = None
        self.prepareGeometryChange()
        if len(found.x):
            self.bounds = QRectF(*found.bounds)
        self.update()

    def boundingRect(self):
        return self.bounds

    def paint(self, painter, option, widget=None):
        if not len(self.x):
            return
        to_device = painter.transform()  # pyqtgraph's views scale and translate, never rotate
        viewport = painter.viewport()
        area = to_device.mapRect(option.exposedRect).toAlignedRect().adjusted(-DOT_PX, -DOT_PX, DOT_PX, DOT_PX)
        area = area.intersected(viewport)
        if area.isEmpty():
            return
        key = (to_device.m11(), to_device.m22(), to_device.dx(), to_device.dy(), viewport.getRect())
        if self._raster is None or self._raster[0] != key:
            px = np.floor(self.x * to_device.m11() + to_device.dx()).astype(np.int64) - viewport.left()
            py = np.floor(self.y * to_device.m22() + to_device.dy()).astype(np.int64) - viewport.top()
            argb = PIXEL_COLOURS[rasterise(px, py, self.bins, viewport.width(), viewport.height())]
            image = QImage(argb.data, viewport.width(), viewport.height(), viewport.width() * 4, QImage.Format.Format_ARGB32)
            self._raster = (key, image, argb)  # the image reads argb's memory: kept alive beside it
        image = self._raster[1]
        painter.save()
        painter.resetTransform()
        painter.drawImage(area, image, area.translated(-viewport.left(), -viewport.top()))
        painter.restore()


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
        self.cloud.set_dots(dots(trace))
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
