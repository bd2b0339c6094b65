"""Colour scales shared by the graph, its legend, the overview and the heatmaps.

Signed quantities (grad, data, logits) use a diverging scale: blue below zero, white at
zero, red above. Gradients span many decades, so signed and magnitude scales are
logarithmic over DECADES decades below the largest value; smaller values look white.
"""
import numpy as np
from PyQt6.QtGui import QColor

DECADES = 4
NEGATIVE = np.array([33, 102, 172], dtype=float)
POSITIVE = np.array([178, 24, 43], dtype=float)
WHITE = np.array([250, 250, 250], dtype=float)
# magnitude: pale yellow -> orange -> dark red-brown
MAGNITUDE_STOPS = np.array([[255, 255, 229], [254, 196, 79], [236, 112, 20], [140, 45, 4]], dtype=float)
# attention weights in [0, 1]: white -> deep blue
WEIGHT_STOPS = np.array([[247, 251, 255], [107, 174, 214], [8, 48, 107]], dtype=float)
MASKED = QColor(225, 225, 225)
NONFINITE = QColor(160, 0, 200)


def log_scale(magnitude, top, decades=DECADES):
    """0..1: where |x| sits between top * 10**-decades (0) and top (1)."""
    magnitude = np.abs(np.asarray(magnitude, dtype=float))
    if not top > 0:
        return np.zeros_like(magnitude)
    floor = top * 10.0 ** -decades
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.log10(np.maximum(magnitude, floor)) - np.log10(floor)) / decades
    return np.clip(np.nan_to_num(t), 0.0, 1.0)


def _ramp(stops, t):
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    scaled = t * (len(stops) - 1)
    low = np.minimum(scaled.astype(int), len(stops) - 2)
    frac = (scaled - low)[..., None]
    return stops[low] * (1 - frac) + stops[low + 1] * frac


def diverging_rgb(values, top, log=True):
    """RGB (float array, ...x3) for signed values scaled by `top`."""
    values = np.asarray(values, dtype=float)
    t = log_scale(values, top) if log else np.clip(np.abs(values) / top, 0, 1) if top > 0 else np.zeros_like(values)
    side = np.where(values[..., None] < 0, NEGATIVE, POSITIVE)
    return WHITE * (1 - t[..., None]) + side * t[..., None]


def magnitude_rgb(magnitudes, top, log=True):
    t = log_scale(magnitudes, top) if log else np.clip(np.asarray(magnitudes, float) / top, 0, 1) if top > 0 else np.zeros_like(magnitudes)
    return _ramp(MAGNITUDE_STOPS, t)


def weight_rgb(values):
    return _ramp(WEIGHT_STOPS, values)


def qcolor(rgb):
    r, g, b = (int(round(c)) for c in rgb)
    return QColor(r, g, b)


def text_colour_for(rgb):
    """Black on light fills, white on dark ones."""
    r, g, b = rgb
    return QColor(255, 255, 255) if 0.299 * r + 0.587 * g + 0.114 * b < 120 else QColor(20, 20, 20)
