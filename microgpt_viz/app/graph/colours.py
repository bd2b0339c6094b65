"""core's colour scale (core/views/colour_scale.py) as QColors, for the graph, legend, overview and heatmaps."""
from PyQt6.QtGui import QColor

from core.views import colour_scale

NONFINITE = QColor(*(int(c) for c in colour_scale.NONFINITE))
MASKED = QColor(*(int(c) for c in colour_scale.MASKED))


def qcolor(rgb):
    r, g, b = (int(round(float(c))) for c in rgb)
    return QColor(r, g, b)


def text_colour_for(fill_rgb):
    """Dark text on light fills, white on dark ones."""
    return qcolor(colour_scale.text_rgb_on(fill_rgb))
