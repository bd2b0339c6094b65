"""Writing what the graph view shows as a Graphviz diagram. No Qt here: the app runs it off the GUI thread."""
import os
from pathlib import Path

from core.views.export import FORMATS, render_diagram, to_dot
from core.views.export_style import MODE_OF

# the app's colouring modes -> export's --color-by names
COLOR_BY_OF_MODE = {mode: name for name, mode in MODE_OF.items()}
SUFFIXES = {"dot": ".dot", "svg": ".svg", "pdf": ".pdf", "png": ".png"}


def format_of(path, default="svg"):
    suffix = Path(path).suffix.lower().lstrip(".")
    return "dot" if suffix == "gv" else suffix if suffix in FORMATS else default


def view_title(trace, position, focus):
    if position is None:
        what = "loss of the whole step"
    elif position + 1 >= len(trace.token_labels):  # a user's script that does not say its tokens
        what = f"loss of position {position}"
    else:
        labels = trace.token_labels
        what = f"loss of position {position} (reads {labels[position]!r}, predicts {labels[position + 1]!r})"
    scope = f", scope {focus}" if focus else ""
    return f"{what}{scope}  ·  step {trace.step}, {trace.doc!r}"


def export_view(rendered, path, fmt, theme="light", rankdir="TB", colour_by="grad", title=None):
    """Write the diagram of `rendered` to `path`; returns the path. Errors: ValueError, GraphvizNotFound, OSError."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    source = to_dot(rendered, theme_name=theme, rankdir=rankdir, color_by=COLOR_BY_OF_MODE.get(colour_by, colour_by), title=title)
    data = render_diagram(source, fmt)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
