"""Slide-ready diagrams: whole SVGs, fonts that exist, pictures fitted into a box, and replay frames
that tell a box backward has not reached from one it reached with a small gradient."""
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from core.debug.replay import BackwardReplay, describe_position, regraded, trace_at, unreached_boxes
from core.engine.config import preset
from core.engine.train import Trainer
from core.views.colour_scale import UNREACHED, fill_of, hex_colour
from core.views.export import colour_scale, measure, render_diagram, to_dot
from core.views.export_replay import replay_sources
from core.views.export_style import THEME_NAMES, theme
from core.views.layout import dot_path
from core.views.view import View
from tests.core.views.test_export_replay import fills, heading, png_size

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def trace(docs):
    trainer = Trainer(docs, preset("latest"))
    trainer.step()  # gradients reach every block
    return trainer.record("emma")


def head_view(trace):
    return View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head2").render()


def cone_view(trace):
    return View.for_token(trace, 2).render()


def transformed_background(svg_bytes):
    """(viewBox, the page's background polygon in viewBox units), read as an SVG viewer reads them."""
    root = ElementTree.fromstring(svg_bytes)
    view_box = [float(v) for v in root.get("viewBox").split()]
    group = root.find(f"{SVG}g")
    transform = group.get("transform")
    scale = [float(v) for v in re.search(r"scale\(([-\d.]+)[ ,]*([-\d.]+)?\)", transform).groups(default="nan")]
    sx, sy = scale[0], scale[1] if not np.isnan(scale[1]) else scale[0]
    tx, ty = (float(v) for v in re.search(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", transform).groups())
    polygon = group.find(f"{SVG}polygon")
    points = [tuple(float(c) for c in p.split(",")) for p in polygon.get("points").split()]
    # SVG applies the listed transforms right to left: translate first, then scale
    return view_box, [((x + tx) * sx, (y + ty) * sy) for x, y in points]


@needs_dot
@pytest.mark.parametrize("make_view", [head_view, cone_view])
def test_every_svg_is_drawn_whole_inside_its_view_box(trace, make_view):
    svg = render_diagram(to_dot(make_view(trace), "light", "TB", "grad", title="t"), "svg")
    (x0, y0, width, height), corners = transformed_background(svg)
    for x, y in corners:
        assert x0 - 0.5 <= x <= x0 + width + 0.5 and y0 - 0.5 <= y <= y0 + height + 0.5, (x, y, width, height)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    # and it fills the view box: no strip of it left empty
    assert max(xs) - min(xs) == pytest.approx(width, abs=1) and max(ys) - min(ys) == pytest.approx(height, abs=1)
    root = ElementTree.fromstring(svg)
    assert float(root.get("width").removesuffix("pt")) == pytest.approx(width, abs=1)  # 1 unit = 1 pt


@needs_dot
def test_fonts_name_a_generic_family_and_cairo_finds_a_real_one(trace):
    source = to_dot(cone_view(trace), "slides", title="t")
    svg = render_diagram(source, "svg").decode("utf-8")
    families = set(re.findall(r'font-family="([^"]+)"', svg))
    assert families and all(f.split(",")[-1] == "sans-serif" for f in families)
    verbose = subprocess.run([dot_path(), "-v", "-Tpng", "-o", "/dev/null"], input=source.encode(),
                             capture_output=True).stderr.decode()
    resolved = [line for line in verbose.splitlines() if theme("slides").font in line and "resolved to" in line]
    assert resolved
    for line in resolved:
        font_file = line.rsplit(" ", 1)[-1]
        assert Path(font_file).is_file(), line


@needs_dot
@pytest.mark.parametrize("fit", [(640, 360), (300, 900), (5000, 5000)])
def test_a_png_fitted_into_a_box_fills_it_on_one_side(trace, fit):
    source = to_dot(cone_view(trace), "light", title="t")
    width, height = png_size(render_diagram(source, "png", fit=fit))
    assert width <= fit[0] and height <= fit[1]
    assert width >= fit[0] - 2 or height >= fit[1] - 2  # scaled up or down until one side touches
    natural, _ = measure(source)
    assert width / height == pytest.approx(natural[0] / natural[1], rel=0.02)  # its aspect kept


@needs_dot
def test_a_fitted_svg_says_its_size_in_pixels(trace):
    svg = render_diagram(to_dot(head_view(trace), "light", title="t"), "svg", fit=(1920, 1080)).decode()
    width, height = (float(v) for v in re.search(r'<svg width="([\d.]+)px" height="([\d.]+)px"', svg).groups())
    assert width <= 1920 and height <= 1080 and (width >= 1919.9 or height >= 1079.9)
    (x0, y0, box_width, box_height), corners = transformed_background(svg.encode())
    assert width / height == pytest.approx(box_width / box_height, rel=1e-3)  # scaled alike both ways
    for x, y in corners:  # the whole drawing in the view box, which the viewer maps onto width x height
        assert x0 - 0.5 <= x <= x0 + box_width + 0.5 and y0 - 0.5 <= y <= y0 + box_height + 0.5


@needs_dot
def test_measure_finds_the_smallest_text_and_the_natural_size(trace):
    source = to_dot(head_view(trace), "light", title="t")
    natural, smallest = measure(source)
    assert smallest == theme("light").small_size  # edge labels and cluster titles
    root = ElementTree.fromstring(render_diagram(source, "svg"))
    assert natural == pytest.approx(tuple(float(v) for v in root.get("viewBox").split()[2:]), abs=0.5)


@pytest.fixture(scope="module")
def middle_frame(trace):
    """The head's scalar view at a position of backward where some boxes have not been reached and
    some were reached with a grad below the colour scale's last decade (it looks like 0)."""
    rendered = head_view(trace)
    floor = colour_scale(rendered, "absgrad").decade_marks()[0]
    members = np.unique(np.concatenate([n.members for n in rendered.nodes]))
    for k in BackwardReplay(trace).frames(40, members):
        unreached = unreached_boxes(rendered, trace, k)
        frame = regraded(rendered, trace_at(trace, k))
        if unreached and any(n.id not in unreached and n.max_abs_grad < floor for n in frame.nodes):
            return rendered, k
    pytest.fail("no frame of the head's backward holds both kinds of box")


def test_reached_and_unreached_boxes_follow_backward(trace, middle_frame):
    rendered, k = middle_frame
    replay = BackwardReplay(trace)
    assert replay.reached(0).sum() == 1 and replay.reached(0)[trace.loss_node]
    assert replay.reached(trace.num_nodes).sum() > trace.num_nodes // 2
    assert unreached_boxes(rendered, trace, trace.num_nodes) == frozenset()
    unreached = unreached_boxes(rendered, trace, k)
    frame = regraded(rendered, trace_at(trace, k))
    assert 0 < len(unreached) < len(rendered.nodes)
    reached = replay.reached(k)
    for n in frame.nodes:
        assert (n.id in unreached) == (not reached[n.members].any())
        if n.id in unreached:
            assert n.max_abs_grad == 0  # nothing has arrived


@needs_dot
def test_a_middle_frame_tells_not_reached_from_reached_small(trace, middle_frame):
    rendered, k = middle_frame
    [source] = replay_sources(rendered, trace, [k], "light", "TB", "absgrad", "t")
    unreached = unreached_boxes(rendered, trace, k)
    frame = regraded(rendered, trace_at(trace, k))
    scale = colour_scale(rendered, "absgrad")
    # reached, with a grad below the scale's last decade: on the magnitude scale it is "0"
    smallest_reached = min((n for n in frame.nodes if n.id not in unreached), key=lambda n: n.max_abs_grad)
    assert smallest_reached.max_abs_grad < scale.decade_marks()[0]
    drawn = fills(source)
    assert drawn[smallest_reached.id] == hex_colour(fill_of(smallest_reached, scale))
    for box in unreached:
        assert drawn[box] == hex_colour(UNREACHED) != drawn[smallest_reached.id]
        assert re.search(rf'"{re.escape(box)}" \[[^\n]*style="[^"]*dashed', source)
    lines = heading(source)
    legend = scale.legend_lines()
    assert lines[-1 - len(legend):-1] == legend and "pale yellow 0" in legend[0]  # reached: yellow to brown
    assert not any("blue" in line for line in legend)  # |grad| fills show no sign
    assert "not reached" in lines[-1] and "grey" in lines[-1]


def test_the_legend_names_the_decades_of_its_log_scale(trace):
    scale = colour_scale(cone_view(trace), "grad")
    marks = scale.decade_marks()
    assert len(marks) == scale.decades + 1 and marks[-1] == scale.top
    assert np.allclose(np.diff(np.log10(marks)), 1.0)
    line = scale.legend_line()
    for mark in marks:
        assert f"{mark:.1e}" in line or f"{mark:.2g}" in line


def test_frame_headings_have_no_padding(trace):
    n = trace.num_nodes
    for k in (0, 7, n // 2, n):
        text = describe_position(trace, k)
        assert "( " not in text and "  " not in text, text
        assert f"backward replay: {k} of {n} nodes visited ({100 * k / n:.1f}%)" in text


@needs_dot
@pytest.mark.parametrize("theme_name", THEME_NAMES)
def test_png_keeps_its_resolution_while_svg_is_drawn_at_72_dpi(trace, theme_name):
    source = to_dot(cone_view(trace), theme_name, title="t")
    natural, _ = measure(source)
    width, height = png_size(render_diagram(source, "png"))
    assert width == pytest.approx(natural[0] * 96 / 72, abs=2) and height == pytest.approx(natural[1] * 96 / 72, abs=2)
