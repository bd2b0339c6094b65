"""Fill colours of the graph's boxes for a colouring mode, and what the legend must say about them.

The grad, |grad| and data modes are core's colour scale (core/views/colour_scale.py), the one
exported diagrams use: single values by their signed grad (or data), groups by the largest
magnitude inside.

The change modes (Δ data, Δ grad) colour by a Change instead (a what-if edit or a step
diff): a value by its signed delta, a group by the largest |delta| inside; unchanged
values come out white (or palest yellow for groups).
"""
import numpy as np

from core.views.colour_scale import NONFINITE, UNREACHED, Scale, diverging_rgb, magnitude_rgb, scale_for
from microgpt_viz.app.graph.colours import qcolor, text_colour_for
from microgpt_viz.session.model import CHANGE_MODES


def node_fills(rendered, mode, change=None):
    """{visible id: (fill QColor, text QColor)} and the Scale used. Change modes need `change`."""
    if mode in CHANGE_MODES:
        return _change_fills(rendered, mode, change)
    scale = scale_for(rendered, mode)
    rgbs = _plain_rgbs(rendered.nodes, scale)
    return {n.id: _colours(rgb) for n, rgb in zip(rendered.nodes, rgbs)}, scale


def colours_for(rendered, colouring):
    """node_fills(rendered, *colouring), or None when that colouring cannot be made (a change mode
    without its change): for the layout worker, which makes them with the picture when it can."""
    mode, change = colouring
    if mode in CHANGE_MODES and change is None:
        return None
    return node_fills(rendered, mode, change)


def _plain_rgbs(nodes, scale):
    """core.views.colour_scale.fill_of of every node, in a few array operations instead of a few per node:
    a Step recolours a thousand boxes, and per-box numpy calls cost the GUI thread ~0.1 s."""
    if not nodes:
        return np.zeros((0, 3))
    by_data = scale.mode == "data"
    signed = np.array([n.kind == "value" and scale.signed_values for n in nodes])
    values = np.array([float((n.data if by_data else n.grad) or 0.0) if s else 0.0 for n, s in zip(nodes, signed)])
    magnitudes = np.array([n.max_abs_data if by_data else n.max_abs_grad for n in nodes], dtype=float)
    with np.errstate(invalid="ignore"):
        rgbs = np.where(signed[:, None], diverging_rgb(values, scale.top), magnitude_rgb(magnitudes, scale.top))
    for k, n in enumerate(nodes):
        if n.nonfinite:
            rgbs[k] = NONFINITE
        elif n.id in scale.unreached:
            rgbs[k] = UNREACHED
    return rgbs


_colour_cache = {}  # rounded RGB -> (fill, text) QColors; at most 256**3 / a few hundred in practice


def _colours(rgb):
    key = tuple(int(round(float(c))) for c in rgb)
    found = _colour_cache.get(key)
    if found is None:
        if len(_colour_cache) > 4096:  # bounded: a colouring has ~600 distinct shades
            _colour_cache.clear()
        found = _colour_cache[key] = (qcolor(key), text_colour_for(key))
    return found


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
