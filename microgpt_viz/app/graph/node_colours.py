"""Fill colours of the graph's boxes for a colouring mode, and what the legend must say about them.

The grad, |grad| and data modes are core's colour scale (core/views/colour_scale.py), the one
exported diagrams use: single values by their signed grad (or data), groups by the largest
magnitude inside.

The change modes (Δ data, Δ grad) colour by a Change instead (a what-if edit or a step
diff): a value by its signed delta, a group by the largest |delta| inside; unchanged
values come out white (or palest yellow for groups).
"""
import numpy as np

from core.views.colour_scale import NONFINITE, Scale, diverging_rgb, fill_of, magnitude_rgb, scale_for
from microgpt_viz.app.graph.colours import qcolor, text_colour_for
from microgpt_viz.session.model import CHANGE_MODES


def node_fills(rendered, mode, change=None):
    """{visible id: (fill QColor, text QColor)} and the Scale used. Change modes need `change`."""
    if mode in CHANGE_MODES:
        return _change_fills(rendered, mode, change)
    scale = scale_for(rendered, mode)
    fills = {}
    for n in rendered.nodes:
        rgb = fill_of(n, scale)
        fills[n.id] = (qcolor(rgb), text_colour_for(rgb))
    return fills, scale


def change_magnitudes(rendered, delta):
    """Per visible node: the largest |delta| among its members (NaN if any member's delta is NaN)."""
    out = np.zeros(len(rendered.nodes))
    for k, n in enumerate(rendered.nodes):
        members = np.abs(delta[n.members])
        out[k] = np.max(members) if len(members) else 0.0
    return out


def _change_fills(rendered, mode, change):
    if change is None:
        raise ValueError(f"colouring by {mode} needs a change (a what-if edit or a step diff)")
    delta = change.delta(mode)
    magnitudes = change_magnitudes(rendered, delta)
    finite = magnitudes[np.isfinite(magnitudes)]
    scale = Scale(mode=mode, top=float(finite.max()) if finite.size else 0.0, signed_values=True, note=change.description)
    fills = {}
    for n, magnitude in zip(rendered.nodes, magnitudes):
        if not np.isfinite(magnitude):  # a value became (or stopped being) NaN / inf: the strongest change
            rgb = NONFINITE
        elif n.kind == "value":
            rgb = diverging_rgb(delta[n.node], scale.top)
        else:
            rgb = magnitude_rgb(magnitude, scale.top)
        fills[n.id] = (qcolor(rgb), text_colour_for(rgb))
    return fills, scale
