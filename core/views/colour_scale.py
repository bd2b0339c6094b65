"""The one colour scale of the project: the app's graph, its legend, the overview, the heatmaps
and every exported diagram colour a number through this module, so the same grad has the same
colour on screen and on a slide.

Signed numbers (a value's grad or data, a change) go blue below zero, white at zero, red above.
Magnitudes (a group's largest |grad|, or everything under |grad|) go pale yellow, orange,
dark brown. Gradients span many decades, so both are logarithmic over DECADES decades below
the scale's top (the largest magnitude on show); anything smaller looks white (or palest
yellow). NaN and infinities are purple whatever the scale.

Colours are RGB triples of floats 0..255 (numpy arrays); `hex_colour` turns one into '#rrggbb'
for Graphviz, the app turns them into QColors.
"""
import math
from dataclasses import dataclass

import numpy as np

DECADES = 4
NEGATIVE = np.array([33, 102, 172], dtype=float)
POSITIVE = np.array([178, 24, 43], dtype=float)
WHITE = np.array([250, 250, 250], dtype=float)
# magnitude: pale yellow -> orange -> dark red-brown
MAGNITUDE_STOPS = np.array([[255, 255, 229], [254, 196, 79], [236, 112, 20], [140, 45, 4]], dtype=float)
# attention weights in [0, 1]: white -> deep blue
WEIGHT_STOPS = np.array([[247, 251, 255], [107, 174, 214], [8, 48, 107]], dtype=float)
NONFINITE = np.array([160, 0, 200], dtype=float)
# a replay frame's boxes backward has not reached yet: no grad at all, which is not a small grad
UNREACHED = np.array([200, 200, 205], dtype=float)
MASKED = np.array([225, 225, 225], dtype=float)
DARK_TEXT = np.array([20, 20, 20], dtype=float)
LIGHT_TEXT = np.array([255, 255, 255], dtype=float)

# the quantities a box can be coloured by, as the app's menu and the legend name them
MODES = ("grad", "|grad|", "data")


@dataclass(frozen=True)
class Scale:
    mode: str  # "grad", "|grad|", "data", or a change mode of the app ("Δ data", "Δ grad")
    top: float  # the largest magnitude among the boxes on show: the end of the scale
    signed_values: bool  # single values use the blue-white-red scale (every mode but |grad|)
    decades: int = DECADES  # the scale is logarithmic over this many decades below `top`
    note: str = ""  # what the colours stand for beyond the mode (the change being shown), for the legend
    # visible ids of the boxes backward has not reached yet, in a frame of a backward replay
    unreached: frozenset = frozenset()

    @property
    def quantity(self):
        """What a value's colour measures: grad, data, Δ data or Δ grad."""
        return "grad" if self.mode == "|grad|" else self.mode

    @property
    def value_caption(self):
        """Legend words for the blue-white-red bar."""
        return f"{self.quantity} of a value"

    @property
    def magnitude_caption(self):
        """Legend words for the yellow-brown bar."""
        return f"groups: largest |{self.quantity}|" if self.signed_values else "|grad| (groups: largest inside)"

    @property
    def log_caption(self):
        return f"log scale, {self.decades} decades"

    @property
    def unreached_caption(self):
        return "grey, dashed: backward has not reached it yet (no grad so far)"

    def decade_marks(self):
        """The magnitudes at which the log scale's decades start, smallest first, ending at `top`."""
        return [self.top * 10.0 ** -d for d in range(self.decades, -1, -1)]

    def legend_lines(self):
        """The legend as short lines of text, for an exported diagram's heading (the app draws the same words).

        Short, because a heading wider than the drawing widens the whole picture, and a picture
        fitted to a slide then shrinks the drawing to make room for words.
        """
        if self.top == 0:
            return [f"every {self.quantity} shown is 0: nothing to colour"]
        top = format_number(self.top)
        lines = []
        if self.signed_values:
            lines.append(f"{self.value_caption}: blue -{top} … white 0 … red +{top}")
        lines.append(f"{self.magnitude_caption}: pale yellow 0 … dark brown {top}; purple NaN / inf")
        marks = ", ".join(format_number(m) for m in self.decade_marks())
        lines.append(f"{self.log_caption}: {marks} (less looks like 0)")
        lines[0] = "fill: " + lines[0]
        return lines

    def legend_line(self):
        """The legend in one line."""
        return "; ".join(self.legend_lines())


