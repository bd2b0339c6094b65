"""Fill colours of the graph's boxes for a colouring mode, and what the legend must say about them.

Single values are coloured by their signed grad (or data): blue negative, red positive.
Groups hold many values of both signs, so they are coloured by the largest magnitude
inside, on the orange scale. In |grad| mode everything uses the magnitude scale.

The change modes (Δ data, Δ grad) colour by a Change instead (a what-if edit or a step
diff): a value by its signed delta, a group by the largest |delta| inside; unchanged
values come out white (or palest yellow for groups).
"""
from dataclasses import dataclass

import numpy as np

from microgpt_viz.colours import DECADES, NONFINITE, diverging_rgb, magnitude_rgb, qcolor, text_colour_for
from microgpt_viz.session import CHANGE_MODES


@dataclass(frozen=True)
class Scale:
    mode: str  # "grad", "|grad|", "data", "Δ data" or "Δ grad"
    top: float  # the largest magnitude among the visible boxes: the end of the scale
    signed_values: bool  # single values use the blue-white-red scale
    decades: int = DECADES  # the scale is logarithmic over this many decades below `top`
    note: str = ""  # what the colours stand for beyond the mode (the change being shown), for the legend

    @property
    def quantity(self):
        """What a value's colour measures: grad, data, Δ data or Δ grad."""
        return self.mode if self.mode in CHANGE_MODES else "data" if self.mode == "data" else "grad"


def scale_for(rendered, mode):
    field = "max_abs_data" if mode == "data" else "max_abs_grad"
    tops = [getattr(n, field) for n in rendered.nodes]
    finite = [t for t in tops if np.isfinite(t)]
    return Scale(mode=mode, top=float(max(finite)) if finite else 0.0, signed_values=mode != "|grad|")


def node_fills(rendered, mode, change=None):
    """{visible id: (fill QColor, text QColor)} and the Scale used. Change modes need `change`."""
    if mode in CHANGE_MODES:
        return _change_fills(rendered, mode, change)
    scale = scale_for(rendered, mode)
    fills = {}
    for n in rendered.nodes:
        if n.nonfinite:
            fills[n.id] = (NONFINITE, qcolor((255, 255, 255)))
            continue
        if n.kind == "value" and scale.signed_values:
            value = n.data if mode == "data" else n.grad
            rgb = diverging_rgb(np.array([value]), scale.top)[0]
        else:
            magnitude = n.max_abs_data if mode == "data" else n.max_abs_grad
            rgb = magnitude_rgb(np.array([magnitude]), scale.top)[0]
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
            fills[n.id] = (NONFINITE, qcolor((255, 255, 255)))
            continue
        if n.kind == "value":
            rgb = diverging_rgb(np.array([delta[n.node]]), scale.top)[0]
        else:
            rgb = magnitude_rgb(np.array([magnitude]), scale.top)[0]
        fills[n.id] = (qcolor(rgb), text_colour_for(rgb))
    return fills, scale
