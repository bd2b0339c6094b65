"""The central graph view: a rendered core View drawn at core/views/layout.py's Graphviz positions.

Drag to pan, wheel to zoom (text disappears when too small to read), click a box to select
it, double-click a closed box to open it and the title of an open frame to close it. A
step on a name of the same length has the same shape, so it updates the boxes in place.

A new layout's items are made into a scene of their own a slice at a time, between event-loop
turns (a few thousand boxes take a few hundred milliseconds to make); the picture shown so far
stays, and answers pans and zooms, until the new one replaces it whole.
"""
import time

from PyQt6 import sip
from PyQt6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QPainter, QPixmapCache
from PyQt6.QtWidgets import QGraphicsScene, QGraphicsView, QToolTip

from core.views.layout import FONT_SIZE
from microgpt_viz.app.graph.items import EDGE_LABEL_PX, ClusterItem, EdgeItem, EdgeLayer, NodeItem, TextObstacles
from microgpt_viz.app.graph.sight_index import SightIndex

MIN_READABLE_PX = 6.0  # text smaller than this on screen is hidden
MIN_EDGE_LABEL_PX = 7.5  # edge labels need a little more (small digits between lines)
MAX_FIT_ZOOM = 1.6
MIN_FIT_ZOOM = 0.8  # below this the text is too small to read: frame the home box instead
CLICK_SLOP = 4  # pixels a press may move and still count as a click
BUILD_SLICE_S = 0.012  # the longest the view spends making items in one event-loop turn
# Deleting a replaced picture's items waits for nothing, so it takes small bites with gaps
# between them: a first paint of the new picture or the user's next click never queues behind it.
DELETE_SLICE_S = 0.005
DELETE_GAP_MS = 20
SIGHT_MARGIN_PX = 200  # boxes this close to the window's edge get a Step's numbers at once, as if on screen
# In a picture of more boxes than this, a box gets its words (three text items, most of what a box
# costs to make) and an edge its label when they first come into sight: a Step on a name of another
# length makes a picture of 3,000-4,000 boxes afresh, of which a few dozen are on screen.
WORDS_IN_SIGHT_ONLY = 1000
EDGES_DRAWN_LATER = 1000  # a new picture with more edges than this shows them one turn after its boxes
# Qt keeps the edges' pixels (EdgeLayer) in its pixmap cache, 10 MB by default: less than one
# full-screen viewport on a large or high-DPI screen, and a pixmap that does not fit is redrawn on every paint
PIXMAP_CACHE_KB = 64 * 1024


def _in_sight_only(boxes):
    """Whether a picture of this many boxes makes words and labels only as they come into sight."""
    return boxes > WORDS_IN_SIGHT_ONLY


def _scene(parent=None):
    """A scene without Qt's BSP index: every Step moves the text of every box (new numbers,
    re-centred), and keeping the index up to date cost more than the linear search of a few
    thousand items that painting and hit-testing do instead."""
    scene = QGraphicsScene(parent)
    scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
    return scene


def _run_for(work, budget_s):
    """Step the generator `work` for up to budget_s; True once it is exhausted."""
    deadline = time.perf_counter() + budget_s
    for _ in work:
        if time.perf_counter() >= deadline:
            return False
    return True