def format_number(x, digits=2):
    """A short number for legends: 0.012, 3.4e-05, 120."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}"


def scale_for(rendered, mode):
    """The Scale of a rendered view coloured by `mode`: its top is the largest finite magnitude on show."""
    if mode not in MODES:
        raise ValueError(f"unknown colouring {mode!r} (choose from {', '.join(MODES)})")
    field = "max_abs_data" if mode == "data" else "max_abs_grad"
    tops = [getattr(n, field) for n in rendered.nodes]
    finite = [t for t in tops if np.isfinite(t)]
    return Scale(mode=mode, top=float(max(finite)) if finite else 0.0, signed_values=mode != "|grad|")


def fill_of(node, scale):
    """RGB fill of one visible box (a core.views.rendered VisibleNode) on `scale`.

    A single value shows its signed grad (or data); a group shows the largest magnitude inside,
    since its signs cancel. Under |grad| everything shows a magnitude.
    """
    if node.nonfinite:
        return NONFINITE
    if node.id in scale.unreached:
        return UNREACHED
    mode = scale.mode
    if node.kind == "value" and scale.signed_values:
        return diverging_rgb(node.data if mode == "data" else node.grad, scale.top)
    return magnitude_rgb(node.max_abs_data if mode == "data" else node.max_abs_grad, scale.top)


def log_position(magnitude, top, decades=DECADES):
    """0..1: where |x| sits between top * 10**-decades (0) and top (1)."""
    magnitude = np.abs(np.asarray(magnitude, dtype=float))
    if not top > 0:
        return np.zeros_like(magnitude)
    floor = top * 10.0 ** -decades
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.log10(np.maximum(magnitude, floor)) - np.log10(floor)) / decades
    return np.clip(np.nan_to_num(t), 0.0, 1.0)


def ramp(stops, t):
    """Colours at positions t (0..1) of a piecewise-linear ramp through `stops`."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    scaled = t * (len(stops) - 1)
    low = np.minimum(scaled.astype(int), len(stops) - 2)
    frac = (scaled - low)[..., None]
    return stops[low] * (1 - frac) + stops[low + 1] * frac


def diverging_rgb(values, top, log=True):
    """RGB (float array, ...x3) for signed values on the scale ending at `top`.

    Log unless `log` is False: attention logits, a few units wide, read better linearly.
    """
    values = np.asarray(values, dtype=float)
    if log:
        t = log_position(values, top)
    else:
        t = np.clip(np.abs(values) / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    side = np.where(values[..., None] < 0, NEGATIVE, POSITIVE)
    return WHITE * (1 - t[..., None]) + side * t[..., None]


def magnitude_rgb(magnitudes, top):
    """RGB for magnitudes on the log scale ending at `top`."""
    return ramp(MAGNITUDE_STOPS, log_position(magnitudes, top))


def weight_rgb(values):
    """RGB for attention weights, which live in [0, 1]: linear, white to deep blue."""
    return ramp(WEIGHT_STOPS, values)


def text_rgb_on(fill):
    """Dark text on light fills, white on dark ones."""
    r, g, b = fill
    return LIGHT_TEXT if 0.299 * r + 0.587 * g + 0.114 * b < 120 else DARK_TEXT


def hex_colour(rgb):
    """'#rrggbb' for an RGB triple."""
    return "#" + "".join(f"{max(0, min(255, int(round(float(c))))):02x}" for c in rgb)
