"""The loss curve: every trained step's loss (x: the step's index from 0), a smoothed trend, and ln(vocab),
the loss of a uniform guess. A click on the curve asks to go back to that step (stepClicked)."""
import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QGraphicsItem

RAW_COLOUR = (120, 150, 200)
TREND_COLOUR = (20, 60, 160)
BASELINE_COLOUR = (200, 80, 40)
CURRENT_COLOUR = (90, 90, 90)
FEW_STEPS = 60


def trend(losses, window=20):
    """Running mean over the last `window` updates (shorter at the start)."""
    values = np.asarray(losses, dtype=float)
    if not len(values):
        return values
    sums = np.cumsum(values)
    out = np.empty_like(values)
    n = np.arange(1, len(values) + 1)
    out[:window] = sums[:window] / n[:window]
    out[window:] = (sums[window:] - sums[:-window]) / window
    return out


NICE_ENDS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)  # times 1, 10, 100, ...


def room_for(steps):
    """The right end of the step axis for `steps` losses: the first of 10, 12, 15, 20, 25, 30, 40,
    50, 60, 80, 100, 120, ... that is not below them. The axis stays put for many Steps (a new
    range redraws both axes, their ticks and the grid: 5-15 ms a Step), and at most a quarter of
    it waits empty."""
    decade = 1
    while True:
        for end in NICE_ENDS:
            if end * decade >= steps:
                return end * decade
        decade *= 10


class LossPlot(pg.PlotWidget):
    stepClicked = pyqtSignal(int)  # a step of the curve was clicked: go back to it

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setMinimumHeight(140)
        self.setToolTip("Click a step of the curve to go back to it (the steps after it are dropped)")
        item = self.getPlotItem()
        item.setLabel("bottom", "step")
        item.setLabel("left", "loss")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.hideButtons()
        for name in ("left", "bottom"):
            # an axis draws its ticks and the grid from a QPicture on every paint, and the plot is
            # painted every Step (new curve): kept as pixels, a repaint costs 0.5 ms instead of 5.6
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._raw = item.plot([], [], pen=pg.mkPen(RAW_COLOUR, width=1))
        self._trend = item.plot([], [], pen=pg.mkPen(TREND_COLOUR, width=2))
        self._baseline = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(BASELINE_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        self._baseline_label = pg.TextItem(color=BASELINE_COLOUR, anchor=(1, 1))
        item.addItem(self._baseline)
        item.addItem(self._baseline_label, ignoreBounds=True)
        # where training stands: the step the next update takes, just right of the last loss
        self._current = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURRENT_COLOUR, width=1, style=Qt.PenStyle.DotLine))
        item.addItem(self._current, ignoreBounds=True)
        self.losses = []
        self.baseline = None
        item.getViewBox().sigRangeChanged.connect(self._place_label)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_vocab_size(self, vocab_size):
        """ln(vocab): what a model that guesses uniformly scores, the loss at step 1."""
        if self.baseline == math.log(vocab_size):
            return  # every Step says it again: a redraw of the axes each time cost 5-25 ms
        self.baseline = math.log(vocab_size)
        self._baseline.setValue(self.baseline)
        self._baseline_label.setText(f"uniform guess: ln {vocab_size} = {self.baseline:.2f}")
        self._refresh()

    def set_losses(self, losses):
        if list(losses) == self.losses:
            return  # a Step's losses reach the plot as they come (extend) and again with the session's
        self.losses = list(losses)
        self._refresh()

    def append(self, loss):
        self.losses.append(loss)
        self._refresh()

    def extend(self, losses):
        """Several updates at once (a fast-forward run reports in batches): one redraw for all."""
        self.losses.extend(losses)
        self._refresh()

    def _refresh(self):
        x = np.arange(len(self.losses))  # numbered like the steps everywhere else: from 0
        # a dot per step while they can be told apart: a line of one step is invisible, and dots say where to click
        few = len(self.losses) <= FEW_STEPS
        self._raw.setData(x, np.asarray(self.losses, dtype=float), symbol="o" if few else None, symbolSize=4,
                          symbolPen=None, symbolBrush=pg.mkBrush(RAW_COLOUR))
        self._trend.setData(x, trend(self.losses))
        item = self.getPlotItem()
        # room above the highest line for the baseline's label, which sits on top of its line
        top = max([self.baseline or 0.0] + self.losses) * 1.2 if self.losses or self.baseline else 4.0
        item.setYRange(0, top, padding=0)
        item.setXRange(0, room_for(len(self.losses)), padding=0.02)
        self._current.setValue(len(self.losses))

    def step_at(self, scene_pos):
        """The step whose loss is drawn nearest `scene_pos` (left to right), or None outside the plot."""
        box = self.getPlotItem().getViewBox()
        if not self.losses or not box.sceneBoundingRect().contains(scene_pos):
            return None
        step = round(box.mapSceneToView(scene_pos).x())
        return step if 0 <= step < len(self.losses) else None

    def _clicked(self, event):
        if event.button() != Qt.MouseButton.LeftButton:
            return
        step = self.step_at(event.scenePos())
        if step is not None:
            event.accept()
            self.stepClicked.emit(step)

    def _place_label(self, *_):
        if self.baseline is None:
            return
        (x0, x1), _ = self.getPlotItem().getViewBox().viewRange()
        self._baseline_label.setPos(x1, self.baseline)
