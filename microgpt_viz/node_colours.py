"""Fill colours of the graph's boxes for a colouring mode, and what the legend must say about them.

Single values are coloured by their signed grad (or data): blue negative, red positive.
Groups hold many values of both signs, so they are coloured by the largest magnitude
inside, on the orange scale. In |grad| mode everything uses the magnitude scale.
"""
from dataclasses import dataclass

import numpy as np

from microgpt_viz.colours import DECADES, NONFINITE, diverging_rgb, magnitude_rgb, qcolor, text_colour_for


@dataclass(frozen=True)
class Scale:
    mode: str  # "grad", "|grad|" or "data"
    top: float  # the largest magnitude among the visible boxes: the end of the scale
    signed_values: bool  # single values use the blue-white-red scale
    decades: int = DECADES  # the scale is logarithmic over this many decades below `top`


def scale_for(rendered, mode):
    field = "max_abs_data" if mode == "data" else "max_abs_grad"
    tops = [getattr(n, field) for n in rendered.nodes]
    finite = [t for t in tops if np.isfinite(t)]
    return Scale(mode=mode, top=float(max(finite)) if finite else 0.0, signed_values=mode != "|grad|")


def node_fills(rendered, mode):
    """{visible id: (fill QColor, text QColor)} and the Scale used."""
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