class _Build:
    """A new picture's items being made into their own scene, a slice per event-loop turn."""

    def __init__(self, view, rendered, layout, fills, selected, anchor, fit, home, on_shown, text_visible, edge_labels_visible):
        self.text_visible = text_visible  # as the view's was when making began
        self.edge_labels_visible = edge_labels_visible  # likewise: the labels are made with the items if so
        self.in_sight_only = _in_sight_only(len(rendered.nodes))  # words and labels wait for the camera
        self.rendered, self.layout, self.fills, self.selected = rendered, layout, fills, selected
        self.anchor, self.fit, self.home, self.on_shown = anchor, fit, home, on_shown
        self.ids = {n.id for n in rendered.nodes}
        self.known = self.ids | {c.id for c in rendered.clusters}  # what a click on the old picture may still name
        self.scene = _scene(view)  # the view owns it: deleted when the view is done with it, not when Python lets go
        self.nodes, self.clusters, self.edges = {}, {}, {}
        self.words_waiting = SightIndex()  # boxes made without their words (a big picture's), by where they are
        # where the text is that labels should not hide, gathered as items are made (at once: a third of
        # the turn that showed a big picture and placed its first labels)
        self.obstacles = TextObstacles()
        self.edge_layer = EdgeLayer()  # first in the scene: the edges' labels stack above their lines
        self.scene.addItem(self.edge_layer)
        self.stale = False  # newer numbers or colours came while items were being made
        self._work = self._make_items()

    def advance(self, budget_s):
        """Make items for up to budget_s; True once every item is made."""
        return _run_for(self._work, budget_s)

    def _make_items(self):
        # reads self.rendered / self.fills as made; a refresh midway marks the build stale instead
        rendered, layout, fills, scene = self.rendered, self.layout, self.fills, self.scene
        depth = {}
        for c in rendered.clusters:
            depth[c.id] = 0 if c.parent is None else depth.get(c.parent, 0) + 1
            box = layout.clusters.get(c.id)
            if box is not None:
                item = ClusterItem(c, box, depth[c.id])
                item.set_text_visible(self.text_visible)
                scene.addItem(item)
                self.clusters[c.id] = item
                self.obstacles.add_title(item)
                yield
        for n in rendered.nodes:
            item = NodeItem(n, layout.nodes[n.id], dressed=not self.in_sight_only)
            fill, text = fills[n.id]
            item.update_node(n, fill, text)
            item.set_text_visible(self.text_visible)
            scene.addItem(item)
            self.nodes[n.id] = item
            self.obstacles.add_box(item)
            if not item.dressed:
                self.words_waiting.add(n.id, item)
            yield
        edges = {(e.source, e.target): e for e in rendered.edges}
        for source, target, points, tip in layout.edges:
            e = edges.get((source, target))
            item = EdgeItem(source, target, points, tip, e.count if e else 1, e.local_grad if e else None)
            scene.addItem(item)
            self.edges[(source, target)] = item
            self.edge_layer.add(item)
            yield
        self.edge_layer.draw_added()
        margin = 40
        scene.setSceneRect(QRectF(-margin, -margin, layout.width + 2 * margin, layout.height + 2 * margin))
        if self.edge_labels_visible and not self.in_sight_only:  # zoomed in: placing every label when shown held the loop 100-200 ms
            for item in self.edges.values():
                item.set_label_visible(True, self.obstacles.hidden_area)
                yield
        while self.stale:  # newer numbers or colours came meanwhile: every item catches up before it is shown
            self.stale = False
            for n in self.rendered.nodes:
                item = self.nodes.get(n.id)
                if item is not None:
                    item.update_node(n, *self.fills[n.id])
                    yield
            for e in self.rendered.edges:
                item = self.edges.get((e.source, e.target))
                if item is not None:
                    item.set_local_grad(e.local_grad)
                    yield


