"""A box in the window says what the same box says in an exported diagram: the same name, size and `param` prefix."""
import re

import pytest

pytest.importorskip("PyQt6")

from core.engine.config import preset  # noqa: E402
from core.engine.train import Trainer  # noqa: E402
from core.views.export import to_dot  # noqa: E402
from core.views.layout import Box  # noqa: E402
from core.views.view import View  # noqa: E402
from microgpt_viz.app.graph.items import NodeItem  # noqa: E402

DOCS = ["emma", "olga", "ivan", "bo", "noah"]


@pytest.fixture(scope="module")
def rendered():
    trace = Trainer(DOCS, preset("original")).record("emma")
    return View.for_token(trace, 3).render()


def exported_lines(dot, node_id):
    line = next(l for l in dot.splitlines() if l.strip().startswith(f'"{node_id}" ['))
    return re.search(r'label="((?:[^"\\]|\\.)*)"', line).group(1).split("\\n")


def window_lines(qapp, node):
    item = NodeItem(node, Box(0.0, 0.0, 200.0, 60.0))
    return [text.text() for text in item.texts]


def test_every_group_box_reads_the_same_in_the_window_and_in_the_export(qapp, rendered):
    dot = to_dot(rendered, "light")
    groups = [n for n in rendered.nodes if n.kind != "value"]
    assert len(groups) > 20
    for n in groups:
        assert window_lines(qapp, n) == exported_lines(dot, n.id), n.id


def test_q_reads_as_a_16_value_vector_in_the_window(qapp, rendered):
    q = rendered.node("pos3/layer0/attn/q")
    assert window_lines(qapp, q) == ["q", f"16 values · {q.ops} ops"]


def test_the_parameter_and_the_block_named_lm_head_read_apart_in_the_window(qapp, rendered):
    matrix = window_lines(qapp, rendered.node("params/lm_head"))
    block = window_lines(qapp, rendered.node("pos3/lm_head"))
    assert matrix[0] == "param lm_head" and block[0] == "lm_head"
