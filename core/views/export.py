"""Graphviz diagrams of a rendered view: DOT text, and SVG / PDF / PNG through the `dot` binary.

Single values are micrograd-style record boxes (op | data | grad); collapsed groups are
rounded boxes with their node count, vectors are stacked boxes, open groups are clusters
drawn around their members. Edges carry their local gradient when they stand for one
scalar edge, or how many scalar edges they stand for. Fill colours follow data, grad or
|grad| on the app's own colour scale (core/views/colour_scale.py), legend words included.

DOT needs no Graphviz; the other formats run `dot` and raise GraphvizNotFound (saying how
to install it) when it is missing. Views above MAX_NODES visible nodes are refused with
ViewTooLarge instead of freezing the machine.
"""
import html
import json
import math
import re

from core.views.colour_scale import fill_of, hex_colour, scale_for, text_rgb_on
from core.views.export_style import COLOR_BY, MODE_OF, theme
from core.views.layout import nesting, order_lines, quote, run_dot, run_in_model_order, sibling_runs
from core.views.rendered import box_text

FORMATS = ("dot", "svg", "pdf", "png")
PNG_DPI = 96  # PNG pixels per inch; SVG and PDF are drawn at Graphviz's own 72 (see render_diagram)
PAD = 0.3  # inches of page around the drawing
MAX_NODES = 2000
READABLE_EDGES = 400  # above this many edges, edge labels only add ink


class ViewTooLarge(ValueError):
    """A view with too many visible nodes to draw usefully."""


def to_dot(rendered, theme_name="light", rankdir="LR", color_by="grad", title=None, max_nodes=MAX_NODES, scale=None, sizes=None,
           heading_size=None):
    """DOT source text for a rendered view (see the module docstring for what it looks like).

    scale: the colour Scale (core/views/colour_scale.py); by default the view's own (its top is
    the largest magnitude on show). Frames of a backward replay pass the finished step's, so
    colours compare.
    sizes: visible id -> (width, height) in inches to fix boxes at, so that boxes whose
    numbers change (frames of a replay) keep their size and the layout does not move.
    heading_size: (width, height) in inches to fix the heading at, for the same reason:
    Graphviz centres the drawing under a heading wider than itself.
    """
    th = theme(theme_name)
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be LR or TB, got {rankdir!r}")
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown colouring {color_by!r} (choose from {', '.join(COLOR_BY)})")
    if len(rendered.nodes) > max_nodes:
        raise ViewTooLarge(
            f"this view has {len(rendered.nodes)} visible nodes, more than the {max_nodes} a diagram can show; "
            "choose a smaller scope (--scope), a coarser level (--level module or vector) or a smaller --depth"
        )
    if scale is None:
        scale = colour_scale(rendered, color_by)

    out = [
        "digraph microgpt {",
        f"  graph [rankdir={rankdir}, bgcolor={quote(th.background)}, fontname={quote(th.font)}, "
        f"fontsize={th.title_size:g}, fontcolor={quote(th.text)}, nodesep={th.nodesep:g}, ranksep={th.ranksep:g}, "
        f'newrank=true, labelloc=t, labeljust=l, forcelabels=false, pad={PAD:g}];',
        f"  node [fontname={quote(th.font)}, fontsize={th.font_size:g}, fontcolor={quote(th.text)}, "
        f"color={quote(th.border)}, penwidth={th.penwidth:g}, style=filled, fillcolor={quote(th.node_fill)}, "
        "margin=\"0.1,0.04\"];",
        f"  edge [color={quote(th.edge)}, penwidth={th.penwidth:g}, arrowsize={0.6 + 0.15 * th.penwidth:.2f}, "
        f"fontname={quote(th.font)}, fontsize={th.small_size:g}, fontcolor={quote(th.faint_text)}];",
    ]
    heading = title.split("\n") if title else []  # one heading line per line of the title
    if scale is not None:
        heading.extend(scale.legend_lines())
        if scale.unreached:
            heading.append(scale.unreached_caption)
    if heading and heading_size:
        out.append(f"  label={_fixed_heading(heading, heading_size)};")
    elif heading:
        text = "".join(line.replace("\\", "\\\\").replace('"', '\\"') + "\\l" for line in heading)
        out.append(f'  label="{text}";')
    children, members = nesting(rendered)
    runs = sibling_runs(rendered, children, members)
    for n in members.get(None, []):
        out.append(_node(n, th, scale, sizes, "  "))
    for c in children.get(None, []):
        _cluster(c, children, members, runs, rankdir, th, scale, sizes, out, "  ")
    out.extend(order_lines(runs.get(None, []), rankdir, "  "))
    label_edges = len(rendered.edges) <= READABLE_EDGES
    # a label gets room of its own between the ranks (an xlabel, placed after the layout, sat on
    # the border of the box it points to), but the extra ranks that makes undo the anchors that
    # hold open siblings in order (heads under LR): there, the labels are xlabels
    anchored = any(not all(is_box for _, is_box in run) for found in runs.values() for run in found)
    label_key = "xlabel" if anchored else "label"
    for e in rendered.edges:
        out.append(f"  {quote(e.source)} -> {quote(e.target)}{_edge_attrs(e, th, label_edges and label_key)};")
    out.append("}")
    return "\n".join(out) + "\n"


