"""Looks for exported diagrams: themes (the fill colours come from core/views/colour_scale.py)."""
from dataclasses import dataclass

# Helvetica, Arial and Liberation Sans share their letter widths, so the boxes Graphviz sizes here
# (with Liberation Sans on Linux) fit the text a Mac browser draws in Helvetica, PowerPoint in Arial
# or Inkscape in Liberation Sans; the SVG names the whole list, ending in the generic family.
FONT = "Helvetica,Arial,Liberation Sans,DejaVu Sans,sans-serif"

THEME_NAMES = ("light", "dark", "slides")
COLOR_BY = ("data", "grad", "absgrad", "none")
# --color-by names -> the colour scale's modes (the app's colour menu)
MODE_OF = {"data": "data", "grad": "grad", "absgrad": "|grad|"}


@dataclass(frozen=True)
class Theme:
    background: str  # page colour
    text: str  # labels
    faint_text: str  # counts, edge labels, cluster titles
    border: str  # node outlines
    node_fill: str  # fill when nodes are not coloured by a value
    group_fill: str  # collapsed groups and vectors
    cluster_fill: str  # open groups drawn around their members
    cluster_border: str
    edge: str
    alarm: str  # outline of nodes holding NaN or infinity
    font: str  # font family
    font_size: float  # points, node labels
    small_size: float  # points, edge labels and counts
    title_size: float  # points, the diagram's title
    penwidth: float  # edge and outline width
    nodesep: float  # inches between neighbours in a rank
    ranksep: float  # inches between ranks
    one_line: bool = False  # groups as `q · 512` on one line instead of name over count (compact)
    fit: tuple = None  # (width, height) px a PNG / SVG is scaled into unless told otherwise


THEMES = {
    "light": Theme(
        background="white", text="#1d1d1f", faint_text="#6b6b70", border="#4a4a50",
        node_fill="#f4f4f6", group_fill="#e8eef7", cluster_fill="#fafafa", cluster_border="#b9bcc4",
        edge="#6d7079", alarm="#ff00aa",
        font=FONT, font_size=11, small_size=9, title_size=14, penwidth=1.0, nodesep=0.25, ranksep=0.4,
    ),
    "dark": Theme(
        background="#1e1f22", text="#e8e8ea", faint_text="#a0a3aa", border="#9aa0aa",
        node_fill="#2c2e33", group_fill="#283548", cluster_fill="#25262a", cluster_border="#4a4d55",
        edge="#8a8f99", alarm="#ff4fd8",
        font=FONT, font_size=11, small_size=9, title_size=14, penwidth=1.0, nodesep=0.25, ranksep=0.4,
    ),
    # made to be read from the back of a room: big type, thick lines, strong contrast, 16:9
    "slides": Theme(
        background="white", text="#000000", faint_text="#333333", border="#000000",
        node_fill="#ffffff", group_fill="#dde8f7", cluster_fill="#f6f6f6", cluster_border="#808080",
        edge="#333333", alarm="#ff00aa",
        font=FONT, font_size=22, small_size=18, title_size=26, penwidth=2.2, nodesep=0.2, ranksep=0.3,
        one_line=True, fit=(1920, 1080),
    ),
}


def theme(name):
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r} (choose from {', '.join(THEME_NAMES)})")
    return THEMES[name]