class GraphView(QGraphicsView):
    nodeClicked = pyqtSignal(str)  # visible id
    nodeDoubleClicked = pyqtSignal(str)  # visible id of a closed, expandable box
    clusterDoubleClicked = pyqtSignal(str)  # id of an open group (its title was double-clicked)
    backgroundClicked = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), PIXMAP_CACHE_KB))
        self.setScene(_scene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(252, 252, 252))
        self.layout = None
        self.nodes = {}  # visible id -> NodeItem
        self.clusters = {}  # cluster id -> ClusterItem
        self.edges = {}  # (source id, target id) -> EdgeItem
        self.edge_layer = None  # draws every edge's line and head (EdgeLayer)
        self.selected = None
        self.home = None  # id of the box the picture starts from when the whole graph is too big
        self._press = None
        self._text_visible = True
        self._edge_labels_visible = False
        self._build = None  # a new picture being made (_Build), shown when done
        self._update = None  # (generator putting the next step's numbers in the boxes shown, on_shown)
        self._discarded = []  # pictures replaced: their items are deleted a slice at a time
        # waiting to come into view: boxes with a Step's numbers to draw, boxes without their words (a big picture's)
        self._numbers_waiting = SightIndex()  # visible id -> NodeItem
        self._words_waiting = SightIndex()  # visible id -> NodeItem
        self._labels_wanted = False  # a big picture zoomed in: edges make their labels as they come into sight
        self._obstacles = None  # TextObstacles of the picture shown: its build's, gathered as it made the items
        self._sight = None  # the scene rect within SIGHT_MARGIN_PX of the window, until the camera moves
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.timeout.connect(self._continue_build)

    # ---- content ----------------------------------------------------------------------
    def show_graph(self, rendered, layout, fills, selected=None, anchor=None, fit=False, home=None, on_shown=None):
        """Draw `rendered` at `layout`. Same layout as before: recolour in place, keep the camera.

        anchor: an id whose place on screen should stay put (the group just opened or closed).
        fit: frame the whole graph (a new token, say).
        on_shown(): called once the picture is on screen (at once, or after the last slice of
        a big new picture's items).
        """
        ids = {n.id for n in rendered.nodes}
        build = self._build
        if build is not None and layout is build.layout and ids == build.ids:
            # the picture on its way gets the newer numbers; the items made so far catch up when it is done
            build.rendered, build.fills, build.selected, build.stale = rendered, fills, selected, True
            build.anchor, build.fit = build.anchor or anchor, build.fit or fit
            build.home, build.on_shown = home, on_shown or build.on_shown
            return
        self._cancel_build()
        old = self.layout
        if old is not None and layout is not old and layout.general is not None and layout.general is old.general:
            self._rename(rendered, layout)  # the same picture, its scalars under the next step's node ids
        if layout is self.layout and set(self.nodes) == ids:
            # the next step's numbers, a slice per turn like a new picture (a few thousand boxes: ~0.1 s)
            self._update = (self._update_in_place(rendered, fills), on_shown)
            self.set_selected(selected)
        else:
            self._build = _Build(self, rendered, layout, fills, selected, anchor, fit, home, on_shown, self._text_visible,
                                 self._edge_labels_visible)
        self._build_timer.start(0)  # not in the caller's turn: a Step's other work (docks, session) has had it

    def _rename(self, rendered, layout):
        """Take `layout`, the picture shown under other scalar names (core.views.layout.layout_view):
        the items stay where they are and answer to their new names, so the Step updates them in
        place instead of making a few thousand items again."""
        to_new = {general_name: name for name, general_name in layout.names.items()}
        old_names = self.layout.names

        def renamed(name):
            return to_new.get(old_names.get(name, name), name)

        clusters = {c.id: c for c in rendered.clusters}
        self.nodes = {renamed(k): item for k, item in self.nodes.items()}
        self.clusters = {renamed(k): item for k, item in self.clusters.items()}
        for name, item in self.clusters.items():
            if name in clusters:
                item.rename(clusters[name])
        edges = {}
        for (source, target), item in self.edges.items():
            item.source, item.target = renamed(source), renamed(target)
            edges[(item.source, item.target)] = item
        self.edges = edges
        self._numbers_waiting = self._numbers_waiting.renamed(renamed)
        self._words_waiting = self._words_waiting.renamed(renamed)
        self.selected = renamed(self.selected) if self.selected is not None else None
        self.home = renamed(self.home) if self.home is not None else None
        self.layout = layout

    @property
    def newest_layout(self):
        """The layout of the picture shown, or of the one on its way."""
        return self._build.layout if self._build is not None else self.layout

    @property
    def building(self):
        """A new picture, or new numbers for the one shown, are still on their way."""
        return self._build is not None or self._update is not None

    def _continue_build(self):
        if self._discarded and (self._update is not None or self._build is not None):
            # a bite of the old pictures in every turn: when new pictures come Step after Step,
            # waiting for a turn with nothing else to do let thousands of dead items pile up
            _run_for(self._delete_discarded(), DELETE_SLICE_S)
        if self._update is not None:
            work, on_shown = self._update
            if not _run_for(work, BUILD_SLICE_S):
                self._build_timer.start(0)
                return
            self._update = None
            if on_shown is not None:
                on_shown()
        elif self._build is not None:
            build = self._build
            if not build.advance(BUILD_SLICE_S):
                self._build_timer.start(0)  # the rest after the events waiting now (clicks, paints)
                return
            self._build = None
            self._show_built(build)
        elif self._discarded:
            if not _run_for(self._delete_discarded(), DELETE_SLICE_S):
                self._build_timer.start(DELETE_GAP_MS)
            return
        if self._build is not None and not self._build_timer.isActive():
            self._build_timer.start(0)  # a recolour came while a picture was being made: it goes on now
        elif self._discarded and not self._build_timer.isActive():
            self._build_timer.start(DELETE_GAP_MS)

    def _discard(self, scene, nodes, clusters, edges, edge_layer):
        """Put a replaced picture away: deleting a few thousand items at once held the event loop ~50 ms."""
        layer = [edge_layer] if edge_layer is not None else []
        self._discarded.append((scene, [*layer, *nodes.values(), *clusters.values(), *edges.values()]))

    def _delete_discarded(self):
        """A generator: delete the replaced pictures' items one per step, then their scenes."""
        while self._discarded:
            scene, items = self._discarded[0]
            while items:
                sip.delete(items.pop())
                yield
            self._discarded.pop(0)
            scene.deleteLater()

    def _cancel_build(self):
        self._update = None  # whoever cancels brings newer numbers for every box
        if self._build is not None:
            self._build_timer.stop()
            build = self._build
            self._discard(build.scene, build.nodes, build.clusters, build.edges, build.edge_layer)
            self._build = None
            self._build_timer.start(0)

    def _update_in_place(self, rendered, fills):
        """A generator: new numbers and colours into the boxes and edges shown, one item per step.
        Boxes out of sight take them now and draw them when the camera reaches them."""
        numbers_waiting = self._numbers_waiting
        for n in rendered.nodes:
            item = self.nodes.get(n.id)
            if item is not None:  # a recolour may name boxes of a picture still being made
                fill, text = fills[n.id]
                if self._in_sight(item):
                    item.update_node(n, fill, text)
                    numbers_waiting.discard(n.id)
                else:
                    item.defer(n, fill, text)
                    numbers_waiting.add(n.id, item)
                yield
        for e in rendered.edges:
            item = self.edges.get((e.source, e.target))
            if item is not None:
                item.set_local_grad(e.local_grad)
                yield

    def _in_sight(self, item):
        return self._sight_rect().intersects(item.rect)

    def _sight_rect(self):
        if self._sight is None:
            m = SIGHT_MARGIN_PX
            self._sight = self.mapToScene(self.viewport().rect().adjusted(-m, -m, m, m)).boundingRect()
        return self._sight

    def _camera_moved(self):
        """Boxes that came into sight draw the numbers they were given while out of it; in a big
        picture, boxes write their words and edges make their labels when first in sight (if the
        zoom lets them be read: it may have changed before _zoom_changed ran, scale() scrolls first)."""
        self._sight = None
        if not (self._numbers_waiting or self._words_waiting or self._labels_wanted):
            return
        sight = self._sight_rect()
        for _, item in self._numbers_waiting.take_in(sight):
            item.catch_up()
        if self._words_waiting and self._readable():
            for _, item in self._words_waiting.take_in(sight):
                item.dress()
        if self._labels_wanted and self._labels_readable():
            self._make_labels_in_sight()

    def _make_labels_in_sight(self):
        """Labels for the edges in sight that have none yet. Edges run far across a big picture
        (a parameter feeding every position), so Qt is asked which lines' boxes meet the sight
        rather than indexing them by where they are."""
        sight = self._sight_rect()
        seen = self.scene().items(sight, Qt.ItemSelectionMode.IntersectsItemBoundingRect)
        # the label goes at the middle of its line, or near it: a line passing through the sight on
        # its way to a box in it (a fan of a thousand parameters into one sum) is not enough
        edges = [item for item in seen if isinstance(item, EdgeItem) and item.label is None
                 and item.local_grad is not None and sight.contains(item.middle)]
        for item in edges:
            item.set_label_visible(True, self._obstacles.hidden_area)

    def scrollContentsBy(self, dx, dy):
        super().scrollContentsBy(dx, dy)
        self._camera_moved()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._camera_moved()

    def _show_built(self, build):
        anchor = build.anchor
        self.home = build.home
        keep = self._screen_place(anchor) if anchor else None
        first_picture = not self.nodes and self.transform().isIdentity()
        centre = self.mapToScene(self.viewport().rect().center())
        old = self.scene()
        # the new items are made with their numbers drawn, but in a big picture without words or labels
        self._numbers_waiting, self._words_waiting, self._labels_wanted = SightIndex(), build.words_waiting, False
        self._obstacles, self._sight = build.obstacles, None
        self.setScene(build.scene)
        self._discard(old, self.nodes, self.clusters, self.edges, self.edge_layer)
        self.centerOn(centre)  # the camera stays where it was, as when the items were replaced in one scene
        self.nodes, self.clusters, self.edges, self.layout = build.nodes, build.clusters, build.edges, build.layout
        self.edge_layer = build.edge_layer
        if len(self.edges) > EDGES_DRAWN_LATER:
            # the first paint of a big picture is two: its boxes now, its edges a turn later
            self.edge_layer.setVisible(False)
            layer = self.edge_layer
            QTimer.singleShot(1, lambda: None if sip.isdeleted(layer) else layer.setVisible(True))
        if build.text_visible != self._text_visible:
            for item in list(self.nodes.values()) + list(self.clusters.values()):
                item.set_text_visible(self._text_visible)
        if build.edge_labels_visible != self._edge_labels_visible or build.in_sight_only:
            self._show_edge_labels(self._edge_labels_visible)  # the zoom crossed the line while it was made, or the labels wait for the camera
        self.selected = None
        self.set_selected(build.selected)
        if build.fit or (keep is None and first_picture):  # asked to, or the first picture
            self.fit(whole=False)
        elif keep is not None:
            self._restore_place(anchor, keep)
        elif anchor is not None:  # it was off screen: bring it into view
            self.centre_on(anchor)
            item = self.item_for(anchor)
            if isinstance(item, ClusterItem):
                self.ensureVisible(item.title_rect(), 20, 20)
        else:
            self._bring_drawing_into_view()
        self._camera_moved()  # wherever the camera ended up, the boxes in sight have their words
        if build.on_shown is not None:
            build.on_shown()

    def _bring_drawing_into_view(self):
        """A camera kept from another layout (the next step's doc drawn differently) can leave a
        drawing that would fit the window at this zoom partly outside it: move it in, zoom kept."""
        drawing = self.scene().sceneRect()
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        if drawing.isEmpty() or seen.contains(drawing):
            return
        if drawing.width() <= seen.width() and drawing.height() <= seen.height():
            self.centerOn(drawing.center())

    def recolour(self, rendered, fills):
        """New colours for the boxes shown: a slice now, the rest a slice per turn (recolouring a
        few thousand boxes at once held the event loop 20-50 ms)."""
        if self._build is not None:
            self._build.rendered, self._build.fills, self._build.stale = rendered, fills, True
        if self._update is not None:  # numbers on their way: the rest of them with these colours
            self._update = (self._update_in_place(rendered, fills), self._update[1])
            return
        work = self._update_in_place(rendered, fills)
        if not _run_for(work, BUILD_SLICE_S):
            self._update = (work, None)
            self._build_timer.start(0)

    def set_selected(self, visible_id):
        if self._build is not None:
            self._build.selected = visible_id
        if self.selected in self.nodes:
            self.nodes[self.selected].set_selected(False)
        self.selected = visible_id
        if visible_id in self.nodes:
            self.nodes[visible_id].set_selected(True)

    def clear(self):
        self._cancel_build()
        self.scene().clear()
        self._numbers_waiting, self._words_waiting, self._labels_wanted = SightIndex(), SightIndex(), False
        self._sight, self._obstacles = None, None
        self.nodes, self.clusters, self.edges, self.layout = {}, {}, {}, None
        self.edge_layer = None

    # ---- camera -----------------------------------------------------------------------
    def _zoom_changed(self):
        """Show text only when it comes out big enough to read (level of detail)."""
        visible = self._readable()
        if visible != self._text_visible:
            self._text_visible = visible
            for item in list(self.nodes.values()) + list(self.clusters.values()):
                item.set_text_visible(visible)
        self._camera_moved()  # after the text's visibility: boxes coming into sight write their words only if it shows
        labels = self._labels_readable()
        if labels != self._edge_labels_visible:
            self._edge_labels_visible = labels
            self._show_edge_labels(labels)

    def _readable(self):
        return self.transform().m11() * FONT_SIZE >= MIN_READABLE_PX

    def _labels_readable(self):
        return self.transform().m11() * EDGE_LABEL_PX >= MIN_EDGE_LABEL_PX

    def _show_edge_labels(self, visible):
        if _in_sight_only(len(self.nodes)):  # a big picture: labels made as their edges come into sight
            self._labels_wanted = visible
            for item in self.edges.values():
                if item.label is not None:
                    item.set_label_visible(visible)
            if visible:
                self._make_labels_in_sight()
            return
        for item in self.edges.values():
            item.set_label_visible(visible, self._obstacles.hidden_area if visible else None)

    @property
    def text_visible(self):
        return self._text_visible

    @property
    def edge_labels_visible(self):
        """Edges show their local gradients (zoomed in far enough to read them)."""
        return self._edge_labels_visible

    def fit(self, whole=True):
        """Frame the graph. whole=False: if that would make text unreadable, stay readable
        and centre on the home box (the loss being explained) or the selection instead."""
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        zoom = self.transform().m11()
        if zoom > MAX_FIT_ZOOM or (not whole and zoom < MIN_FIT_ZOOM):
            zoom = MAX_FIT_ZOOM if zoom > MAX_FIT_ZOOM else MIN_FIT_ZOOM
            self.resetTransform()
            self.scale(zoom, zoom)
            target = self.item_for(self.selected) or self.item_for(self.home)
            self.centerOn(target.rect.center() if target is not None else rect.center())
        self._zoom_changed()

    def zoom(self, factor):
        self.scale(factor, factor)
        self._zoom_changed()

    def item_for(self, visible_id):
        return self.nodes.get(visible_id) or self.clusters.get(visible_id)

    def centre_on(self, visible_id, zoom_to_read=False):
        item = self.item_for(visible_id)
        if item is None:
            return
        if zoom_to_read and self.transform().m11() < 0.9:
            self.resetTransform()
            self._zoom_changed()
        self.centerOn(item.rect.center())

    def ensure_visible(self, visible_id):
        item = self.item_for(visible_id)
        if item is not None:
            self.ensureVisible(item.rect, 60, 60)

    def view_point_of(self, visible_id):
        """Viewport coordinates of a box's centre (tests click there)."""
        item = self.item_for(visible_id)
        return self.mapFromScene(item.rect.center()) if item is not None else None

    def _screen_place(self, visible_id):
        """Where a box is on screen now, if it is on screen."""
        item = self.item_for(visible_id)
        if item is None:
            return None
        place = self.mapFromScene(item.rect.center())
        return place if self.viewport().rect().contains(place) else None

    def _restore_place(self, visible_id, place):
        item = self.item_for(visible_id)
        if item is None:
            return
        centre = self.mapToScene(self.viewport().rect().center())
        offset = self.mapToScene(place) - centre
        target = item.rect.center() - offset
        self.centerOn(target)
        # a newly opened group may be bigger than the screen: make sure its title shows
        if isinstance(item, ClusterItem):
            self.ensureVisible(item.title_rect(), 20, 20)

    # ---- input ------------------------------------------------------------------------
    def viewportEvent(self, event):
        if event.type() == QEvent.Type.ToolTip:
            for item in self.items(event.pos()):
                top = item.topLevelItem()
                if isinstance(top, (NodeItem, EdgeItem)) and top.tooltip():
                    QToolTip.showText(event.globalPos(), top.tooltip(), self.viewport())
                    return True
                if isinstance(top, ClusterItem):
                    break
        return super().viewportEvent(event)

    def wheelEvent(self, event):
        factor = 1.0015 ** event.angleDelta().y()
        scale = self.transform().m11() * factor
        if 0.02 <= scale <= 8:
            self.zoom(factor)
        event.accept()

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.25)
        elif event.key() == Qt.Key.Key_Minus:
            self.zoom(0.8)
        elif event.key() == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event):
        self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event):
        super().mouseReleaseEvent(event)
        if self._press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        moved = (event.position().toPoint() - self._press).manhattanLength()
        self._press = None
        if moved > CLICK_SLOP:
            return
        hit = self.hit(event.position().toPoint())
        if isinstance(hit, NodeItem) and self._build is not None and hit.id not in self._build.ids:
            return  # a box of the picture being replaced that the new one does not have
        if isinstance(hit, NodeItem):
            self.nodeClicked.emit(hit.id)
        elif hit is None:
            self.backgroundClicked.emit()

    def mouseDoubleClickEvent(self, event):
        hit = self.hit(event.position().toPoint(), titles=True)
        if self._build is not None and getattr(hit, "id", None) not in self._build.known:
            hit = None  # the picture being replaced: what is under the pointer may be gone from the new one
        if isinstance(hit, NodeItem) and hit.node.expandable:
            self.nodeDoubleClicked.emit(hit.id)
        elif isinstance(hit, ClusterItem):
            self.clusterDoubleClicked.emit(hit.id)
        event.accept()

    def hit(self, point, titles=False):
        """The box under a viewport point; with titles=True also the open frame whose title is there."""
        scene_point = self.mapToScene(point)
        frames = []
        for item in self.items(QPoint(point)):
            if isinstance(item, NodeItem) and item.rect.contains(scene_point):
                return item
            if isinstance(item, ClusterItem):
                frames.append(item)
        if titles:
            for frame in sorted(frames, key=lambda f: -f.zValue()):
                if frame.title_rect().contains(QPointF(scene_point)):
                    return frame
        return None