def colour_scale(rendered, color_by):
    """The colour Scale of a view for `color_by` (what to_dot uses unless given one); None for 'none'."""
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown colouring {color_by!r} (choose from {', '.join(COLOR_BY)})")
    return scale_for(rendered, MODE_OF[color_by]) if color_by != "none" else None


def _fixed_heading(lines, size):
    """An HTML-like label: the heading's lines, left-aligned, in a box of a fixed size (inches)."""
    width, height = (max(1, math.ceil(x * 72)) for x in size)  # points
    body = "".join(html.escape(line, quote=False) + '<BR ALIGN="LEFT"/>' for line in lines)
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0" FIXEDSIZE="TRUE" '
            f'WIDTH="{width}" HEIGHT="{height}"><TR><TD ALIGN="LEFT" BALIGN="LEFT">{body}</TD></TR></TABLE>>')


def render_diagram(source, fmt, fit=None):
    """Bytes of the diagram in `fmt` (svg, pdf, png), laid out and drawn by Graphviz's dot.

    fit: (width, height) the whole picture is scaled into (down or up), keeping its aspect:
    pixels for PNG and SVG, points for PDF.
    """
    if fmt not in FORMATS or fmt == "dot":
        return source.encode("utf-8") if fmt == "dot" else _bad_format(fmt)
    # Graphviz 2.43 draws an SVG or PDF at any dpi but 72 scaled up inside a viewBox that is not,
    # so viewers show its top-left corner only: dpi is for PNG alone.
    dpi = PNG_DPI if fmt == "png" else 72
    attrs = [f"dpi={dpi}"]
    if fit is not None and fmt != "svg":
        width, height = fit
        # `!` scales up as well as down; the size includes the pad, and is floored so rounding
        # never makes the picture a pixel larger than asked
        attrs.append(f'size="{math.floor(width / dpi * 1e4) / 1e4:.4f},{math.floor(height / dpi * 1e4) / 1e4:.4f}!"')
    drawn = run_in_model_order(_with_graph_attrs(source, attrs), fmt, timeout=120)
    if fmt == "svg" and fit is not None:
        drawn = _svg_fitted(drawn, fit)
    return drawn


def _with_graph_attrs(source, attrs):
    """DOT source with graph attributes set last, so they win over the ones in its header."""
    end = source.rstrip().rfind("}")
    return f"{source[:end]}  graph [{', '.join(attrs)}];\n{source[end:]}"


def _svg_fitted(svg, fit):
    """The SVG with its page size set to fit the box, in px, its viewBox left as drawn: the viewer
    scales exactly (Graphviz's own `size` rounds its scale to two digits and crops a few pixels)."""
    text = svg.decode("utf-8")
    view_box = re.search(r'viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"', text)
    factor = fit_factor((float(view_box.group(3)), float(view_box.group(4))), fit)
    width, height = (float(view_box.group(i)) * factor for i in (3, 4))
    text = re.sub(r'<svg width="[\d.]+pt" height="[\d.]+pt"', f'<svg width="{width:.2f}px" height="{height:.2f}px"', text, count=1)
    return text.encode("utf-8")


def measure(source):
    """(width, height) of the whole picture at its natural size in points (pad included), and the
    size in points of the smallest text drawn in it, from Graphviz's layout."""
    laid_out = json.loads(run_in_model_order(_with_graph_attrs(source, ["dpi=72"]), "json", timeout=120))
    x0, y0, x1, y1 = (float(v) for v in laid_out["bb"].split(","))
    sizes = [op["size"] for obj in [laid_out, *laid_out.get("objects", ()), *laid_out.get("edges", ())]
             for key, ops in obj.items() if key.startswith("_") and key.endswith("draw_")
             for op in ops if op.get("op") == "F"]
    pad = 2 * PAD * 72
    return (x1 - x0 + pad, y1 - y0 + pad), min(sizes, default=0.0)


