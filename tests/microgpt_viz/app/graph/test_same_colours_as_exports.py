"""The window and an exported diagram colour the same node the same way, with the same legend words."""
import re

import pytest

pytest.importorskip("PyQt6")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from core.views.export import to_dot  # noqa: E402
from core.views.export_style import MODE_OF  # noqa: E402
from core.views.view import View  # noqa: E402
from microgpt_viz.app.graph.node_colours import node_fills  # noqa: E402

DOCS = ["emma", "olga", "ivan", "bo", "noah"]


@pytest.fixture(scope="module")
def trace():
    return Trainer(DOCS, preset("original")).record("emma")


def exported_fill(dot, node_id):
    line = next(line for line in dot.splitlines() if line.strip().startswith(f'"{node_id}" ['))
    return re.search(r'fillcolor="(#[0-9a-f]{6})"', line).group(1)


def views(trace):
    yield View.for_token(trace, 1, level="scalar").focus("pos1/layer0/attn/head0")  # single values
    yield View.for_token(trace, 2)  # modules: coloured by the largest magnitude inside
    yield View(trace, level="vector")


@pytest.mark.parametrize("color_by", ["grad", "absgrad", "data"])
def test_every_node_gets_the_same_fill_in_the_window_and_in_the_export(trace, color_by):
    mode = MODE_OF[color_by]
    compared = set()
    for view in views(trace):
        rendered = view.render()
        fills, scale = node_fills(rendered, mode)
        dot = to_dot(rendered, "light", color_by=color_by)
        assert all(line in dot for line in scale.legend_lines())  # the export's heading says what the window's legend says
        for n in rendered.nodes:
            window_fill = fills[n.id][0].name()
            assert window_fill == exported_fill(dot, n.id), (color_by, n.id)
            compared.add(window_fill)
    # the comparison covers a real spread of colours, not one shared default
    assert len(compared) > 10