def fit_factor(natural, fit):
    """How much a picture of `natural` size (points) is scaled to fit `fit` (px per point)."""
    return min(fit[0] / natural[0], fit[1] / natural[1])


def _bad_format(fmt):
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _fmt(x):
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _record_text(text):
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def _node(n, th, scale, sizes, indent):
    fill_rgb = fill_of(n, scale) if scale is not None else None
    fill = hex_colour(fill_rgb) if fill_rgb is not None else None
    attrs = {}
    if n.kind == "value":
        fields = [_record_text(n.label), f"data {_fmt(n.data)}", f"grad {_fmt(n.grad)}"]
        body = " | ".join(fields)
        # Braces turn a record's fields across the rank direction: in LR they make micrograd's
        # strip op | data | grad, in TB a narrow stack, so a rank of many values stays readable.
        attrs["shape"] = "record"
        attrs["label"] = f"{{ {body} }}"
        attrs["fillcolor"] = fill or th.node_fill
    else:
        attrs["shape"] = "box3d" if n.kind == "vector" else "box"
        attrs["style"] = "filled" if n.kind == "vector" else "filled,rounded"
        attrs["label"] = _group_label(n, th.one_line)
        attrs["fillcolor"] = fill or th.group_fill
    attrs["fontcolor"] = hex_colour(text_rgb_on(fill_rgb)) if fill_rgb is not None else th.text
    if scale is not None and n.id in scale.unreached:
        attrs["style"] = attrs.get("style", "filled") + ",dashed"
    if sizes and n.id in sizes:
        attrs["width"], attrs["height"] = (f"{x:.4f}" for x in sizes[n.id])
        attrs["fixedsize"] = "true"
    if n.nonfinite:
        attrs["color"] = th.alarm
        attrs["penwidth"] = f"{3 * th.penwidth:g}"
    if n.kind == "value" or n.op == "sum":
        attrs["tooltip"] = f"{n.scope} · node {n.node}"
    else:
        attrs["tooltip"] = n.id
    text = ", ".join(f"{k}={_attr(k, v)}" for k, v in attrs.items())
    return f"{indent}{quote(n.id)} [{text}];"


def _group_label(n, one_line):
    """The box text the app shows too (core/views/rendered.box_text), on one line or stacked."""
    return (" · " if one_line else "\\n").join(box_text(n))


def _attr(key, value):
    if key == "label" and isinstance(value, str) and "\\n" in value:
        return '"' + value.replace('"', '\\"') + '"'
    return quote(value)


def _cluster(c, children, members, runs, rankdir, th, scale, sizes, out, indent):
    out.append(f"{indent}subgraph {quote('cluster_' + c.id)} {{")
    label = c.label
    if "#" in c.id and ": " in label:
        label = label.split(": ", 1)[1]  # a vector inside its scope's box: the scope is named already
    style = "rounded,filled,dashed" if c.kind != "group" else "rounded,filled"
    out.append(
        f"{indent}  graph [label={quote(label)}, style={quote(style)}, fillcolor={quote(th.cluster_fill)}, "
        f"color={quote(th.cluster_border)}, fontcolor={quote(th.faint_text)}, fontsize={th.small_size:g}, "
        f"labeljust=l, tooltip={quote(c.id)}];"
    )
    for n in members.get(c.id, []):
        out.append(_node(n, th, scale, sizes, indent + "  "))
    for child in children.get(c.id, []):
        _cluster(child, children, members, runs, rankdir, th, scale, sizes, out, indent + "  ")
    out.extend(order_lines(runs.get(c.id, []), rankdir, indent + "  "))
    out.append(f"{indent}}}")


def _edge_attrs(e, th, label_key):
    """Attributes of an edge; label_key: `label` or `xlabel` for its local gradient, or None."""
    attrs = []
    if e.count > 1:
        attrs.append(f"penwidth={th.penwidth * (1 + 0.5 * math.log10(e.count)):.2f}")
    if label_key and e.local_grad is not None:
        attrs.append(f"{label_key}={quote(_short(e.local_grad))}")
    return f" [{', '.join(attrs)}]" if attrs else ""


def _short(x):
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}"
